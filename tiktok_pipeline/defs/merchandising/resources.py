"""Where the merchandising feed goes: ``settings.merchandising`` and the webhook's secrets (EnvVar only)."""

import os

import dagster as dg
from pydantic import Field

from tiktok_pipeline.activation.merchandising.webhook import FeedPusher
from tiktok_pipeline.settings import Settings, SettingsError
from tiktok_pipeline.sources.http import RetryPolicy

WEBHOOK_URL = "TIKTOK_MERCH_WEBHOOK_URL"
WEBHOOK_SECRET = "TIKTOK_MERCH_WEBHOOK_SECRET"


class MerchandisingResource(dg.ConfigurableResource):
    """The feed folder and size, and, when configured, the webhook (URL and signing key from EnvVar)."""

    feed_dir: str = Field(description="TIKTOK_MERCH_FEED_DIR.")
    feed_size: int = Field(description="TIKTOK_MERCH_FEED_SIZE.")
    webhook_url: str | None = Field(default=None, description=f"Secret: {WEBHOOK_URL} via EnvVar.")
    webhook_secret: str | None = Field(default=None, description=f"Secret: {WEBHOOK_SECRET} via EnvVar.")
    max_attempts: int = Field(description="TIKTOK_MAX_ATTEMPTS.")
    max_retry_seconds: float = Field(description="TIKTOK_HTTP_MAX_RETRY_SECONDS.")

    @classmethod
    def from_settings(cls, settings: Settings) -> "MerchandisingResource":
        """The webhook is on when its URL is set; then its signing key must be set too (never pushed unsigned)."""
        url_set, secret_set = bool(os.environ.get(WEBHOOK_URL)), bool(os.environ.get(WEBHOOK_SECRET))
        if url_set and not secret_set:
            raise SettingsError(
                f"{WEBHOOK_URL} is set but {WEBHOOK_SECRET} is not: the merchandising feed is never pushed unsigned"
            )
        return cls(
            feed_dir=str(settings.merchandising.feed_dir),
            feed_size=settings.merchandising.feed_size,
            webhook_url=dg.EnvVar(WEBHOOK_URL) if url_set else None,
            webhook_secret=dg.EnvVar(WEBHOOK_SECRET) if url_set else None,
            max_attempts=settings.display.max_attempts,
            max_retry_seconds=settings.display.http_max_retry_seconds,
        )

    def pusher(self) -> FeedPusher | None:
        """A pusher to the webhook, or None when none is configured."""
        if not self.webhook_url or not self.webhook_secret:
            return None
        retry = RetryPolicy(max_attempts=self.max_attempts, max_retry_seconds=self.max_retry_seconds)
        return FeedPusher(self.webhook_url, self.webhook_secret, retry=retry)
