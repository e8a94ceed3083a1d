"""The client of TikTok's API for Business (``/open_api/v1.3/``): envelope and error codes, over the HTTP layer.

The API answers errors as **HTTP 200 with a non-zero ``code``** in ``{"code", "message",
"request_id", "data"}``. Every code the client knows is in :data:`.codes.CODES`, with what it does and the
source it rests on; a code in no source is *unknown* and fails at once, loudly, naming the code and
TikTok's ``request_id`` (retrying a code nobody has seen would guess; it is not lost: callers keep
their work for a later run). Answers without an envelope (a gateway's HTML page, 429/5xx) are retried
when the request may be resent. Every call returns a :class:`BusinessCall` holding the raw answer, so
callers can land it before parsing; failures raise :class:`BusinessApiError` carrying the code and
TikTok's ``request_id``. Retries, backoff and ``Retry-After`` are the HTTP layer's (:mod:`..http`), and so is
the limiter every attempt takes a slot of first: the app's requests-per-second tier, shared by every endpoint
and every client of the host in the process (:mod:`.ratelimit`).

A request that is **not** to be resent blindly (``retry_timeouts=False``: the Events API) and got no
answer, or got a 5xx *without* an envelope (a gateway that gave up while the backend may have processed
it), fails at once as ``ambiguous``: whether TikTok processed it is unknown. An envelope code is always an
answer from TikTok itself, so retrying it (``retry`` codes) never duplicates anything.
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

from tiktok_pipeline.sources.business_api.codes import (
    CODES,
    RETRYABLE_HTTP,
    SUCCESS_CODES,
    TIMEOUT_CODE,
    is_known,
    is_retryable,
)
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


def _envelope(payload: Any) -> BusinessEnvelope | None:
    try:
        return BusinessEnvelope.model_validate(payload)
    except ValidationError:
        return None


def _gateway_failure(response: httpx.Response, envelope: BusinessEnvelope | None) -> bool:
    """A 5xx without an envelope: something in front of TikTok gave up, perhaps after passing the request on."""
    return envelope is None and response.status_code >= 500


def _classifier(resend: bool) -> Callable[[httpx.Response], bool]:
    """The classifier given to the HTTP layer: retryable envelope codes, or 429/5xx without an envelope; a 5xx
    without an envelope only when the request may be resent (``resend``), else it may have been processed."""

    def retryable(response: httpx.Response) -> bool:
        envelope = _envelope(decode_body(response)[0])
        if envelope is not None:
            return is_retryable(envelope.code)
        return response.status_code in RETRYABLE_HTTP and (resend or not _gateway_failure(response, None))

    return retryable


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

    def __init__(
        self, message: str, *, call: BusinessCall, code: int | None, retryable: bool, ambiguous: bool = False
    ) -> None:
        super().__init__(message)
        self.call = call
        self.code = code
        self.retryable = retryable
        self.request_id = call.request_id
        self._ambiguous = ambiguous

    @property
    def ambiguous(self) -> bool:
        """No answer from TikTok for the last attempt (no answer at all, or a gateway's 5xx page for a request that
        is not resent blindly): the request may or may not have been processed."""
        return self.code == TIMEOUT_CODE or self._ambiguous

    @property
    def unknown(self) -> bool:
        """TikTok answered with a code in no source (:data:`CODES`)."""
        return self.code is not None and self.code != TIMEOUT_CODE and not is_known(self.code)


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
            source="business_reporting",
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
            retryable=_classifier(retry_timeouts),
            idempotent=retry_timeouts,
            limit_key=APP_LIMIT_KEY,
            as_of=as_of,
            name=f"{method} {endpoint}",
            on_attempt=lambda attempt: self._observe(call, attempt),
        )
        call.attempts = len(exchange.attempts)
        call.latency_ms = (time.perf_counter() - started) * 1000
        self.stats["retries"] += call.attempts - 1
        if exchange.answered and call.code in SUCCESS_CODES:
            return call
        if exchange.exhausted:
            self._count_stop(exchange)
            call.gave_up = exchange.stop
            return self._fail(call, retryable=True, suffix=f" ({exchange.gave_up})")
        response = exchange.response
        if response is not None and not retry_timeouts and _gateway_failure(response, _envelope(call.payload)):
            return self._fail(call, retryable=True, ambiguous=True, suffix=" (not resent: it may have been processed)")
        # unanswered and not resent (ambiguous): retryable; refused (a fatal or unknown code, no envelope): not
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
        if envelope.code in SUCCESS_CODES:
            call.error = None
            return
        rule = CODES.get(envelope.code)
        hint = rule.meaning if rule else "unknown code: in no source the client rests on, so not retried"
        label = "code" if rule else "unknown code"
        call.error = f"{label} {envelope.code}: {envelope.message} ({hint})"
        if attempt.retryable:
            self.stats["throttled" if envelope.code == 40100 else "server_errors"] += 1
        elif rule is None:
            self.stats["unknown_codes"] += 1

    def _fail(self, call: BusinessCall, *, retryable: bool, ambiguous: bool = False, suffix: str = "") -> BusinessCall:
        call.error = self._http.redact(call.error or "")
        message = f"{call.method} {call.endpoint} failed: {call.error}, request_id={call.request_id}{suffix}"
        unknown = call.code is not None and call.code != TIMEOUT_CODE and not is_known(call.code)
        log.log(logging.ERROR if unknown else logging.WARNING, message)
        raise BusinessApiError(message, call=call, code=call.code, retryable=retryable, ambiguous=ambiguous)
