"""The scope a call was made under, for ``api_call_log.scope``: read from the source declarations (:data:`SOURCES`).

A declared endpoint called under declared scopes gets their names, comma-separated (``user/info``:
``user.info.basic,user.info.profile,user.info.stats``; ``report/integrated/get``: ``Reporting``). A declared
endpoint that no scope lists needs none and gets :data:`NO_SCOPE`: the OAuth ``oauth/token`` and ``oauth/revoke``
calls, which the app makes with its client key and secret. So do alert webhooks (source ``webhook``, not a
TikTok source: the URL itself is the credential). An endpoint no declaration names gets ``None``: a call the
declarations do not cover, which the tests look for.
"""

from __future__ import annotations

import re
from functools import cache

from tiktok_pipeline.governance.sources import SOURCES

NO_SCOPE = "none"
"""``api_call_log.scope`` of a call that needs no OAuth scope or permission (token calls, webhooks)."""
_VERSION = re.compile(r"v\d+(\.\d+)*|20\d{4}")
"""A version segment: ``v2``, ``v1.3``, or TikTok Shop's ``YYYYMM`` (``/order/202309/orders/search``)."""
WEBHOOK_SOURCE = "webhook"
"""The ``source`` of alert deliveries (Slack, Teams): not a declared TikTok source, and scope-less."""


def declared_endpoint(source: str, path: str) -> str | None:
    """The declared endpoint of ``source`` that ``path`` calls: what follows the path's version segment
    (``/open_api/v1.3/ad/get/`` → ``ad/get``, ``/v2/video/query/`` → ``video/query``, never
    ``/v2/research/video/query/``), or None."""
    declaration = SOURCES.get(source)
    parts = path.strip("/").split("/")
    version = next((i for i, part in enumerate(parts) if _VERSION.fullmatch(part)), None)
    if declaration is None or version is None:
        return None
    called = "/".join(parts[version + 1 :])
    declared = {endpoint for limit in declaration.rate_limits for endpoint in limit.endpoints}
    return called if called in declared else None


@cache
def call_scope(source: str, path: str) -> str | None:
    """The scopes a call of ``source`` to ``path`` is made under (see the module), or None when undeclared."""
    if source == WEBHOOK_SOURCE:
        return NO_SCOPE
    endpoint = declared_endpoint(source, path)
    if endpoint is None:
        return None
    names = [scope.name for scope in SOURCES[source].scopes if endpoint in scope.endpoints]
    return ",".join(names) if names else NO_SCOPE
