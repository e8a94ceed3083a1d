"""httpx client for the Display API: tokens, client-side rate limit, retries with backoff.

Every call returns an :class:`ApiCall` holding the raw response body, so callers can land it
durably *before* parsing it. Errors raise :class:`TikTokApiError`, which names the endpoint and
creator and carries TikTok's ``log_id`` (and the raw call) for support tickets and landing.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from tiktok_pipeline.sources.display_api.models import Envelope, OAuthErrorBody, TokenGrant
from tiktok_pipeline.sources.display_api.ratelimit import SlidingWindowLimiter
from tiktok_pipeline.sources.display_api.tokens import TokenSet, TokenStore, utcnow

log = logging.getLogger(__name__)

AS_OF_HEADER = "X-Simulator-As-Of"
SIMULATOR_CODE_PREFIX = "sim-code-"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class ApiCall:
    """One logical request (after retries) and TikTok's raw answer."""

    endpoint: str
    username: str
    params: dict[str, str]
    body: dict[str, Any] | None
    status: int | None
    payload: Any
    log_id: str | None
    attempts: int
    latency_ms: float
    error: str | None = None
    attempt_statuses: list[int | str] = field(default_factory=list)
    """HTTP status of every attempt, or "timeout" / "transport" when none came back."""

    def to_record(self) -> dict[str, Any]:
        """A JSON-serialisable record for the landing zone (no tokens in it)."""
        return {
            "endpoint": self.endpoint,
            "username": self.username,
            "params": self.params,
            "body": self.body,
            "status": self.status,
            "payload": self.payload,
            "log_id": self.log_id,
            "attempts": self.attempts,
            "latency_ms": round(self.latency_ms, 3),
            "error": self.error,
            "attempt_statuses": self.attempt_statuses,
        }


