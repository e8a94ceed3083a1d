"""TikTok Shop envelope codes: what the client does with each, and the source it rests on (or that it is assumed).

A code in no source is *unknown*: the call fails at once naming it and Shop's ``request_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class CodeRule:
    action: Literal["ok", "retry", "refresh", "fail"]
    meaning: str
    source: str


CODES: dict[int, CodeRule] = {
    0: CodeRule("ok", "success", "Shop's envelope (EcomPHP/tiktokshop-php Resource::call)"),
    105002: CodeRule(
        "refresh", "access token expired: refresh it and resend", "users' reports ('access token is expired')"
    ),
    105001: CodeRule("fail", "invalid access token: store new tokens (shop-tokens add)", "assumed"),
    36004001: CodeRule(
        "fail", "refresh token expired: the seller must authorise the app again", "EcomPHP/tiktokshop-php PR 15"
    ),
    36004005: CodeRule("fail", "no such authorisation: the seller must authorise the app again", "EcomPHP PR 15"),
    36004003: CodeRule("fail", "invalid app_key or app_secret", "assumed"),
    106001: CodeRule("fail", "signature refused: check TIKTOK_SHOP_APP_KEY / TIKTOK_SHOP_APP_SECRET", "assumed"),
    106002: CodeRule("retry", "timestamp refused as stale: resent with a fresh timestamp", "assumed"),
    106011: CodeRule("fail", "shop_cipher refused", "assumed"),
    36009003: CodeRule("fail", "a parameter was refused: the request is wrong", "assumed"),
    36009004: CodeRule("retry", "rate limited", "assumed (with HTTP 429)"),
    36009006: CodeRule("retry", "system error", "assumed (with HTTP 500)"),
}
RETRYABLE_HTTP = frozenset({429, 500, 502, 503, 504})
"""Statuses retried when the answer has no envelope (a gateway's page)."""
TIMEOUT_CODE = -1
