"""The OAuth half of the Display API client: code exchange (with PKCE), refresh with rotation, revocation, and
TikTok's refusals, which arrive with HTTP 200 and an error body.

A creator whose refresh token TikTok refused (``invalid_grant``) is recorded in the token store (and, before the
refresh horizon ended, as a revocation in the consent ledger, :mod:`.consent`) and raises
:class:`ReauthorizationRequired` at once from then on, without asking TikTok again, until ``tokens add`` stores
new tokens. So does a creator whose grant was revoked (TikTok's ``authorization.removed`` webhook, ``tokens
revoke``): no request is made for them, and the simulator's unattended authorization is not tried either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import NoReturn

from pydantic import SecretStr, ValidationError

from tiktok_pipeline.sources.display_api.calls import MissingCredentialsError, ReauthorizationRequired, TikTokApiError
from tiktok_pipeline.sources.display_api.consent import REVOKED_CODE, ConsentLedger, revocation_for
from tiktok_pipeline.sources.display_api.consent import revoke as record_revocation
from tiktok_pipeline.sources.display_api.models import OAuthErrorBody, TokenGrant
from tiktok_pipeline.sources.display_api.refusals import REAUTHORIZE_GRANT_ERROR, refusal
from tiktok_pipeline.sources.display_api.tokens import TokenSet, TokenStore
from tiktok_pipeline.sources.http import Attempt, SessionClient
from tiktok_pipeline.sources.http.calllog import call_context
from tiktok_pipeline.sources.http.decode import decode_body, escaped

log = logging.getLogger(__name__)


class OAuthClient(SessionClient):
    """Creators' OAuth tokens at TikTok (``/v2/oauth/token/`` and ``/v2/oauth/revoke/``); the base of
    :class:`~tiktok_pipeline.sources.display_api.client.DisplayApiClient`, which sets these attributes."""

    client_key: str
    tokens: TokenStore
    _client_secret: SecretStr
    _unattended_code: Callable[[str], str] | None
    _now: Callable[[], datetime]

    def _token_request(self, username: str, form: dict[str, str]) -> TokenSet:
        form = {"client_key": self.client_key, "client_secret": self._client_secret.get_secret_value(), **form}
        grant_type = form["grant_type"]
        self._http.add_secrets(form.get("refresh_token", ""), form.get("code", ""))

        def count(attempt: Attempt) -> None:
            if attempt.response is None:
                self.stats["oauth_transport_errors"] += 1

        with call_context(subject=username, purpose=f"token {grant_type}"):
            exchange = self._http.request(
                "POST", "/v2/oauth/token/", data=form, name=f"oauth/token ({grant_type})", on_attempt=count
            )
        last = exchange.last
        if last.response is None:
            raise TikTokApiError(f"oauth/token ({grant_type}) for {username} failed after retries: {last.error_text()}")
        payload, _ = decode_body(last.response)
        refused = OAuthErrorBody.of(payload)  # TikTok sends OAuth errors with HTTP 200: the body decides
        if exchange.exhausted:
            said = (
                f": {escaped(self._http.redact(f'{refused.error}, log_id={refused.log_id}'))[:200]}" if refused else ""
            )
            reason = f"{last.describe()}{said}"
            raise TikTokApiError(f"oauth/token ({grant_type}) for {username} failed after retries: {reason}")
        if refused is not None:
            self._refused(username, grant_type, refused)
        if last.response.status_code != 200:
            raise TikTokApiError(
                self._http.redact(
                    f"oauth/token ({grant_type}) for {username} failed: HTTP {last.response.status_code}"
                    f" ({escaped(str(payload))[:200]}), log_id={last.response.headers.get('x-tt-logid')}"
                ),
                code=str(last.response.status_code),
            )
        previous = self.tokens.get(username) if grant_type == "refresh_token" else None
        try:
            tokens = TokenSet.from_grant(TokenGrant.model_validate(payload), self._now())
        except ValidationError as exc:  # named by field only: the answer's values may be tokens
            fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in exc.errors())
            message = f"oauth/token ({grant_type}) for {username}: not a token answer ({escaped(fields)[:300]})"
            raise TikTokApiError(self._http.redact(message), code="bad_token_answer") from None
        self._http.add_secrets(tokens.access_token.get_secret_value(), tokens.refresh_token.get_secret_value())
        if previous is not None:  # a refresh continues the grant: it keeps when it was given (None if unknown)
            tokens = tokens.model_copy(update={"granted_at": previous.granted_at})
        self.tokens.put(username, tokens)
        return tokens

    def _refused(self, username: str, grant_type: str, refused: OAuthErrorBody) -> NoReturn:
        """Raise TikTok's OAuth refusal; a refused refresh token is recorded so it is not tried again."""
        error = refusal(username, grant_type, refused, self._http.redact)
        if isinstance(error, ReauthorizationRequired):
            self.stats["reauthorisation_required"] += 1
            if grant_type == "refresh_token":
                self._refresh_refused(username, f"{error.code}, log_id={error.log_id}")
            log.error("%s", error)
        raise error

    def _refresh_refused(self, username: str, reason: str) -> None:
        """Mark the creator for re-authorisation; before the refresh horizon ended, the refusal is a revocation."""
        self.tokens.mark_reauthorize(username, reason)
        tokens, now = self.tokens.get(username), self._now()
        if (
            tokens is not None
            and tokens.open_id
            and (tokens.refresh_expires_at is None or tokens.refresh_expires_at > now)
        ):
            record_revocation(
                self.tokens,
                self.consent,
                open_id=tokens.open_id,
                revoked_at=now,
                reason=f"TikTok refused the refresh token before its horizon ({reason})",
                via="invalid_grant",
            )

    @property
    def consent(self) -> ConsentLedger:
        """The consent ledger beside the token store."""
        return ConsentLedger.beside(self.tokens.path)

    def exchange_code(self, username: str, code: str, redirect_uri: str = "", code_verifier: str = "") -> TokenSet:
        """Trade an authorization code for tokens and store them: ``redirect_uri`` as at the authorization step, and
        the PKCE ``code_verifier`` when the authorization sent a ``code_challenge``."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            self._http.add_secrets(code_verifier)
            form["code_verifier"] = code_verifier
        return self._token_request(username, form)

    def revoke(self, username: str) -> None:
        """End ``username``'s authorisation at TikTok (``POST /v2/oauth/revoke/``), then forget their tokens."""
        tokens = self.tokens.get(username)
        if tokens is None:
            raise MissingCredentialsError(f"no OAuth tokens stored for creator {username!r} in {self.tokens.path}")
        if not tokens.reauthorize:  # a refused grant is already over at TikTok: nothing to revoke there
            form = {
                "client_key": self.client_key,
                "client_secret": self._client_secret.get_secret_value(),
                "token": self.access_token(username).get_secret_value(),
            }
            with call_context(subject=username, purpose="token revoke"):
                exchange = self._http.request("POST", "/v2/oauth/revoke/", data=form, name="oauth/revoke")
            response = exchange.last.response
            if exchange.exhausted or response is None:
                raise TikTokApiError(f"oauth/revoke for {username} failed after retries: {exchange.last.error_text()}")
            refused = OAuthErrorBody.of(decode_body(response)[0])
            if refused is not None or response.status_code != 200:
                what = refused or OAuthErrorBody(error=f"HTTP {response.status_code}")
                raise refusal(username, "revoke", what, self._http.redact)
        if tokens.open_id:
            reason = "revoked by the app (tiktok-pipeline tokens revoke)"
            record_revocation(
                self.tokens,
                self.consent,
                open_id=tokens.open_id,
                revoked_at=self._now(),
                reason=reason,
                via="tokens revoke",
            )
        self.tokens.remove(username)

    def refresh(self, username: str) -> TokenSet:
        """Refresh ``username``'s access token; the rotated refresh token is persisted at once."""
        current = self._stored(username)
        if current is None:
            return self._bootstrap(username)
        self.stats["token_refreshes"] += 1
        log.info("refreshing access token of %s", username)
        return self._token_request(
            username,
            {"grant_type": "refresh_token", "refresh_token": current.refresh_token.get_secret_value()},
        )

    def _stored(self, username: str) -> TokenSet | None:
        """The stored tokens; :class:`ReauthorizationRequired` if TikTok already refused them or the grant was revoked
        (no request made)."""
        tokens = self.tokens.get(username)
        if tokens is not None and tokens.reauthorize:
            self.stats["reauthorisation_required"] += 1
            raise ReauthorizationRequired(username, REAUTHORIZE_GRANT_ERROR, f"refused earlier: {tokens.reauthorize}")
        revoked = revocation_for(username, tokens, self.consent.revocations())
        if revoked is not None:
            self.stats["reauthorisation_required"] += 1
            detail = f"authorisation revoked at {revoked.revoked_at.isoformat()} ({revoked.via}): {revoked.reason}"
            raise ReauthorizationRequired(username, REVOKED_CODE, detail)
        return tokens

    def _bootstrap(self, username: str) -> TokenSet:
        if self._unattended_code is not None:
            return self.exchange_code(username, self._unattended_code(username))
        raise MissingCredentialsError(
            f"no OAuth tokens stored for creator {username!r} in {self.tokens.path}. The creator must authorise "
            "the app (Login Kit); then store the refresh token with "
            f"`tiktok-pipeline tokens add {username}` (it reads the token from standard input).",
            code="missing_credentials",
        )

    def access_token(self, username: str) -> SecretStr:
        """A valid access token for ``username``, refreshed ahead of its ``expires_in``.

        A creator whose refresh token TikTok refused raises :class:`ReauthorizationRequired` at once, without asking
        TikTok again, until ``tokens add`` stores new tokens.
        """
        tokens = self._stored(username)
        if tokens is None:
            tokens = self._bootstrap(username)
        elif tokens.needs_refresh(self._now()):
            tokens = self.refresh(username)
        self._http.add_secrets(tokens.access_token.get_secret_value())
        return tokens.access_token