class TikTokApiError(RuntimeError):
    """The API refused a request, or kept failing until retries ran out."""

    def __init__(self, message: str, *, call: ApiCall | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.call = call
        self.code = code


class MissingCredentialsError(TikTokApiError):
    """No stored token for a creator and no way to obtain one unattended."""


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter; ``Retry-After`` wins when it asks for longer."""

    max_attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        jitter = self.rng.uniform(0, min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1)))
        return max(jitter, retry_after or 0.0)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given as delta-seconds; None when absent or unparsable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text


class DisplayApiClient:
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
        simulator: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_key = client_key
        self._client_secret = client_secret
        self.tokens = token_store
        self.limiter = limiter or SlidingWindowLimiter(590)
        self.retry = retry or RetryPolicy()
        self.simulator = simulator
        self._sleep = sleep
        self._now = now
        self.stats: Counter[str] = Counter()
        self._http = httpx.Client(base_url=self.base_url, transport=transport, timeout=timeout_seconds)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DisplayApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- OAuth -----------------------------------------------------------------------------
    def _token_request(self, username: str, form: dict[str, str]) -> TokenSet:
        form = {"client_key": self.client_key, "client_secret": self._client_secret.get_secret_value(), **form}
        grant_type = form["grant_type"]
        last_error = "no attempt made"
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                response = self._http.post("/v2/oauth/token/", data=form)
            except httpx.TransportError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                self.stats["oauth_transport_errors"] += 1
            else:
                payload = _decode(response)
                if response.status_code == 200:
                    try:
                        tokens = TokenSet.from_grant(TokenGrant.model_validate(payload), self._now())
                    except ValidationError as exc:
                        raise TikTokApiError(f"oauth/token ({grant_type}) for {username}: bad answer: {exc}") from exc
                    self.tokens.put(username, tokens)
                    return tokens
                if response.status_code not in RETRYABLE_STATUSES:
                    try:
                        detail: OAuthErrorBody | None = OAuthErrorBody.model_validate(payload)
                    except ValidationError:
                        detail = None
                    code = detail.error if detail else str(response.status_code)
                    raise TikTokApiError(
                        f"oauth/token ({grant_type}) for {username} refused: {code}"
                        f" ({detail.error_description if detail else payload!r}), log_id={detail.log_id if detail else None}",
                        code=code,
                    )
                last_error = f"HTTP {response.status_code}"
            if attempt < self.retry.max_attempts:
                self._sleep(self.retry.delay(attempt, None))
        raise TikTokApiError(f"oauth/token ({grant_type}) for {username} failed after retries: {last_error}")

    def exchange_code(self, username: str, code: str, redirect_uri: str = "") -> TokenSet:
        """Trade an authorization code for tokens and store them."""
        return self._token_request(
            username, {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        )

    def refresh(self, username: str) -> TokenSet:
        """Refresh ``username``'s access token; the rotated refresh token is persisted at once."""
        current = self.tokens.get(username)
        if current is None:
            return self._bootstrap(username)
        self.stats["token_refreshes"] += 1
        log.info("refreshing access token of %s", username)
        return self._token_request(
            username,
            {"grant_type": "refresh_token", "refresh_token": current.refresh_token.get_secret_value()},
        )

    def _bootstrap(self, username: str) -> TokenSet:
        if self.simulator:
            return self.exchange_code(username, SIMULATOR_CODE_PREFIX + username)
        raise MissingCredentialsError(
            f"no OAuth tokens stored for creator {username!r} in {self.tokens.path}. The creator must authorise "
            "the app (Login Kit); then store the refresh token with "
            f"`tiktok-pipeline tokens add {username}` (it reads the token from standard input).",
            code="missing_credentials",
        )

    def access_token(self, username: str) -> SecretStr:
        """A valid access token for ``username``, refreshed ahead of its ``expires_in``."""
        tokens = self.tokens.get(username)
        if tokens is None:
            tokens = self._bootstrap(username)
        elif tokens.needs_refresh(self._now()):
            tokens = self.refresh(username)
        return tokens.access_token

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
        """Call ``/v2/<endpoint>/`` for ``username`` with retries; raises :class:`TikTokApiError`."""
        params = {"fields": ",".join(fields)}
        method = "GET" if body is None else "POST"
        headers: dict[str, str] = {}
        if self.simulator and as_of is not None:
            headers[AS_OF_HEADER] = repr(as_of.timestamp())
        refreshed = False
        attempts = 0
        started = time.perf_counter()
        call = ApiCall(endpoint, username, params, body, None, None, None, 0, 0.0)
        while True:
            attempts += 1
            self.stats[f"requests.{endpoint}"] += 1
            self.limiter.acquire(endpoint)
            token = self.access_token(username).get_secret_value()
            retry_after: float | None = None
            try:
                response = self._http.request(
                    method,
                    f"/v2/{endpoint}/",
                    params=params,
                    json=body,
                    headers={**headers, "Authorization": f"Bearer {token}"},
                )
            except httpx.TransportError as exc:
                timeout = isinstance(exc, httpx.TimeoutException)
                self.stats["timeouts" if timeout else "transport_errors"] += 1
                call.attempt_statuses.append("timeout" if timeout else "transport")
                call.error = f"{type(exc).__name__}: {exc}"
            else:
                call.attempt_statuses.append(response.status_code)
                call.status = response.status_code
                call.payload = _decode(response)
                envelope = self._envelope(call.payload)
                call.log_id = envelope.error.log_id if envelope else response.headers.get("x-tt-logid")
                code = envelope.error.code if envelope else None
                if response.status_code == 200 and code == "ok":
                    call.error = None
                    break
                call.error = f"HTTP {response.status_code} {code or 'no envelope'}: " + (
                    envelope.error.message if envelope else str(call.payload)[:200]
                )
                if response.status_code == 401 and code == "access_token_invalid" and not refreshed:
                    refreshed = True
                    self.refresh(username)
                    continue
                if response.status_code not in RETRYABLE_STATUSES:
                    self._finish(call, attempts, started)
                    raise TikTokApiError(self._describe(call), call=call, code=code)
                self.stats["throttled" if response.status_code == 429 else "server_errors"] += 1
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if attempts >= self.retry.max_attempts:
                self._finish(call, attempts, started)
                raise TikTokApiError(self._describe(call) + f" (gave up after {attempts} attempts)", call=call)
            self.stats["retries"] += 1
            self._sleep(self.retry.delay(attempts, retry_after))
        self._finish(call, attempts, started)
        return call

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
