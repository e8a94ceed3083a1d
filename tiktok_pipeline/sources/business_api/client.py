"""The client of TikTok's API for Business (``/open_api/v1.3/``): envelope and error codes, over the HTTP layer.

The API answers errors as **HTTP 200 with a non-zero ``code``** in ``{"code", "message",
"request_id", "data"}``. Codes are mapped to *retry* (rate limits, system errors) or *fail*
(bad token, permissions, parameters) in :data:`RETRYABLE_CODES` / :func:`is_retryable`.
Every call returns a :class:`BusinessCall` holding the raw answer, so callers can land it before
parsing; failures raise :class:`BusinessApiError` carrying the code and TikTok's ``request_id``.
Retries, backoff and ``Retry-After`` are the HTTP layer's (:mod:`..http`), and so is the limiter every attempt
takes a slot of first: the app's requests-per-second tier, shared by every endpoint and every client of the
host in the process (:mod:`.ratelimit`); a request that got no
answer is resent only when the caller allows it (``retry_timeouts``), else it fails as ``ambiguous``.
The access token travels only in the ``Access-Token`` header and never appears in a call record,
an error message or a log line.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from tiktok_pipeline.sources.business_api.ratelimit import (
    APP_LIMIT_KEY,
    DEFAULT_REQUESTS_PER_SECOND,
    shared_app_limiter,
)
from tiktok_pipeline.sources.http import Attempt, HttpSession, RetryPolicy, SessionClient
from tiktok_pipeline.sources.http.decode import decode_body
from tiktok_pipeline.sources.http.session import RequestHook

log = logging.getLogger(__name__)

API_PREFIX = "/open_api/v1.3"
RETRYABLE_CODES: dict[int, str] = {
    40100: "too many requests (app rate limit)",
    40133: "advertiser QPS limit",
    50000: "system error",
    50002: "system error",
}
"""Envelope codes worth retrying: throttling and TikTok-side errors. Every other non-zero code fails at once."""
FATAL_HINTS: dict[int, str] = {
    40105: "the access token is invalid or revoked: issue a new long-lived token in TikTok for Business",
    40001: "permission denied: check the token's advertiser access and the app's scopes",
    40002: "a parameter was refused: the request is wrong, retrying will not help",
}
RETRYABLE_HTTP = frozenset({429, 500, 502, 503, 504})
TIMEOUT_CODE = -1
"""``BusinessApiError.code`` when no answer came back (timeout or transport error)."""


def is_retryable(code: int) -> bool:
    """Whether an envelope ``code`` is worth another attempt."""
    return code in RETRYABLE_CODES


def _envelope(payload: Any) -> BusinessEnvelope | None:
    try:
        return BusinessEnvelope.model_validate(payload)
    except ValidationError:
        return None


def _retryable(response: httpx.Response) -> bool:
    """The classifier given to the HTTP layer: retryable envelope codes, or 429/5xx without an envelope."""
    envelope = _envelope(decode_body(response)[0])
    return response.status_code in RETRYABLE_HTTP if envelope is None else is_retryable(envelope.code)


class BusinessEnvelope(BaseModel):
    """The API for Business response envelope; ``data`` is endpoint-specific."""

    code: int
    message: str = ""
    request_id: str | None = None
    data: Any = None


@dataclass
class BusinessCall:
    """One logical request (after retries) and TikTok's raw answer; no credentials in it."""

    endpoint: str
    method: str
    params: dict[str, str]
    body: Any
    status: int | None = None
    payload: Any = None
    code: int | None = None
    request_id: str | None = None
    attempts: int = 0
    latency_ms: float = 0.0
    error: str | None = None
    attempt_codes: list[int | str] = field(default_factory=list)
    """Envelope code of every attempt, ``"http <status>"`` without an envelope, or ``"timeout"``."""
    gave_up: str | None = None
    """Why retrying stopped while the call still failed: ``attempts`` or ``retry_budget``."""

    @property
    def data(self) -> Any:
        """The envelope's ``data`` of a successful call."""
        return self.payload.get("data") if isinstance(self.payload, dict) else None

    def to_record(self) -> dict[str, Any]:
        """A JSON-serialisable record for the landing zone."""
        return {
            "endpoint": self.endpoint,
            "method": self.method,
            "params": self.params,
            "body": self.body,
            "status": self.status,
            "payload": self.payload,
            "code": self.code,
            "request_id": self.request_id,
            "attempts": self.attempts,
            "latency_ms": round(self.latency_ms, 3),
            "error": self.error,
            "attempt_codes": self.attempt_codes,
            "gave_up": self.gave_up,
        }


class BusinessApiError(RuntimeError):
    """TikTok refused a request (non-retryable code) or kept failing until retries ran out."""

    def __init__(self, message: str, *, call: BusinessCall, code: int | None, retryable: bool) -> None:
        super().__init__(message)
        self.call = call
        self.code = code
        self.retryable = retryable
        self.request_id = call.request_id

    @property
    def ambiguous(self) -> bool:
        """No answer came back for the last attempt: the request may or may not have been processed."""
        return self.code == TIMEOUT_CODE


