"""Schema versions of the API answers in the landing zone, so that a landed file re-parses whatever release reads it.

:func:`tiktok_pipeline.ingest.land.land` stamps every landed record with ``"schema": "<name>/<version>"``, where
``<name>`` is ``<source>.<kind>`` (the landing source's first segment, then the record's ``kind`` or its endpoint
with ``/`` as ``_``: ``display_api.video_query``, ``display_api.user_info``, ``business_api.report``) and
``<version>`` is :data:`RESPONSE_SCHEMAS`' for that name. A parser reads a record with the model of the record's
recorded version (:func:`pick`), so when TikTok changes an answer and the models gain a version 2, files landed
under version 1 keep their own model. Records landed before versions were recorded carry no ``schema``: they
are version 1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

RESPONSE_SCHEMAS: dict[str, int] = {
    "display_api.user_info": 1,
    "display_api.video_list": 1,
    "display_api.video_query": 1,
    "business_api.fetch": 1,
    "business_api.ads": 1,
    "business_api.report": 1,
    "analytics_provider.influencer_list": 1,
    "analytics_provider.video_list": 1,
    "tiktok_shop.orders": 1,
    "tiktok_shop.products": 1,
}
"""The current version of each landed answer's schema. Bump a name's version when the answer's shape changes and
give its parser a model for the new version (keeping the old one); a name not listed is at version 1."""
LEGACY_VERSION = 1
"""The version of a record landed before schema versions were recorded (no ``schema`` field)."""
_STAMP = re.compile(r"([a-z0-9_]+\.[a-z0-9_]+)/([1-9][0-9]{0,5})")

M = TypeVar("M")


class UnknownSchemaError(ValueError):
    """A landed record whose ``schema`` is malformed, or a version its parser has no model for."""


def schema_name(source: str, record: Mapping[str, Any]) -> str:
    """``<source>.<kind>`` of a landing record (``display_api`` + ``video/query`` → ``display_api.video_query``)."""
    kind = record.get("kind") or str(record.get("endpoint") or "unknown").strip("/")
    return f"{source.split('/')[0]}.{re.sub(r'[^a-z0-9_]', '_', str(kind).lower())}"


def stamp(source: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` with their ``schema`` (records that carry one keep it)."""
    stamped = []
    for record in records:
        if "schema" not in record:
            name = schema_name(source, record)
            record = {**record, "schema": f"{name}/{RESPONSE_SCHEMAS.get(name, LEGACY_VERSION)}"}
        stamped.append(record)
    return stamped


def record_version(record: Mapping[str, Any]) -> int:
    """The schema version a landed record holds: its ``schema``'s, or :data:`LEGACY_VERSION` without one.
    :class:`UnknownSchemaError` names the value when it is not ``<source>.<kind>/<version>``."""
    if "schema" not in record:
        return LEGACY_VERSION
    value = record["schema"]
    match = _STAMP.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        shown = repr(value)[:80]
        raise UnknownSchemaError(f"landing record field schema is {shown}, not <source>.<kind>/<version>")
    return int(match.group(2))


def pick(models: Mapping[int, M], record: Mapping[str, Any], what: str) -> M:
    """The model (or models) for the record's recorded version; :class:`UnknownSchemaError` naming ``what`` and
    the versions this release reads when there is none."""
    version = record_version(record)
    try:
        return models[version]
    except KeyError:
        known = ", ".join(str(v) for v in sorted(models))
        raise UnknownSchemaError(
            f"{what} was landed as schema version {version}, which this release cannot parse (it reads {known})"
        ) from None
