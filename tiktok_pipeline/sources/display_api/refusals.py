"""TikTok's OAuth refusals as errors: which ones only the creator can fix, and what the message says."""

from __future__ import annotations

from collections.abc import Callable

from tiktok_pipeline.sources.display_api.calls import ReauthorizationRequired, TikTokApiError
from tiktok_pipeline.sources.display_api.models import OAuthErrorBody
from tiktok_pipeline.sources.http.decode import escaped

REAUTHORIZE_GRANT_ERROR = "invalid_grant"
"""TikTok's OAuth error for a refresh token (or code) that is expired, revoked or rotated out: the creator must
authorise again. Other OAuth errors (``invalid_client``, ``invalid_request``, ...) are the app's to fix."""


def refusal(username: str, grant_type: str, refused: OAuthErrorBody, redact: Callable[[str], str]) -> TikTokApiError:
    """The error for TikTok's OAuth refusal ``refused`` (whatever HTTP status carried it): a
    :class:`ReauthorizationRequired` for ``invalid_grant``, else a :class:`TikTokApiError` with TikTok's code.

    ``redact`` removes secrets the answer may echo; every part is escaped and bounded.
    """
    detail = escaped(redact(refused.error_description or "no description"))[:300]
    log_id = escaped(redact(refused.log_id))[:100] or None
    code = escaped(redact(refused.error))[:100]
    if code == REAUTHORIZE_GRANT_ERROR and grant_type != "revoke":
        return ReauthorizationRequired(username, code, f"oauth/token ({grant_type}): {detail}", log_id=log_id)
    return TikTokApiError(f"oauth ({grant_type}) for {username} refused: {code} ({detail}), log_id={log_id}", code=code)
