"""The ads domain's runtime configuration, instantiated from ``settings.ads`` in ``definitions.py``."""

from datetime import timedelta

import dagster as dg
from pydantic import Field

from tiktok_pipeline.ingest.collect.ads import AdFetchOptions
from tiktok_pipeline.settings import Settings


class AdReportingResource(dg.ConfigurableResource):
    """Where ad reports are landed, how much of the report each window re-fetches, and how long ads wait for videos.

    Defaults live in ``AdsSettings`` (``TIKTOK_AD_*``) only.
    """

    landing_dir: str = Field(description="Landing zone root (TIKTOK_LANDING_DIR).")
    lookback_hours: int = Field(description="Hours before the window's end re-fetched and replaced.")
    attribution_days: int = Field(description="Days before the lookback the daily re-fetch replaces.")
    advertiser_timezone: str | None = Field(
        description="TIKTOK_ADVERTISER_TIMEZONE: overrides the account's time zone (None: read from advertiser/info)."
    )
    page_size: int = Field(description="Rows per report page.")
    wait_for_videos_minutes: float = Field(
        description="How long after a window closed the ads sensor waits for its video metrics."
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> "AdReportingResource":
        return cls(
            landing_dir=str(settings.landing_dir),
            lookback_hours=settings.ads.ad_lookback_hours,
            attribution_days=settings.ads.ad_attribution_days,
            advertiser_timezone=settings.ads.advertiser_timezone,
            page_size=settings.ads.ad_report_page_size,
            wait_for_videos_minutes=settings.ads.ad_wait_for_videos_minutes,
        )

    @property
    def options(self) -> AdFetchOptions:
        return AdFetchOptions(self.lookback_hours, self.advertiser_timezone, self.page_size, self.attribution_days)

    @property
    def wait_for_videos(self) -> timedelta:
        return timedelta(minutes=self.wait_for_videos_minutes)
