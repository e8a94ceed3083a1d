"""The Display API client: OAuth tokens and the data endpoints, over the HTTP layer (:mod:`..http`).

Retries, backoff, ``Retry-After`` and the per-endpoint rate limit are the HTTP layer's; this module
decides what is retryable (429 and 5xx, timeouts, transport errors) and maps answers to TikTok's
errors. Every call returns an :class:`ApiCall` (:mod:`.calls`) holding the raw response body, so callers can land it
durably *before* parsing it. Errors raise :class:`TikTokApiError`, which names the endpoint and
creator and carries TikTok's ``log_id`` (and the raw call) for support tickets and landing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from tiktok_pipeline.governance.rate_limits import display_limit, display_requests_per_minute
from tiktok_pipeline.sources.display_api.calls import (
    ApiCall,
    MissingCredentialsError,
    ReauthorizationRequired,
    TikTokApiError,
)
from tiktok_pipeline.sources.display_api.models import Envelope
from tiktok_pipeline.sources.display_api.oauth import OAuthClient
from tiktok_pipeline.sources.display_api.tokens import TokenStore, utcnow
from tiktok_pipeline.sources.http import Attempt, HttpSession, RetryPolicy, SlidingWindowLimiter
from tiktok_pipeline.sources.http.calllog import call_context
from tiktok_pipeline.sources.http.decode import decode_body, escaped
from tiktok_pipeline.sources.http.session import RequestHook

__all__ = [
    "ApiCall",
    "DisplayApiClient",
    "MissingCredentialsError",
    "ReauthorizationRequired",
    "TikTokApiError",
    "simulator_code",
]  # the errors are re-exported: callers import them from here

SIMULATOR_CODE_PREFIX = "sim-code-"
REAUTHORIZE_DATA_CODES = frozenset({"scope_not_authorized"})
"""Data-call error codes only the creator can fix (by authorising again with the scopes the pipeline needs)."""


def simulator_code(username: str) -> str:
    """The authorization code the simulator grants ``username`` without a browser (``unattended_code``)."""
    return SIMULATOR_CODE_PREFIX + username


class _Bearer(httpx.Auth):
    """The creator's current access token, fetched (and refreshed when due) for every attempt."""

    def __init__(self, token: Callable[[], SecretStr]) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token().get_secret_value()}"
        yield request


PURPOSES = {"user/info": "creator profile", "video/list": "discover videos", "video/query": "refresh video counts"}
"""Why each Display API endpoint is called (``api_call_log.purpose``)."""


