"""The per-window digest (``TIKTOK_DIGEST_*``): off unless enabled; it goes where alerts go."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DigestSettings(BaseSettings):
    """Whether the newest closed window's digest is sent to the alert channels (Slack/Teams)."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_DIGEST_", extra="ignore", frozen=True)

    enabled: bool = Field(
        default=False,
        description=(
            "Send one digest per window (top movers, alerts raised, and the other activation sections) to the alert"
            " webhooks, for the newest closed window only (never for backfills). Off by default: a message every"
            " five minutes is opt-in."
        ),
    )
