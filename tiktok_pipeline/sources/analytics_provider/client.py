"""The analytics provider's client, over the one HTTP layer (:mod:`tiktok_pipeline.sources.http`).

HTTP Basic credentials (the password is registered as a secret of the session: never logged or quoted), one
sliding-window limiter for the whole account from the source declaration, retries of HTTP 429/5xx, timeouts and
the provider's own rate-limit and system codes (it answers them with HTTP 200), and every call recorded in
``api_call_log`` with its purpose. Every call returns a :class:`ProviderCall` holding the raw answer, so callers
land it before parsing; a refusal raises :class:`ProviderApiError` naming the endpoint, the provider's code and
its ``request_id``.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from tiktok_pipeline.governance.rate_limits import provider_requests_per_minute
from tiktok_pipeline.sources.analytics_provider.models import Envelope
from tiktok_pipeline.sources.http import Attempt, HttpSession, RetryPolicy, SlidingWindowLimiter
from tiktok_pipeline.sources.http.calllog import call_context
from tiktok_pipeline.sources.http.decode import decode_body, escaped
from tiktok_pipeline.sources.http.session import RequestHook, SessionClient

SOURCE = "analytics_provider"
API_PREFIX = "/api/v2/"
RETRYABLE_CODES = frozenset({30003, 50000})
"""Provider codes worth another attempt: 30003 rate limited, 50000 system error (both with HTTP 200)."""
CODE_MEANINGS = {
    10001: "invalid credentials (check TIKTOK_PROVIDER_USERNAME and TIKTOK_PROVIDER_PASSWORD)",
    10002: "invalid parameter",
    10004: "no such endpoint",
    10005: "not found",
    30003: "rate limited",
    50000: "system error",
}
PURPOSES = {
    "influencer/list": "list covered creators",
    "influencer/detail": "creator profile",
    "video/list": "provider video counts",
    "video/detail": "provider video counts",
    "product/list": "provider products",
}
"""Why each provider endpoint is called (``api_call_log.purpose``)."""
ACCOUNT = "account"
"""The limiter's one key: the provider counts every request of the account together."""


@dataclass
class ProviderCall:
    """One logical request (after retries) and the provider's raw answer: the landing record's source."""

    endpoint: str
    params: dict[str, str]
    status: int | None = None
    payload: Any = None
    request_id: str | None = None
    code: int | None = None
    attempts: int = 0
    latency_ms: float = 0.0
    error: str | None = None
    attempt_statuses: list[int | str] = field(default_factory=list)
    body_error: str | None = None
    gave_up: str | None = None

    def to_record(self) -> dict[str, Any]:
        """A JSON-serialisable landing record (no credentials in it)."""
        return {
            "endpoint": self.endpoint,
            "params": self.params,
            "status": self.status,
            "payload": self.payload,
            "log_id": self.request_id,
            "code": self.code,
            "attempts": self.attempts,
            "latency_ms": round(self.latency_ms, 3),
            "error": self.error,
            "attempt_statuses": self.attempt_statuses,
            "body_error": self.body_error,
            "gave_up": self.gave_up,
        }


class ProviderApiError(RuntimeError):
    """The provider refused a request, or kept failing until retries ran out."""

    def __init__(self, message: str, *, call: ProviderCall, code: int | None = None) -> None:
        super().__init__(message)
        self.call, self.code = call, code


def _envelope(payload: Any) -> Envelope | None:
    try:
        return Envelope.model_validate(payload)
    except ValidationError:
        return None


def _retryable(response: httpx.Response) -> bool:
    if response.status_code == 429 or response.status_code >= 500:
        return True
    if response.status_code != 200:
        return False
    try:
        envelope = _envelope(response.json())
    except ValueError:
        return True  # a 200 that is not JSON: a gateway's page, worth another attempt
    return envelope is not None and envelope.code in RETRYABLE_CODES


