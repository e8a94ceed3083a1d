"""``GET /v2/auth/authorize/``: the authorization step, binding ``redirect_uri`` and the PKCE challenge to a code.

TikTok serves this page at ``www.tiktok.com/v2/auth/authorize/``; the creator signs in and consents, then the
browser is redirected to ``redirect_uri?code=…&scopes=…&state=…``. The simulator has no sign-in: the
``sim_user`` query parameter names the creator who consents. What it checks, as an authorization server must:

- ``redirect_uri`` must be one the app registered; otherwise the answer is an error page (HTTP 400, never a
  redirect to an unregistered address);
- ``client_key``, ``response_type=code`` and the scopes; errors go back to ``redirect_uri`` as
  ``?error=…&error_description=…&state=…``;
- PKCE (RFC 7636): ``code_challenge`` with ``code_challenge_method=S256`` (``plain`` is refused). Optional, as
  for TikTok's web apps; when given, the token exchange must present the ``code_verifier``.

Codes are single-use and expire after :data:`CODE_TTL_SECONDS`; the token exchange must present the same
``redirect_uri``. Codes live in memory: a restarted simulator forgets unused ones (they are short-lived anyway).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from tiktok_pipeline.simulator.fields import ALL_SCOPES
from tiktok_pipeline.simulator.responses import ApiError
from tiktok_pipeline.simulator.world import World

CODE_TTL_SECONDS = 600
"""Assumed: TikTok does not publish an authorization code's lifetime; 10 minutes is RFC 6749's maximum advice."""
DEFAULT_REDIRECT_URIS = frozenset({"http://localhost:3000/callback"})


class AuthorizationError(ApiError):
    """A refusal at the authorization step: ``redirect`` says whether it may go back to the redirect_uri."""

    def __init__(self, code: str, message: str, *, redirect: bool) -> None:
        super().__init__(code, message)
        self.redirect = redirect


@dataclass(frozen=True)
class IssuedCode:
    """What an authorization code stands for."""

    open_id: str
    scopes: frozenset[str]
    redirect_uri: str
    code_challenge: str
    expires_at: float


def s256(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


class Authorizer:
    """Issues authorization codes and redeems each once, checking redirect_uri and PKCE."""

    def __init__(self, world: World, clock: Callable[[], float], redirect_uris: frozenset[str]) -> None:
        self.world, self.clock, self.redirect_uris = world, clock, redirect_uris
        self._codes: dict[str, IssuedCode] = {}
        self._lock = threading.Lock()

    def authorize(self, params: Mapping[str, str]) -> str:
        """The URL the browser is sent back to (with a code, or with an error that may go there).

        Raises :class:`AuthorizationError` with ``redirect=False`` when the redirect_uri is not registered.
        """
        redirect_uri, state = params.get("redirect_uri", ""), params.get("state", "")
        if redirect_uri not in self.redirect_uris:
            raise AuthorizationError("invalid_request", "redirect_uri is not registered for this app.", redirect=False)
        try:
            code = self._issue(params, redirect_uri)
        except AuthorizationError as error:
            query = {"error": error.code, "error_description": error.message, "state": state}
            return f"{redirect_uri}?{urlencode(query)}"
        issued = self._codes[code]
        query = {"code": code, "scopes": ",".join(sorted(issued.scopes)), "state": state}
        return f"{redirect_uri}?{urlencode(query)}"

    def _issue(self, params: Mapping[str, str], redirect_uri: str) -> str:
        if not params.get("client_key"):
            raise AuthorizationError("invalid_request", "client_key is required.", redirect=True)
        if params.get("response_type") != "code":
            raise AuthorizationError("invalid_request", "response_type must be code.", redirect=True)
        scopes = frozenset(s for s in params.get("scope", "").split(",") if s)
        if not scopes or not scopes <= ALL_SCOPES:
            raise AuthorizationError("invalid_scope", "scope is empty or names an unknown scope.", redirect=True)
        challenge, method = params.get("code_challenge", ""), params.get("code_challenge_method", "")
        if (challenge or method) and (method != "S256" or not challenge):
            raise AuthorizationError(
                "invalid_request", "code_challenge with code_challenge_method S256 is required for PKCE.", redirect=True
            )
        creator = self.world.creator(params.get("sim_user", ""))
        if creator is None:
            raise AuthorizationError("access_denied", "The user did not sign in.", redirect=True)
        code = secrets.token_urlsafe(24)
        issued = IssuedCode(creator.open_id, scopes, redirect_uri, challenge, self.clock() + CODE_TTL_SECONDS)
        with self._lock:
            self._codes[code] = issued
        return code

    def redeem(self, code: str, redirect_uri: str, verifier: str) -> IssuedCode | None:
        """The code's grant if it was issued, unused, unexpired, for this redirect_uri and verifier; else None.

        A code is spent by its first redemption that passes (a failed attempt does not spend it).
        """
        with self._lock:
            issued = self._codes.get(code)
            if issued is None or issued.expires_at <= self.clock() or issued.redirect_uri != redirect_uri:
                return None
            if issued.code_challenge and not hmac.compare_digest(s256(verifier), issued.code_challenge):
                return None
            del self._codes[code]
        return issued
