"""``POST /v2/oauth/token/`` (code exchange, refresh with rotation) and ``POST /v2/oauth/revoke/``.

Authorization codes come from the authorization step (:mod:`.authorize`: redirect_uri and PKCE are checked
here, at the exchange), or are the unattended ``sim-code-<username>`` (all scopes) or
``sim-code-<username>:<scopes>`` with a comma-separated subset, to simulate a creator who granted fewer scopes.

The refresh token's lifetime is a fixed horizon from the first issuance (the authorization): refreshing rotates
the refresh token but never extends the horizon, and ``refresh_expires_in`` is the *remaining* lifetime (TikTok's
docs: "remaining lifetime"; older docs: 365 days after the initial issuance). Past the horizon a refresh is
``invalid_grant`` and the creator must authorise again. Errors are answered by the caller as HTTP 200 with
TikTok's flat ``{"error", "error_description", "log_id"}`` body.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tiktok_pipeline.simulator.authorize import Authorizer
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
    """Issues signed tokens; remembers the newest generation per open_id (rotation) and revocations."""

    def __init__(
        self,
        world: World,
        signer: TokenSigner,
        clock: Callable[[], float],
        *,
        client_secret: str,
        access_token_ttl: int,
        refresh_token_ttl: int,
        authorizer: Authorizer,
    ) -> None:
        self.world, self.signer, self.clock = world, signer, clock
        self.client_secret = client_secret
        self.access_token_ttl, self.refresh_token_ttl = access_token_ttl, refresh_token_ttl
        self.authorizer = authorizer
        self._generation: dict[str, int] = {}
        self._revoked: dict[str, int] = {}
        self._lock = threading.Lock()

    def _client(self, form: dict[str, str]) -> None:
        if not form.get("client_key"):
            raise OAuthError("invalid_request", "client_key is required.")
        if form.get("client_secret") != self.client_secret:
            raise OAuthError("invalid_client", "Client secret is invalid.")

    def grant(self, form: dict[str, str]) -> dict[str, Any]:
        """The token response for a form-encoded request; raises :class:`OAuthError`."""
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "client_key and grant_type are required.")
        self._client(form)
        if grant_type == "authorization_code":
            open_id, scopes = self._from_code(form)
            return self._issue(open_id, scopes, presented=None, horizon=self.clock() + self.refresh_token_ttl)
        if grant_type == "refresh_token":
            claims = self._from_refresh_token(form.get("refresh_token"))
            return self._issue(claims.open_id, claims.scopes, presented=claims.generation, horizon=claims.expires_at)
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported.")

    def revoke(self, form: dict[str, str]) -> str:
        """``/v2/oauth/revoke/``: every token of the access token's creator stops working; their open_id. Raises
        :class:`OAuthError`."""
        self._client(form)
        claims = self.signer.read(form.get("token", ""), "act")
        if claims is None:
            raise OAuthError("invalid_request", "token is missing or is not an access token of this app.")
        with self._lock:
            self._revoked[claims.open_id] = max(self._generation.get(claims.open_id, 0), claims.generation)
        return claims.open_id

    def deauthorize(self, open_id: str) -> None:
        """The creator disconnects the app in TikTok: every token issued so far stops working."""
        with self._lock:
            self._revoked[open_id] = max(self._generation.get(open_id, 0), self._revoked.get(open_id, 0))

    def is_revoked(self, claims: TokenClaims) -> bool:
        """True if the creator revoked access after ``claims`` were issued (until a new authorization)."""
        with self._lock:
            return claims.generation <= self._revoked.get(claims.open_id, 0)

    def _from_code(self, form: dict[str, str]) -> tuple[str, frozenset[str]]:
        code = form.get("code")
        if not code:
            raise OAuthError("invalid_request", "code is required.")
        parsed = parse_code(code)
        if parsed is None:
            issued = self.authorizer.redeem(code, form.get("redirect_uri", ""), form.get("code_verifier", ""))
            if issued is None:
                raise OAuthError(
                    "invalid_grant",
                    "Authorization code is invalid, expired or used, or redirect_uri or code_verifier do not match.",
                )
            return issued.open_id, issued.scopes
        creator = self.world.creator(parsed[0])
        if creator is None:
            raise OAuthError("invalid_grant", "Authorization code is invalid or expired.")
        return creator.open_id, parsed[1]

    def _from_refresh_token(self, token: str | None) -> TokenClaims:
        if not token:
            raise OAuthError("invalid_request", "refresh_token is required.")
        claims = self.signer.read(token, "rft")
        if claims is None or claims.expires_at <= self.clock() or self.is_revoked(claims):
            raise OAuthError("invalid_grant", "Refresh token is invalid, expired or revoked.")
        return claims

    def _issue(self, open_id: str, scopes: frozenset[str], *, presented: int | None, horizon: float) -> dict[str, Any]:
        """New tokens one generation above any seen; a ``presented`` refresh generation below that fails.

        ``horizon``: when the refresh token chain ends (fixed at the authorization, carried by every rotation).
        """
        with self._lock:
            newest = max(self._generation.get(open_id, 0), self._revoked.get(open_id, 0))
            if presented is not None and presented < newest:
                raise OAuthError("invalid_grant", "Refresh token has been rotated out; use the newest one.")
            generation = max(newest, presented or 0) + 1
            self._generation[open_id] = generation
        now, scope = self.clock(), scope_string(scopes)
        access = TokenClaims("act", open_id, generation, now + self.access_token_ttl, scope)
        refresh = TokenClaims("rft", open_id, generation, horizon, scope)
        return {
            "access_token": self.signer.issue(access),
            "expires_in": self.access_token_ttl,
            "open_id": open_id,
            "refresh_token": self.signer.issue(refresh),
            "refresh_expires_in": max(0, int(horizon - now)),
            "scope": scope,
            "token_type": "Bearer",
        }