class BusinessApiClient(SessionClient):
    """A client for ``https://business-api.tiktok.com`` (or the simulator serving the same paths)."""

    def __init__(
        self,
        base_url: str,
        *,
        access_token: SecretStr,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        requests_per_second: float | None = DEFAULT_REQUESTS_PER_SECOND,
        timeout_seconds: float = 30.0,
        request_hooks: Sequence[RequestHook] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``request_hooks``: httpx request hooks (the simulator's as-of header); ``requests_per_second``: the
        app's tier this client keeps to, with every other client of ``base_url`` in the process
        (:func:`.ratelimit.shared_app_limiter`); None sends unpaced (only to show what the host does then)."""
        self.base_url = base_url.rstrip("/")
        self._access_token = access_token
        self.stats: Counter[str] = Counter()
        self._http = HttpSession(
            self.base_url,
            retry=retry,
            limiter=None if requests_per_second is None else shared_app_limiter(self.base_url, requests_per_second),
            timeout_seconds=timeout_seconds,
            transport=transport,
            request_hooks=request_hooks,
            secrets=[access_token.get_secret_value()],
            sleep=sleep,
        )

    def get(self, endpoint: str, params: dict[str, Any], *, as_of: datetime | None = None) -> BusinessCall:
        """GET ``/open_api/v1.3/<endpoint>/``; lists and dicts in ``params`` are sent as JSON strings.

        ``as_of``: the instant the read stands for; only a simulator's session (its as-of hook) sends it.
        """
        encoded = {k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for k, v in params.items()}
        return self.call("GET", endpoint, params=encoded, as_of=as_of)

    def post(self, endpoint: str, body: dict[str, Any], *, retry_timeouts: bool = True) -> BusinessCall:
        """POST a JSON body. With ``retry_timeouts=False`` a timeout is raised (``ambiguous``) instead of resent."""
        return self.call("POST", endpoint, body=body, retry_timeouts=retry_timeouts)

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        retry_timeouts: bool = True,
        as_of: datetime | None = None,
    ) -> BusinessCall:
        """One logical call with retries; returns the successful call or raises :class:`BusinessApiError`."""
        endpoint = endpoint.strip("/")
        call = BusinessCall(endpoint, method, dict(params or {}), body)
        started = time.perf_counter()
        exchange = self._http.request(
            method,
            f"{API_PREFIX}/{endpoint}/",
            params=call.params or None,
            json=body,
            headers={"Access-Token": self._access_token.get_secret_value()},
            retryable=_retryable,
            idempotent=retry_timeouts,
            limit_key=APP_LIMIT_KEY,
            as_of=as_of,
            name=f"{method} {endpoint}",
            on_attempt=lambda attempt: self._observe(call, attempt),
        )
        call.attempts = len(exchange.attempts)
        call.latency_ms = (time.perf_counter() - started) * 1000
        self.stats["retries"] += call.attempts - 1
        if exchange.answered and call.code == 0:
            return call
        if exchange.exhausted:
            self._count_stop(exchange)
            call.gave_up = exchange.stop
            return self._fail(call, retryable=True, suffix=f" ({exchange.gave_up})")
        # unanswered and not resent (ambiguous): retryable; refused (a fatal code, no envelope): not
        return self._fail(call, retryable=not exchange.answered)

    def _observe(self, call: BusinessCall, attempt: Attempt) -> None:
        """Record one attempt in the call (as the landing record keeps it) and the client's stats."""
        lost, response = self._count(call.endpoint, attempt), attempt.response
        if lost is not None or response is None:
            call.attempt_codes.append(lost or "transport")
            call.code, call.status, call.payload = TIMEOUT_CODE, None, None
            call.error = f"no answer: {attempt.describe()}"
            return
        call.status = response.status_code
        call.payload, _ = decode_body(response)
        envelope = _envelope(call.payload)
        call.request_id = envelope.request_id if envelope else response.headers.get("x-tt-logid")
        if envelope is None:
            call.code = None
            call.attempt_codes.append(f"http {response.status_code}")
            call.error = f"HTTP {response.status_code} without an API envelope: {attempt.quote(200)!r}"
            if attempt.retryable:
                self.stats["throttled" if response.status_code == 429 else "server_errors"] += 1
            return
        call.code = envelope.code
        call.attempt_codes.append(envelope.code)
        if envelope.code == 0:
            call.error = None
            return
        hint = FATAL_HINTS.get(envelope.code) or RETRYABLE_CODES.get(envelope.code, "")
        call.error = f"code {envelope.code}: {envelope.message}" + (f" ({hint})" if hint else "")
        if attempt.retryable:
            self.stats["throttled" if envelope.code in (40100, 40133) else "server_errors"] += 1

    def _fail(self, call: BusinessCall, *, retryable: bool, suffix: str = "") -> BusinessCall:
        call.error = self._http.redact(call.error or "")
        message = f"{call.method} {call.endpoint} failed: {call.error}, request_id={call.request_id}{suffix}"
        log.warning(message)
        raise BusinessApiError(message, call=call, code=call.code, retryable=retryable)
