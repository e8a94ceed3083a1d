"""Response shapes of the Display API: the data envelope, its errors, OAuth errors, gateway pages."""

from __future__ import annotations

import itertools
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

import httpx

LOG_ID_HEADER = "x-tt-logid"
STATUS = {
    "access_token_invalid": 401,
    "scope_not_authorized": 401,
    "invalid_params": 400,
    "scope_permission_missed": 400,
    "rate_limit_exceeded": 429,
    "internal_error": 500,
}
GATEWAY_BODIES = {
    502: ("text/html", "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"),
    503: ("text/plain", "upstream connect error or disconnect/reset before headers. reset reason: overflow"),
}


class ApiError(Exception):
    """A Display API error: an envelope ``code`` (which fixes the HTTP status) and a message."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.headers = code, message, headers or {}


class LogIds:
    """Unique log ids shaped like TikTok's (``202206221854370101130062072500FFA2``): the UTC time as
    ``YYYYMMDDHHMMSS`` then 20 upper-case hex digits (here a serial and random bits)."""

    def __init__(self) -> None:
        self._serial = itertools.count(1)
        self._lock = threading.Lock()

    def next(self, now: float) -> str:
        """A fresh log id stamped with ``now`` (epoch seconds)."""
        with self._lock:
            serial = next(self._serial)
        stamp = datetime.fromtimestamp(now, UTC)
        return f"{stamp:%Y%m%d%H%M%S}{serial % 16**8:08X}{secrets.randbits(48):012X}"


def json_response(status: int, body: Any, log_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """A JSON response carrying ``log_id`` in the ``x-tt-logid`` header."""
    return httpx.Response(status, json=body, headers={LOG_ID_HEADER: log_id, **(headers or {})})


def ok(data: dict[str, Any], log_id: str) -> httpx.Response:
    """HTTP 200 with ``{"data": data, "error": {"code": "ok", ...}}``."""
    return json_response(200, {"data": data, "error": {"code": "ok", "message": "", "log_id": log_id}}, log_id)


def api_error(error: ApiError, log_id: str) -> httpx.Response:
    """The envelope of a failed call: empty ``data``, the error code's HTTP status."""
    body = {"data": {}, "error": {"code": error.code, "message": error.message, "log_id": log_id}}
    return json_response(STATUS[error.code], body, log_id, error.headers)


def oauth_error(error: str, description: str, log_id: str) -> httpx.Response:
    """OAuth's flat error body, with HTTP 200 as TikTok answers it (HohnerJulian/ResearchTikPy PR 28)."""
    return json_response(200, {"error": error, "error_description": description, "log_id": log_id}, log_id)


def gateway_error(status: int, log_id: str) -> httpx.Response:
    """A non-JSON 502/503 page, as a load balancer in front of the API would send."""
    content_type, text = GATEWAY_BODIES[status]
    return httpx.Response(status, text=text, headers={"content-type": content_type, LOG_ID_HEADER: log_id})
