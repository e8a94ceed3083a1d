"""TikTok's Display API webhooks: the signature and the body (pure functions, the strict boundary).

TikTok signs each delivery with the header ``TikTok-Signature: t=<unix seconds>,s=<hex>``, where ``s`` is the
HMAC-SHA256, keyed with the app's client secret, of ``t + "." + raw body``. Delivery is at least once: the same event
may come several times, and is retried for up to 72 hours until it is answered with a 2xx. The body::

    {"client_key": "...", "event": "authorization.removed", "create_time": 1700000000,
     "user_openid": "...", "content": "{\\"reason\\": 1}"}

``content`` is itself a JSON string; for ``authorization.removed`` it holds the ``reason`` code (:data:`REASONS`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

SIGNATURE_HEADER = "TikTok-Signature"
AUTHORIZATION_REMOVED = "authorization.removed"
REASONS = {
    0: "unknown reason",
    1: "the creator disconnected the app in TikTok",
    2: "the creator's account was deleted",
    3: "the creator's age changed",
    4: "the creator's account was banned",
    5: "the developer revoked the authorization",
}
"""``authorization.removed`` reason codes, as TikTok documents them."""
MAX_BODY_BYTES = 64 * 1024
"""Largest body the receiver reads: TikTok's events are a few hundred bytes."""


class WebhookRejected(ValueError):
    """A delivery that is not provably TikTok's (missing, malformed or wrong signature, stale timestamp)."""


class WebhookBodyError(ValueError):
    """A signed delivery whose body is not a webhook event: names the field and why."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``TikTok-Signature`` header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},s={digest}"


def verify_signature(header: str | None, body: bytes, secret: str, *, now: float, tolerance_seconds: float) -> int:
    """The signed timestamp, once ``header`` proves ``body`` was signed with ``secret`` within ``tolerance_seconds``
    of ``now`` (either side: clocks drift); :class:`WebhookRejected` otherwise. Compared in constant time."""
    if not header:
        raise WebhookRejected(f"no {SIGNATURE_HEADER} header")
    parts: dict[str, str] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or key in parts:
            raise WebhookRejected(f"{SIGNATURE_HEADER} is not t=<unix>,s=<hex>")
        parts[key] = value
    stamp, given = parts.get("t", ""), parts.get("s", "")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12 or not given:
        raise WebhookRejected(f"{SIGNATURE_HEADER} is not t=<unix>,s=<hex>")
    expected = sign(secret, int(stamp), body).partition(",s=")[2]
    if not hmac.compare_digest(expected.encode(), given.encode("ascii", "replace")):
        raise WebhookRejected("signature does not match")
    if abs(now - int(stamp)) > tolerance_seconds:
        raise WebhookRejected(f"timestamp {stamp} is more than {tolerance_seconds:g} s from now")
    return int(stamp)


class WebhookEvent(BaseModel):
    """One Display API webhook event (strict: a boolean is not a time)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    client_key: StrictStr = Field(min_length=1, max_length=200)
    event: StrictStr = Field(min_length=1, max_length=100)
    create_time: StrictInt = Field(ge=0, le=10**11)
    user_openid: StrictStr = Field(min_length=1, max_length=200)
    content: StrictStr = Field(default="", max_length=10_000)

    @property
    def event_id(self) -> str:
        """What identifies the event across redeliveries (TikTok sends no id): a hash of its fields."""
        key = json.dumps([self.client_key, self.event, self.create_time, self.user_openid, self.content])
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def reason_code(self) -> int | None:
        """``content``'s ``reason`` (an integer), or None when it has none or is not JSON."""
        try:
            content: Any = json.loads(self.content) if self.content else {}
        except (ValueError, RecursionError):
            return None
        reason = content.get("reason") if isinstance(content, dict) else None
        return reason if isinstance(reason, int) and not isinstance(reason, bool) else None

    def reason(self) -> str:
        """Why the authorization was removed, in words (with TikTok's code)."""
        code = self.reason_code()
        return f"{REASONS.get(code, 'unknown reason') if code is not None else 'no reason given'} (reason {code})"


def parse_event(body: bytes) -> WebhookEvent:
    """The event in ``body``; :class:`WebhookBodyError` naming the field otherwise."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise WebhookBodyError(f"display_api webhook: body is not JSON ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise WebhookBodyError(f"display_api webhook: body is a JSON {type(payload).__name__}, not an object")
    try:
        return WebhookEvent.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in exc.errors())
        raise WebhookBodyError(f"display_api webhook: {problems}"[:500]) from None
