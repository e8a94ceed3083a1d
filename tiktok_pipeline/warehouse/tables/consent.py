"""``creator_consent``: one row per authorised creator's consent, refreshed from the token store and its consent
ledger (:mod:`tiktok_pipeline.sources.display_api.consent`); never a token."""

from __future__ import annotations

from tiktok_pipeline.governance.owners import DATA_PLATFORM
from tiktok_pipeline.warehouse.tables.spec import Column, Identifies, Retention, TableSpec

CREATOR_CONSENT = TableSpec(
    "creator_consent",
    (
        Column("creator_username", "VARCHAR", "Handle of the creator (null for a revocation of an unknown open_id)."),
        Column("open_id", "VARCHAR", "The creator's open_id for this app.", Identifies.OPEN_ID),
        Column("scopes", "VARCHAR[]", "The scopes the creator granted the app (TikTok's token answer)."),
        Column("granted_at", "TIMESTAMP", "When the creator authorised the app (or tokens add stored the grant), UTC."),
        Column(
            "refresh_expires_at",
            "TIMESTAMP",
            "When the refresh token chain ends (TikTok's fixed horizon from the authorization), UTC; null if unknown.",
        ),
        Column(
            "status",
            "VARCHAR",
            "active, revoked (authorization.removed webhook, invalid_grant before the horizon, tokens revoke) or"
            " reauthorize-needed (the horizon ended, or TikTok refused the refresh token after it). Only active"
            " creators are polled.",
        ),
        Column("revoked_at", "TIMESTAMP", "When the grant was revoked (the webhook's create_time), UTC."),
        Column("revoked_via", "VARCHAR", "How the revocation became known: webhook, invalid_grant or tokens revoke."),
        Column("revoked_reason", "VARCHAR", "Why: TikTok's reason code in words, or TikTok's refusal code and log_id."),
        Column("purged_at", "TIMESTAMP", "When tiktok-pipeline creators purge deleted the creator's data, UTC."),
        Column("refreshed_at", "TIMESTAMP", "When this table was refreshed from the token store, UTC."),
    ),
    description=(
        "One row per authorised creator: the scopes they granted, when, the refresh-token horizon, and whether the"
        " grant is active, revoked (when, how, why) or needs re-authorisation. Refreshed whole from the token store"
        " and its consent ledger; no token is ever stored here."
    ),
    owner=DATA_PLATFORM,
    sources=("display_api",),
    retention=Retention.LATEST,
)
"""The consent records (``creator_consent`` asset, group ``govern``)."""