class DisplayApiClient(OAuthClient):
    """A Display API v2 client bound to one host (the real one or the simulator)."""

    def __init__(
        self,
        base_url: str,
        *,
        client_key: str,
        client_secret: SecretStr,
        token_store: TokenStore,
        transport: httpx.BaseTransport | None = None,
        limiter: SlidingWindowLimiter | None = None,
        retry: RetryPolicy | None = None,
        timeout_seconds: float = 20.0,
        request_hooks: Sequence[RequestHook] = (),
        unattended_code: Callable[[str], str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        """``request_hooks``: httpx request hooks (the simulator's as-of header); ``unattended_code``: how to
        obtain a creator's authorization code without the creator (only a simulator can: :func:`simulator_code`)."""
        self.base_url = base_url.rstrip("/")
        self.client_key = client_key
        self._client_secret = client_secret
        self.tokens = token_store
        self._unattended_code = unattended_code
        self._now = now
        self.stats: Counter[str] = Counter()
        self._http = HttpSession(
            self.base_url,
            retry=retry,
            limiter=limiter or SlidingWindowLimiter(display_requests_per_minute(None), display_limit().window_seconds),
            timeout_seconds=timeout_seconds,
            transport=transport,
            request_hooks=request_hooks,
            secrets=[client_secret.get_secret_value()],
            sleep=sleep,
            source="display_api",
        )

    # --- Data endpoints --------------------------------------------------------------------
    def call(
        self,
        username: str,
        endpoint: str,
        *,
        fields: tuple[str, ...],
        body: dict[str, Any] | None = None,
        as_of: datetime | None = None,
    ) -> ApiCall:
        """Call ``/v2/<endpoint>/`` for ``username`` with retries; raises :class:`TikTokApiError`.

        ``as_of``: the instant the observation stands for (a simulator answers as of it; TikTok, now). The
        retry budget covers the whole call, the resend after a token refresh included.
        """
        params = {"fields": ",".join(fields)}
        method = "GET" if body is None else "POST"
        call = ApiCall(endpoint, username, params, body, None, None, None, 0, 0.0)
        started = time.perf_counter()
        attempts, code, spent = 0, None, 0.0
        with call_context(subject=username, purpose=PURPOSES.get(endpoint)):
            for refreshed in (False, True):
                exchange = self._http.request(
                    method,
                    f"/v2/{endpoint}/",
                    params=params,
                    json=body,
                    auth=_Bearer(lambda: self.access_token(username)),
                    limit_key=endpoint,
                    as_of=as_of,
                    max_attempts=max(1, self.retry.max_attempts - attempts),
                    retry_seconds=self.retry.max_retry_seconds - spent,
                    name=endpoint,
                    on_attempt=lambda attempt: self._observe(call, attempt),
                )
                attempts += len(exchange.attempts)
                spent += exchange.seconds
                self.stats["retries"] += len(exchange.attempts) - 1
                envelope = self._envelope(call.payload) if exchange.answered else None
                code = envelope.error.code if envelope else None
                if exchange.answered and call.status == 200 and code == "ok":
                    self._finish(call, attempts, started)
                    return call
                if exchange.answered and code in REAUTHORIZE_DATA_CODES:
                    self._finish(call, attempts, started)
                    self.stats["reauthorisation_required"] += 1
                    message = envelope.error.message if envelope else ""
                    raise ReauthorizationRequired(
                        username, code, f"{endpoint}: {escaped(message)[:300]}", log_id=call.log_id, call=call
                    )
                if not (exchange.answered and call.status == 401 and code == "access_token_invalid") or refreshed:
                    break
                try:
                    self.refresh(username)  # the token was refused before its expiry: refresh once and resend
                except ReauthorizationRequired as exc:  # e.g. the creator revoked access
                    self._finish(call, attempts, started)
                    exc.call = call
                    raise
        self._finish(call, attempts, started)
        if exchange.exhausted:
            self._count_stop(exchange)
            call.gave_up = exchange.stop
            why = exchange.gave_up if exchange.stop == "retry_budget" else f"gave up after {attempts} attempts"
            raise TikTokApiError(self._describe(call) + f" ({why})", call=call)
        raise TikTokApiError(self._describe(call), call=call, code=code)

    def _observe(self, call: ApiCall, attempt: Attempt) -> None:
        """Record one attempt in the call (as the landing record keeps it) and the client's stats."""
        lost, response = self._count(call.endpoint, attempt), attempt.response
        if lost is not None or response is None:
            call.attempt_statuses.append(lost or "transport")
            call.error = attempt.error_text()
            return
        call.attempt_statuses.append(response.status_code)
        call.status = response.status_code
        call.payload, call.body_error = decode_body(response)
        call.body_bytes = len(response.content)
        envelope = self._envelope(call.payload) if call.body_error is None else None
        log_id = envelope.error.log_id if envelope else response.headers.get("x-tt-logid")
        call.log_id = None if log_id is None else escaped(attempt.redact(log_id))
        code = envelope.error.code if envelope else None
        if response.status_code == 200 and code == "ok":
            call.error = None
            return
        if call.body_error is not None:
            call.error = f"HTTP {response.status_code} undecodable body: {call.body_error}"
        else:
            detail = envelope.error.message if envelope else attempt.redact(str(call.payload))[:200]
            call.error = escaped(attempt.redact(f"HTTP {response.status_code} {code or 'no envelope'}: {detail}"))
        if attempt.retryable:
            self.stats["throttled" if response.status_code == 429 else "server_errors"] += 1

    @staticmethod
    def _envelope(payload: Any) -> Envelope | None:
        try:
            return Envelope.model_validate(payload)
        except ValidationError:
            return None

    @staticmethod
    def _finish(call: ApiCall, attempts: int, started: float) -> None:
        call.attempts = attempts
        call.latency_ms = (time.perf_counter() - started) * 1000

    @staticmethod
    def _describe(call: ApiCall) -> str:
        return f"{call.endpoint} for creator {call.username!r} failed: {call.error}, log_id={call.log_id}"
