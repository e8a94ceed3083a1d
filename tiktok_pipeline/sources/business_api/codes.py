"""API for Business envelope codes: what the client does with each, and the source it rests on.

A code in no source is *unknown*: the client fails at once, loudly, naming the code and TikTok's
``request_id`` (retrying a code nobody has seen would be a guess; callers keep their work for a later run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class CodeRule:
    """What the client does with one envelope code, and why."""

    action: Literal["ok", "retry", "fail"]
    meaning: str
    source: str


CODES: dict[int, CodeRule] = {
    0: CodeRule("ok", "OK", "TikTok's envelope (docs; every connector)"),
    20001: CodeRule(
        "ok",
        "partial success: processed, failures listed in data",
        "rudder-transformer tiktok_ads/networkHandler.js treats 20001 as success",
    ),
    40100: CodeRule(
        "retry",
        "too many requests (app rate limit, shared across connections)",
        "TikTok's error code list; Airbyte source-tiktok-marketing streams.py and issue 70992;"
        " rudder-transformer ThrottledError",
    ),
    40700: CodeRule(
        "retry",
        "TikTok-side error",
        "rudder-transformer tiktok_ads/networkHandler.js retries it as a server error (500)",
    ),
    50000: CodeRule("retry", "system error", "TikTok's error code list: system error, retry"),
    50002: CodeRule("retry", "system error", "TikTok's error code list: system error, retry"),
    40001: CodeRule(
        "fail",
        "permission denied: check the token's advertiser access and the app's scopes",
        "TikTok's error code list; rudder-transformer aborts 40001",
    ),
    40002: CodeRule(
        "fail",
        "a parameter was refused: the request is wrong, retrying will not help",
        "TikTok's error code list; rudder-transformer aborts 40002; stape-io/tiktok-tag issue 10",
    ),
    40105: CodeRule(
        "fail",
        "the access token is invalid or revoked: issue a new long-lived token in TikTok for Business",
        "TikTok's error code list",
    ),
}
"""Every envelope code the client knows. 40133 ("advertiser QPS") was dropped: it appears in no source found
(TikTok's SDK, Airbyte, Rudderstack, singer); like any unknown code it fails loudly, and nothing is lost."""
RETRYABLE_CODES: dict[int, str] = {code: rule.meaning for code, rule in CODES.items() if rule.action == "retry"}
"""Envelope codes worth retrying: throttling and TikTok-side errors."""
SUCCESS_CODES = frozenset(code for code, rule in CODES.items() if rule.action == "ok")
FATAL_HINTS: dict[int, str] = {code: rule.meaning for code, rule in CODES.items() if rule.action == "fail"}
RETRYABLE_HTTP = frozenset({429, 500, 502, 503, 504})
"""Statuses retried when the answer has no envelope (a gateway's page): Airbyte retries 504s with non-JSON bodies."""
TIMEOUT_CODE = -1
"""``BusinessApiError.code`` when no answer came back (timeout or transport error)."""


def is_retryable(code: int) -> bool:
    """Whether an envelope ``code`` is worth another attempt."""
    return code in RETRYABLE_CODES


def is_known(code: int) -> bool:
    """Whether an envelope ``code`` is in :data:`CODES` (else it fails as unknown)."""
    return code in CODES
