"""What one Display API call produced (:class:`ApiCall`, the landing record's source) and its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    body_error: str | None = None
    """Why the last answer's body could not be decoded (``payload`` then holds it as bounded escaped text)."""
    body_bytes: int | None = None
    """Size of the last answer's body in bytes."""
    gave_up: str | None = None
    """Why retrying stopped while the call still failed: ``attempts`` (all used) or ``retry_budget`` (the next
    wait, e.g. a long ``Retry-After``, would pass TIKTOK_HTTP_MAX_RETRY_SECONDS)."""

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
            "body_error": self.body_error,
            "body_bytes": self.body_bytes,
            "gave_up": self.gave_up,
        }


class TikTokApiError(RuntimeError):
    """The API refused a request, or kept failing until retries ran out."""

    def __init__(self, message: str, *, call: ApiCall | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.call = call
        self.code = code


class MissingCredentialsError(TikTokApiError):
    """No stored token for a creator and no way to obtain one unattended."""


class ReauthorizationRequired(TikTokApiError):
    """TikTok no longer accepts this creator's grant (refresh token expired, revoked or rotated out, or a scope not
    granted): only the creator can fix it, by authorising the app again. Not retried until new tokens are stored."""

    def __init__(
        self, username: str, code: str, detail: str, *, log_id: str | None = None, call: ApiCall | None = None
    ) -> None:
        super().__init__(
            f"creator {username!r} must re-authorise the app: TikTok answered {code} ({detail}), log_id={log_id}."
            " Re-authorise: the creator signs in again with Login Kit, then store the new token with"
            f" `tiktok-pipeline tokens add {username}` (it reads TikTok's token answer or the refresh token from"
            " standard input)",
            call=call,
            code=code,
        )
        self.username, self.log_id = username, log_id
