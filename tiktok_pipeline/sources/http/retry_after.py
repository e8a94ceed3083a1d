"""``Retry-After`` (RFC 9110 §10.2.3) in both forms, delta-seconds and HTTP-date, optionally capped."""

from __future__ import annotations

import math
from datetime import UTC
from email.utils import parsedate_to_datetime

import httpx


def _http_date(value: str) -> float | None:
    """Epoch seconds of an HTTP-date (IMF-fixdate, RFC 850 or asctime form); None when it is not one."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # HTTP-dates are always GMT
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_retry_after(value: str | None, *, now: float, cap: float | None) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait, at most ``cap`` (None: as asked).

    ``value`` is delta-seconds (``"120"``) or an HTTP-date (``"Wed, 21 Oct 2026 07:28:00 GMT"``, counted
    from ``now``, epoch seconds). None, so that the caller falls back to its backoff, when the value is
    absent, garbage, negative, not finite, or a date that is not in the future.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        at = _http_date(value)
        if at is None:
            return None
        seconds = at - now
        if seconds <= 0:
            return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds if cap is None else min(seconds, max(0.0, cap))


def retry_after_seconds(response: httpx.Response, *, now: float, cap: float | None) -> float | None:
    """:func:`parse_retry_after` of a response; an HTTP-date counts from the response's own ``Date`` when
    it has a valid one (no clock skew between server and client), else from ``now``."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    server_now = _http_date(response.headers.get("Date", "")) if response.headers.get("Date") else None
    return parse_retry_after(value, now=server_now if server_now is not None else now, cap=cap)
