"""One Shop call's record (what is landed) and error, and how an answer is classified (envelope code, retryable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from tiktok_pipeline.sources.http.decode import decode_body
from tiktok_pipeline.sources.shop_api.codes import CODES, RETRYABLE_HTTP


class ShopApiError(RuntimeError):
    """Shop refused a call (a code that is not retried) or kept failing until retries ran out."""

    def __init__(self, message: str, *, code: int | None, request_id: str | None, call: ShopCall | None = None) -> None:
        super().__init__(message)
        self.code, self.request_id, self.call = code, request_id, call


@dataclass
class ShopCall:
    """One logical call (after retries) and Shop's answer, buyer fields already digests; no credential in it."""

    path: str
    method: str
    params: dict[str, str]
    body: Any
    status: int | None = None
    payload: Any = None
    code: int | None = None
    request_id: str | None = None
    attempts: int = 0
    error: str | None = None
    attempt_codes: list[int | str] = field(default_factory=list)

    @property
    def data(self) -> Any:
        return self.payload.get("data") if isinstance(self.payload, dict) else None

    def to_record(self) -> dict[str, Any]:
        """A JSON-serialisable landing record (no sign, no token: the query kept is the caller's own)."""
        return {
            "endpoint": self.path,
            "method": self.method,
            "params": self.params,
            "body": self.body,
            "status": self.status,
            "payload": self.payload,
            "code": self.code,
            "request_id": self.request_id,
            "attempts": self.attempts,
            "error": self.error,
            "attempt_codes": self.attempt_codes,
        }


def envelope_code(payload: Any) -> tuple[int | None, str | None]:
    if isinstance(payload, dict) and isinstance(payload.get("code"), int) and not isinstance(payload["code"], bool):
        request_id = payload.get("request_id")
        return payload["code"], request_id if isinstance(request_id, str) else None
    return None, None


def retryable(response: httpx.Response) -> bool:
    code, _ = envelope_code(decode_body(response)[0])
    if code is not None:
        rule = CODES.get(code)
        return rule is not None and rule.action == "retry"
    return response.status_code in RETRYABLE_HTTP
