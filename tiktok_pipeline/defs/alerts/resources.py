"""Where alerts go, instantiated in ``definitions.py`` from ``settings.alerts`` and the webhook variables."""

import os
from datetime import timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field, SecretStr

from tiktok_pipeline.activation.alerts.delivery import Destination
from tiktok_pipeline.activation.alerts.triggers import TokenWatch
from tiktok_pipeline.settings import Settings


class AlertsResource(dg.ConfigurableResource):
    """Where alerts go. Webhook URLs come from TIKTOK_SLACK_WEBHOOK_URL / TIKTOK_TEAMS_WEBHOOK_URL via EnvVar."""

    slack_webhook_url: str | None = Field(default=None, description="Secret: TIKTOK_SLACK_WEBHOOK_URL via EnvVar.")
    teams_webhook_url: str | None = Field(default=None, description="Secret: TIKTOK_TEAMS_WEBHOOK_URL via EnvVar.")
    dagster_ui_url: str = Field(description="TIKTOK_DAGSTER_UI_URL.")
    momentum_threshold: float = Field(description="TIKTOK_ALERT_MOMENTUM_THRESHOLD.")
    max_attempts: int = Field(description="TIKTOK_MAX_ATTEMPTS.")
    max_retry_seconds: float = Field(description="TIKTOK_HTTP_MAX_RETRY_SECONDS.")
    token_store_path: str = Field(description="TIKTOK_TOKEN_STORE_PATH: whose refresh tokens end soon.")
    refresh_token_warn_days: float = Field(description="TIKTOK_REFRESH_TOKEN_WARN_DAYS.")
    digest_enabled: bool = Field(default=False, description="TIKTOK_DIGEST_ENABLED: one digest per window.")
    live_viewer_threshold: int | None = Field(
        default=None, description="TIKTOK_LIVE_VIEWER_ALERT_THRESHOLD (only with the LIVE intake on)."
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> "AlertsResource":
        """Webhook URLs are secrets: only as EnvVar, and only when set (then that destination is on)."""
        return cls(
            slack_webhook_url=_optional_secret("TIKTOK_SLACK_WEBHOOK_URL"),
            teams_webhook_url=_optional_secret("TIKTOK_TEAMS_WEBHOOK_URL"),
            dagster_ui_url=settings.alerts.dagster_ui_url,
            momentum_threshold=settings.alerts.alert_momentum_threshold,
            max_attempts=settings.display.max_attempts,
            max_retry_seconds=settings.display.http_max_retry_seconds,
            token_store_path=str(settings.token_store_path),
            refresh_token_warn_days=settings.alerts.refresh_token_warn_days,
            digest_enabled=settings.digest.enabled,
            live_viewer_threshold=settings.live.viewer_alert_threshold if settings.live.enabled else None,
        )

    def token_watch(self) -> TokenWatch:
        """Which token store the alert sensor reads, and how long before a refresh token ends it warns."""
        return TokenWatch(Path(self.token_store_path), timedelta(days=self.refresh_token_warn_days))

    def destinations(self) -> list[Destination]:
        """The configured Slack and Teams webhooks."""
        pairs = (("slack", self.slack_webhook_url), ("teams", self.teams_webhook_url))
        return [Destination(kind=kind, url=SecretStr(url)) for kind, url in pairs if url]


def _optional_secret(name: str) -> dg.EnvVar | None:
    """An EnvVar for a secret that may be left unset (then the feature it enables is off)."""
    return dg.EnvVar(name) if os.environ.get(name) else None
