"""``POST /v2/oauth/token/``: authorization-code exchange and refresh with rotation.

Authorization codes are ``sim-code-<username>`` (all scopes) or ``sim-code-<username>:<scopes>``
with a comma-separated subset, to simulate a creator who granted fewer scopes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tiktok_pipeline.simulator.fields import ALL_SCOPES
from tiktok_pipeline.simulator.responses import ApiError
from tiktok_pipeline.simulator.tokens import TokenClaims, TokenSigner
from tiktok_pipeline.simulator.world import World

CODE_PREFIX = "sim-code-"


class OAuthError(ApiError):
    """An OAuth refusal (``invalid_request``, ``invalid_client``, ``invalid_grant``, ...)."""


def parse_code(code: str) -> tuple[str, frozenset[str]] | None:
    """(username, scopes) of a simulator authorization code, or None if it is not one."""
    if not code.startswith(CODE_PREFIX):
        return None
    username, _, scope = code[len(CODE_PREFIX) :].partition(":")
    scopes = frozenset(s for s in scope.split(",") if s) if scope else ALL_SCOPES
    return (username, scopes) if scopes <= ALL_SCOPES else None


def scope_string(scopes: frozenset[str]) -> str:
    """Scopes as TikTok lists them: comma-separated."""
    return ",".join(sorted(scopes))


class TokenEndpoint:
    """Issues signed tokens; remembers the newest generation per open_id to enforce rotation."""

    def __init__(
        self,
        world: World,
        signer: TokenSigner,
        clock: Callable[[], float],
        *,
        client_secret: str,
        access_token_ttl: int,
        refresh_token_ttl: int,
    ) -> None:
        self.world, self.signer, self.clock = world, signer, clock
        self.client_secret = client_secret
        self.access_token_ttl, self.refresh_token_ttl = access_token_ttl, refresh_token_ttl
        self._generation: dict[str, int] = {}
        self._lock = threading.Lock()

    def grant(self, form: dict[str, str]) -> dict[str, Any]:
        """The token response for a form-encoded request; raises :class:`OAuthError`."""
        grant_type = form.get("grant_type")
        if not form.get("client_key") or not grant_type:
            raise OAuthError("invalid_request", "client_key and grant_type are required.")
        if form.get("client_secret") != self.client_secret:
            raise OAuthError("invalid_client", "Client secret is invalid.")
        if grant_type == "authorization_code":
            open_id, scopes = self._from_code(form.get("code"))
            return self._issue(open_id, scopes, presented=None)
        if grant_type == "refresh_token":
            claims = self._from_refresh_token(form.get("refresh_token"))
            return self._issue(claims.open_id, claims.scopes, presented=claims.generation)
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported.")

    def _from_code(self, code: str | None) -> tuple[str, frozenset[str]]:
        if not code:
            raise OAuthError("invalid_request", "code is required.")
        parsed = parse_code(code)
        creator = self.world.creator(parsed[0]) if parsed else None
        if parsed is None or creator is None:
            raise OAuthError("invalid_grant", "Authorization code is invalid or expired.")
        return creator.open_id, parsed[1]

    def _from_refresh_token(self, token: str | None) -> TokenClaims:
        if not token:
            raise OAuthError("invalid_request", "refresh_token is required.")
        claims = self.signer.read(token, "rft")
        if claims is None or claims.expires_at <= self.clock():
            raise OAuthError("invalid_grant", "Refresh token is invalid or expired.")
        return claims

    def _issue(self, open_id: str, scopes: frozenset[str], *, presented: int | None) -> dict[str, Any]:
        """New tokens one generation above any seen; a ``presented`` refresh generation below that fails."""
        with self._lock:
            newest = self._generation.get(open_id, 0)
            if presented is not None and presented < newest:
                raise OAuthError("invalid_grant", "Refresh token has been rotated out; use the newest one.")
            generation = max(newest, presented or 0) + 1
            self._generation[open_id] = generation
        now, scope = self.clock(), scope_string(scopes)
        access = TokenClaims("act", open_id, generation, now + self.access_token_ttl, scope)
        refresh = TokenClaims("rft", open_id, generation, now + self.refresh_token_ttl, scope)
        return {
            "access_token": self.signer.issue(access),
            "expires_in": self.access_token_ttl,
            "open_id": open_id,
            "refresh_token": self.signer.issue(refresh),
            "refresh_expires_in": self.refresh_token_ttl,
            "scope": scope,
            "token_type": "Bearer",
        }
