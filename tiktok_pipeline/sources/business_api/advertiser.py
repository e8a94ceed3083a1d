"""The advertiser's time zone, from ``advertiser/info``: what report dates and ``stat_time_hour`` are in.

TikTok reports an ad account's hours and dates in the account's own time zone. ``advertiser/info``
(``advertiser_ids`` as a JSON array) answers two fields about it: ``timezone``, "the time zone including
GMT offset" (e.g. ``Etc/GMT+5``: a fixed offset, no DST), and ``display_timezone``, the region's IANA name
(e.g. ``America/New_York``, with its DST rules). The pipeline takes ``display_timezone`` when it is an IANA
zone, else ``timezone`` (saying that DST changes will not be followed), else fails naming both values;
``TIKTOK_ADVERTISER_TIMEZONE``, when set, overrides the answer without asking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ADVERTISER_ENDPOINT = "advertiser/info"
ZONE_FIELDS = ("advertiser_id", "timezone", "display_timezone")
OVERRIDE_VARIABLE = "TIKTOK_ADVERTISER_TIMEZONE"


@dataclass(frozen=True)
class AdvertiserZone:
    """The zone reports are read in, where it came from, and anything a reader should know about it."""

    name: str
    source: str
    note: str = ""

    def describe(self) -> str:
        """One line for logs and metadata: ``America/New_York (advertiser/info display_timezone)``."""
        return f"{self.name} ({self.source})" + (f": {self.note}" if self.note else "")


def advertiser_params(advertiser_id: str) -> dict[str, Any]:
    """Query of ``advertiser/info`` for one advertiser's zone fields."""
    return {"advertiser_ids": [advertiser_id], "fields": list(ZONE_FIELDS)}


def is_zone(name: Any) -> TypeGuard[str]:
    """Whether ``name`` is an IANA time zone this machine knows."""
    if not isinstance(name, str) or not name.strip():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def overridden(name: str) -> AdvertiserZone:
    """The zone set by ``TIKTOK_ADVERTISER_TIMEZONE``: advertiser/info is not asked."""
    return AdvertiserZone(name, OVERRIDE_VARIABLE, "overrides the account's zone from advertiser/info (not asked)")


def zone_from_answer(data: Any, advertiser_id: str) -> AdvertiserZone:
    """The zone of ``advertiser_id`` in an ``advertiser/info`` answer's ``data``; ValueError naming the field."""
    items = data.get("list") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError("advertiser/info data.list: not a list")
    record = next(
        (i for i in items if isinstance(i, dict) and str(i.get("advertiser_id")) == advertiser_id),
        None,
    )
    if record is None:
        raise ValueError(f"advertiser/info data.list: no record for advertiser_id {advertiser_id}")
    display, fixed = record.get("display_timezone"), record.get("timezone")
    if is_zone(display):
        note = "" if fixed in (None, display) else f"timezone {fixed!r} not used (a fixed offset)"
        return AdvertiserZone(display, f"{ADVERTISER_ENDPOINT} display_timezone", note)
    if is_zone(fixed):
        return AdvertiserZone(
            fixed,
            f"{ADVERTISER_ENDPOINT} timezone",
            f"display_timezone {display!r} is not an IANA zone; a fixed offset does not follow DST changes:"
            f" set {OVERRIDE_VARIABLE} to the account's region",
        )
    raise ValueError(
        f"advertiser/info display_timezone {display!r} and timezone {fixed!r}: neither is an IANA time zone;"
        f" set {OVERRIDE_VARIABLE}"
    )
