"""Self-describing, HMAC-signed OAuth tokens, so they survive a simulator restart.

A token is ``<kind>.<base64url JSON claims>.<base64url HMAC>``; ``kind`` is ``act`` (access) or
``rft`` (refresh), like TikTok's prefixes. Validation needs only the signing key. Rotation is
enforced separately by the OAuth endpoint, which remembers the newest generation per open_id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class TokenClaims:
    """What a token says about itself."""

    kind: str  # "act" or "rft"
    open_id: str
    generation: int
    expires_at: float
    scope: str

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes as a set."""
        return frozenset(self.scope.split(","))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies tokens with one HMAC-SHA256 key."""

    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:18])

    def issue(self, claims: TokenClaims) -> str:
        """The signed token carrying ``claims``."""
        payload = {"o": claims.open_id, "g": claims.generation, "e": claims.expires_at, "s": claims.scope}
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{claims.kind}.{body}.{self._sign(claims.kind + body)}"

    def read(self, token: str, kind: str) -> TokenClaims | None:
        """The claims of a well-formed, correctly signed token of ``kind``; None otherwise (expiry unchecked)."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != kind:
            return None
        if not hmac.compare_digest(parts[2], self._sign(kind + parts[1])):
            return None
        try:
            raw = json.loads(_unb64(parts[1]))
            return TokenClaims(kind, str(raw["o"]), int(raw["g"]), float(raw["e"]), str(raw["s"]))
        except (ValueError, KeyError, TypeError):
            return None