class ProviderClient(SessionClient):
    """A client of the provider's ``/api/v2/`` bound to one host (the real one or the simulator)."""

    def __init__(
        self,
        base_url: str,
        *,
        username: str,
        password: SecretStr,
        transport: httpx.BaseTransport | None = None,
        limiter: SlidingWindowLimiter | None = None,
        retry: RetryPolicy | None = None,
        timeout_seconds: float = 20.0,
        request_hooks: Sequence[RequestHook] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        secret = password.get_secret_value()
        basic = base64.b64encode(f"{username}:{secret}".encode()).decode()
        self.stats: Counter[str] = Counter()
        self._auth = httpx.BasicAuth(username, secret)
        self._http = HttpSession(
            base_url.rstrip("/"),
            retry=retry,
            limiter=limiter or SlidingWindowLimiter(provider_requests_per_minute(None), 60.0),
            timeout_seconds=timeout_seconds,
            transport=transport,
            request_hooks=request_hooks,
            secrets=[s for s in (secret, basic) if s],
            sleep=sleep,
            source=SOURCE,
        )

    def call(self, endpoint: str, params: dict[str, str], *, as_of: datetime | None = None) -> ProviderCall:
        """``GET /api/v2/<endpoint>`` with retries; the answer's call, or :class:`ProviderApiError`.

        ``as_of``: the instant the observation stands for (a simulator answers as of it; the provider, now)."""
        call = ProviderCall(endpoint, dict(params))
        started = time.perf_counter()
        with call_context(purpose=PURPOSES.get(endpoint), subject=params.get("user_id")):
            exchange = self._http.request(
                "GET",
                API_PREFIX + endpoint,
                params=params,
                auth=self._auth,
                retryable=_retryable,
                limit_key=ACCOUNT,
                as_of=as_of,
                name=endpoint,
                on_attempt=lambda attempt: self._observe(call, attempt),
            )
        call.attempts = len(exchange.attempts)
        call.latency_ms = (time.perf_counter() - started) * 1000
        self.stats["retries"] += len(exchange.attempts) - 1
        if exchange.answered and call.status == 200 and call.code == 0:
            return call
        if exchange.exhausted:
            self._count_stop(exchange)
            call.gave_up = exchange.stop
            raise ProviderApiError(f"{self._describe(call)} ({exchange.gave_up})", call=call, code=call.code)
        raise ProviderApiError(self._describe(call), call=call, code=call.code)

    def _observe(self, call: ProviderCall, attempt: Attempt) -> None:
        lost, response = self._count(call.endpoint, attempt), attempt.response
        if lost is not None or response is None:
            call.attempt_statuses.append(lost or "transport")
            call.error = attempt.error_text()
            return
        call.status = response.status_code
        call.payload, call.body_error = decode_body(response)
        envelope = _envelope(call.payload) if call.body_error is None else None
        call.code = envelope.code if envelope else None
        call.request_id = escaped(attempt.redact(envelope.request_id)) if envelope and envelope.request_id else None
        call.attempt_statuses.append(response.status_code if call.code in (0, None) else f"code {call.code}")
        if response.status_code == 200 and call.code == 0:
            call.error = None
            return
        if call.body_error is not None:
            call.error = f"HTTP {response.status_code} undecodable body: {call.body_error}"
        elif envelope is None:
            call.error = f"HTTP {response.status_code} without the provider's envelope"
        else:
            meaning = CODE_MEANINGS.get(envelope.code, "unknown code")
            call.error = escaped(
                attempt.redact(f"HTTP {response.status_code} code {envelope.code} ({meaning}): {envelope.message}")
            )[:300]
        if call.code == 30003 or response.status_code == 429:
            self.stats["throttled"] += 1
        elif attempt.retryable:
            self.stats["server_errors"] += 1

    @staticmethod
    def _describe(call: ProviderCall) -> str:
        shown = {k: v for k, v in call.params.items() if k in ("user_id", "video_id", "cursor", "page_num")}
        return f"analytics_provider {call.endpoint} {shown} failed: {call.error}, request_id={call.request_id}"
