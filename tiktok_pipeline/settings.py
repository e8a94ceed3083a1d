"""Every environment variable the pipeline reads, with its default, in one place.

Secrets (the TikTok client secret) are read here only to decide *whether* they are set;
their values reach resources through ``dagster.EnvVar`` so they never appear in run config,
metadata or logs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tiktok_pipeline.ingest.polling.policy import PollingPolicy
from tiktok_pipeline.quality.schemas import QualityPolicy

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
MIN_RETENTION_DAYS = 2
"""Whole days of window rows retention always keeps besides today: velocity reads up to 24 h + 30 min
back, the quality checks and the polling state one day back."""


class Settings(BaseSettings):
    """Runtime configuration, read from ``TIKTOK_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_", extra="ignore")

    api_base_url: str | None = Field(
        default=None,
        description="Display API host, e.g. https://open.tiktokapis.com. Unset: the in-process simulator.",
    )
    api_is_simulator: bool | None = Field(
        default=None,
        description="Treat the host as the simulator (as-of observation). Default: true only when no host is set.",
    )
    client_key: str = Field(default="sim-client", description="TikTok app client key (not a secret).")
    warehouse_path: Path = Field(default=DATA_DIR / "warehouse.duckdb")
    landing_dir: Path = Field(default=DATA_DIR / "landing")
    token_store_path: Path = Field(default=DATA_DIR / "tokens.json")
    registry_path: Path = Field(default=DATA_DIR / "tracking_registry.json")
    polling_state_dir: Path = Field(default=DATA_DIR / "polling_state")
    partitions_start: datetime = Field(
        default=datetime(2026, 11, 1, tzinfo=UTC),
        description="First 5-minute window (UTC). Keep it recent: the UI is tuned for <=100k partitions.",
    )
    retention_days: int = Field(
        default=35,
        ge=MIN_RETENTION_DAYS,
        description=(
            "Window rows are kept for today and this many whole days before it (UTC); older days are deleted"
            " once their daily rollups hold them (landing files are kept). At least 2: velocity and the"
            " quality checks read the previous 24 h."
        ),
    )
    sim_seed: int = Field(default=7, description="Seed of the embedded simulator's world.")
    tracking_horizon_days: float = Field(default=7.0, gt=0, description="Videos younger than this are polled.")
    max_window_age_minutes: float = Field(
        default=15.0,
        gt=0,
        description="Against a real host, a window may be observed at most this long after it closed.",
    )
    requests_per_minute: int = Field(
        default=590,
        gt=0,
        le=600,
        description=(
            "Client-side limit per endpoint (the API allows 600 in any 60 s). The limiter's window slides like "
            "TikTok's, so 590 leaves a margin for clock drift; a rare 429 is retried."
        ),
    )
    max_attempts: int = Field(default=5, ge=1, description="Attempts per request on 429/5xx/timeouts.")
    request_timeout_seconds: float = Field(default=20.0, gt=0)

    poll_hot_momentum: float = Field(default=1.0, description="Momentum at or above which a video is hot.")
    poll_warm_momentum: float = Field(default=0.5, description="Momentum at or above which a video is warm.")
    poll_hot_every_minutes: int = Field(default=5, ge=5)
    poll_warm_every_minutes: int = Field(default=10, ge=5)
    poll_cold_every_minutes: int = Field(default=15, ge=5)
    poll_discovery_every_minutes: int = Field(default=60, ge=5)
    poll_budget_requests: int | None = Field(
        default=None, ge=1, description="Requests per window; default 90% of 600/min × 5 min."
    )

    def polling_policy(self) -> PollingPolicy:
        """The adaptive polling policy from the ``TIKTOK_POLL_*`` variables."""
        values = {
            "hot_momentum": self.poll_hot_momentum,
            "warm_momentum": self.poll_warm_momentum,
            "hot_every_minutes": self.poll_hot_every_minutes,
            "warm_every_minutes": self.poll_warm_every_minutes,
            "cold_every_minutes": self.poll_cold_every_minutes,
            "discovery_every_minutes": self.poll_discovery_every_minutes,
        }
        if self.poll_budget_requests is not None:
            values["budget_requests"] = self.poll_budget_requests
        return PollingPolicy(**values)

    business_api_base_url: str | None = Field(
        default=None,
        description=(
            "API for Business host, e.g. https://business-api.tiktok.com. Unset: the simulator (the served one "
            "at TIKTOK_API_BASE_URL when that is a simulator, else the in-process one)."
        ),
    )
    advertiser_id: str = Field(default="7000000000000000001", description="Advertiser account of the ad reports.")

    @property
    def business_base_url(self) -> str | None:
        """Where the API for Business is: its own host, the served simulator's, or None (in-process)."""
        if self.business_api_base_url:
            return self.business_api_base_url
        return self.api_base_url if self.uses_simulator else None

    @property
    def business_uses_simulator(self) -> bool:
        """The API for Business is a simulator (in-process or served): ad reports are read as of each window's end."""
        return not self.business_api_base_url

    ad_lookback_hours: int = Field(
        default=6,
        ge=1,
        le=48,
        description=(
            "Every window re-fetches the hourly ad report for the current hour and this many hours before it and"
            " replaces them (attribution revises recent hours). At least the API's revision horizon."
        ),
    )
    advertiser_timezone: str = Field(
        default="UTC", description="Time zone of the advertiser account: report dates and stat_time_hour are in it."
    )
    ad_report_page_size: int = Field(
        default=1000, ge=1, le=1000, description="Rows per report page (TikTok allows 1000)."
    )
    ads_enabled: bool | None = Field(
        default=None,
        description=(
            "Turn the ads sensor on by default. Unset: on when TIKTOK_BUSINESS_API_BASE_URL is set or the Display API"
            " is the simulator too (never simulated ads beside real creators)."
        ),
    )
    ad_wait_for_videos_minutes: float = Field(
        default=3.0,
        ge=0,
        description="How long after a window closes the ads sensor waits for its video metrics before running without them.",
    )

    @property
    def ads_sensor_on(self) -> bool:
        """Whether the ads sensor runs by default (see ``ads_enabled``)."""
        if self.ads_enabled is not None:
            return self.ads_enabled
        return bool(self.business_api_base_url) or self.uses_simulator

    @field_validator("advertiser_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"TIKTOK_ADVERTISER_TIMEZONE {value!r} is not an IANA time zone") from exc
        return value

    conversions_dir: Path = Field(
        default=DATA_DIR / "conversions" / "incoming",
        description="Where the shop drops its order exports (JSON lines; format in tiktok_pipeline/conversions/orders.py).",
    )
    pixel_code: str | None = Field(
        default=None,
        description="TikTok Pixel code (event_source_id) conversions go to. Unset: the simulator's pixel, when the API for Business is the simulator.",
    )
    test_event_code: str = Field(
        default="",
        description="Events API test_event_code (Events Manager → Test events); empty sends production events.",
    )
    default_phone_region: str = Field(
        default="US", description="Region (ISO 3166 alpha-2) of phone numbers exported without a +country code."
    )
    conversions_resend_ambiguous_hours: float = Field(
        default=47.0,
        ge=0,
        lt=48,
        description=(
            "Events whose request got no answer are resent while their first attempt is younger than this, inside"
            " TikTok's 48-hour deduplication window (a resend TikTok already had is dropped). 0: never resend them."
        ),
    )
    conversions_batch_size: int = Field(
        default=1000, ge=1, le=1000, description="Events per event/track request (TikTok allows 1000)."
    )

    @property
    def events_pixel_code(self) -> str:
        """The pixel conversions go to: TIKTOK_PIXEL_CODE, else the simulator's; empty against a real host without one."""
        if self.pixel_code:
            return self.pixel_code
        return "CSIMULATORPIXEL00001" if self.business_uses_simulator else ""

    @field_validator("default_phone_region")
    @classmethod
    def _phone_region(cls, value: str) -> str:
        import phonenumbers

        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"TIKTOK_DEFAULT_PHONE_REGION {value!r} is not a region phonenumbers knows (e.g. US, GB, DE)"
            )
        return value.upper()

    dagster_ui_url: str = Field(default="http://localhost:3000", description="Base URL alerts link to.")
    alert_momentum_threshold: float = Field(default=3.0, gt=0, description="Momentum that triggers a business alert.")
    quality_max_engagement_rate: float = Field(default=2.0, gt=0)
    quality_max_view_jump_factor: float = Field(default=50.0, gt=1)
    quality_max_bad_record_share: float = Field(default=0.05, ge=0, le=1)
    quality_creator_silence_minutes: int = Field(default=90, ge=5)

    def quality_policy(self) -> QualityPolicy:
        """Thresholds of the quality checks from the ``TIKTOK_QUALITY_*`` variables."""
        return QualityPolicy(
            max_engagement_rate=self.quality_max_engagement_rate,
            max_view_jump_factor=self.quality_max_view_jump_factor,
            max_bad_record_share=self.quality_max_bad_record_share,
            creator_silence_minutes=self.quality_creator_silence_minutes,
        )

    @field_validator("partitions_start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def uses_simulator(self) -> bool:
        """True for the in-process simulator, or a served one named by TIKTOK_API_IS_SIMULATOR."""
        return self.api_is_simulator if self.api_is_simulator is not None else not self.api_base_url
