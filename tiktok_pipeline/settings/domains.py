"""One settings class per domain; the variable of a field is its class's prefix + the field's name, upper-cased."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tiktok_pipeline.settings.retention import MIN_RETENTION_DAYS as MIN_RETENTION_DAYS  # moved; re-exported
from tiktok_pipeline.settings.retention import RetentionSettings as RetentionSettings
from tiktok_pipeline.windows import WINDOW_MINUTES

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DATA_DIR = PROJECT_ROOT / "data"
POLL_BUDGET_SHARE = 0.9
"""Share of an endpoint's rate limit over a window that its default polling budget plans: the rest is headroom for
retried requests (429s, 5xx, timeouts) and retries of failed windows."""
POLLED_ENDPOINTS = ("user/info", "video/list", "video/query")
"""The Display API endpoints the polling plan budgets, each against its own rate limit."""
HTTP_MAX_RETRY_SECONDS = 120.0
"""Default of TIKTOK_HTTP_MAX_RETRY_SECONDS (also the HTTP layer's ``RetryPolicy`` default)."""


def _config(prefix: str = "TIKTOK_") -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", frozen=True)


class DisplaySettings(BaseSettings):
    """The Display API host and how the client treats it (``TIKTOK_*``)."""

    model_config = _config()

    api_base_url: str | None = Field(
        default=None,
        description="Display API host, e.g. https://open.tiktokapis.com. Unset: the in-process simulator.",
    )
    api_is_simulator: bool | None = Field(
        default=None,
        description="Treat the host as the simulator (as-of observation). Default: true only when no host is set.",
    )
    client_key: str = Field(default="sim-client", description="TikTok app client key (not a secret).")
    tracking_horizon_days: float = Field(default=7.0, gt=0, description="Videos younger than this are polled.")
    max_window_age_minutes: float = Field(
        default=15.0,
        gt=0,
        description="Against a real host, a window may be observed at most this long after it closed.",
    )
    requests_per_minute: int | None = Field(
        default=None,
        gt=0,
        description=(
            "Client-side limit per Display API endpoint and minute. Unset: the declared source's (590; TikTok allows"
            " 600 in any 60 s, tiktok_pipeline/governance/sources.py). May lower it; above the declared limit is"
            " refused when the resources are built."
        ),
    )
    max_attempts: int = Field(default=5, ge=1, description="Attempts per request on 429/5xx/timeouts.")
    http_max_retry_seconds: float = Field(
        default=HTTP_MAX_RETRY_SECONDS,
        ge=0,
        description=(
            "Most seconds one outbound call (Display API, API for Business, Slack/Teams) spends in attempts and waits"
            " between them. A wait that would pass it (a Retry-After as the server asked it, or the backoff) ends"
            " the call at once as throttled; each single wait is also capped at 60 s."
        ),
    )
    request_timeout_seconds: float = Field(default=20.0, gt=0, description="Seconds before a request times out.")

    @property
    def uses_simulator(self) -> bool:
        """True for the in-process simulator, or a served one named by TIKTOK_API_IS_SIMULATOR."""
        return self.api_is_simulator if self.api_is_simulator is not None else not self.api_base_url

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.tracking_horizon_days)


class PollingSettings(BaseSettings):
    """Adaptive polling: cadence tiers from momentum, the request budget and backoff (``TIKTOK_POLL_*``)."""

    model_config = _config("TIKTOK_POLL_")

    hot_momentum: float = Field(default=1.0, description="Momentum at or above this is hot (polled every window).")
    warm_momentum: float = Field(default=0.5, description="Momentum at or above this (and below hot) is warm.")
    hot_every_minutes: int = Field(default=5, ge=5, description="Polling interval of hot videos.")
    warm_every_minutes: int = Field(default=10, ge=5, description="Polling interval of warm videos.")
    cold_every_minutes: int = Field(default=15, ge=5, description="Polling interval of cold videos.")
    young_hours: float = Field(
        default=24.0,
        ge=0,
        description=(
            "Videos younger than this are polled every window like hot ones (breakouts come in a video's first"
            " day or so), and a video's claim on a short budget halves with every such span of age. 0: off."
        ),
    )
    discovery_every_minutes: int = Field(
        default=60, ge=5, description="video/list cadence per creator (finds new videos, observes all recent ones)."
    )
    budget_user_info: int | None = Field(
        default=None,
        ge=1,
        description="user/info requests per window. Unset: 90% of TIKTOK_REQUESTS_PER_MINUTE over 5 minutes (2,655 by default).",
    )
    budget_video_list: int | None = Field(
        default=None,
        ge=1,
        description="video/list requests per window. Unset: 90% of TIKTOK_REQUESTS_PER_MINUTE over 5 minutes (2,655 by default).",
    )
    budget_video_query: int | None = Field(
        default=None,
        ge=1,
        description="video/query requests per window. Unset: 90% of TIKTOK_REQUESTS_PER_MINUTE over 5 minutes (2,655 by default).",
    )
    budget_requests: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Optional overall cap: requests per window, all endpoints together, on top of the per-endpoint budgets."
            " Unset: no overall cap."
        ),
    )
    max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description=(
            "Times the polling sensor requests a window again after its run failed (while it can still be observed);"
            " then the window is marked as a gap."
        ),
    )
    max_backoff: float = Field(default=4.0, ge=1, description="Largest backoff factor after throttling.")
    recovery: float = Field(default=0.75, gt=0, lt=1, description="Backoff multiplier per clean window.")

    def endpoint_budgets(self, requests_per_minute: int) -> dict[str, int]:
        """Requests per window of each polled endpoint: its ``TIKTOK_POLL_BUDGET_*`` setting, else
        :data:`POLL_BUDGET_SHARE` of ``requests_per_minute`` (TIKTOK_REQUESTS_PER_MINUTE as resolved against the
        declared source, ``governance.rate_limits.display_requests_per_minute``) over one window."""
        derived = int(requests_per_minute * WINDOW_MINUTES * POLL_BUDGET_SHARE)
        configured = (self.budget_user_info, self.budget_video_list, self.budget_video_query)
        return {e: derived if b is None else b for e, b in zip(POLLED_ENDPOINTS, configured, strict=True)}


class QualitySettings(BaseSettings):
    """Thresholds of the quality checks (``TIKTOK_QUALITY_*``)."""

    model_config = _config("TIKTOK_QUALITY_")

    max_engagement_rate: float = Field(
        default=2.0,
        gt=0,
        description="Engagement rate above this is flagged by a WARN check (kept: TikTok's counters update separately).",
    )
    max_view_jump_factor: float = Field(
        default=50.0, gt=1, description="Views growing more than this × between observations."
    )
    max_bad_record_share: float = Field(default=0.05, ge=0, le=1, description="Quarantined share that fails a window.")
    creator_silence_minutes: int = Field(
        default=90, ge=5, description="A creator with no video observation this long is silent."
    )
    max_observation_delay: timedelta = Field(
        default=timedelta(minutes=30), description="observed_at may trail the window's end by this much (real hosts)."
    )


class AdsSettings(BaseSettings):
    """The API for Business: ad reporting (``TIKTOK_*``)."""

    model_config = _config()

    business_api_base_url: str | None = Field(
        default=None,
        description=(
            "API for Business host, e.g. https://business-api.tiktok.com. Unset: the simulator (the served one "
            "at TIKTOK_API_BASE_URL when that is a simulator, else the in-process one)."
        ),
    )
    advertiser_id: str = Field(default="7000000000000000001", description="Advertiser account of the ad reports.")
    ad_lookback_hours: int = Field(
        default=6,
        ge=1,
        le=48,
        description=(
            "Every window re-fetches the hourly ad report for the current hour and this many hours before it and"
            " replaces them: the fresh hours, which move most. Older revisions come with the daily re-fetch of"
            " TIKTOK_AD_ATTRIBUTION_DAYS."
        ),
    )
    ad_attribution_days: int = Field(
        default=7,
        ge=1,
        le=28,
        description=(
            "Once a day the ads run also re-fetches every hour of this many days before the lookback (whole days of"
            " the advertiser's time zone) and replaces them: TikTok keeps attributing conversions to an hour for up to"
            " 7 days after a view and 28 after a click."
        ),
    )
    advertiser_timezone: str | None = Field(
        default=None,
        description=(
            "Overrides the advertiser account's time zone (an IANA name), which report dates and stat_time_hour are"
            " in. Unset: the account's own, read from advertiser/info once per run."
        ),
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
    business_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Seconds before an API for Business request times out."
    )
    business_requests_per_second: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Requests a second the API for Business client keeps to, every endpoint and client of the process"
            " together (reporting and the Events API): the app's QPS tier (TikTok grants 10, 20 or 30; over it"
            " answers 40100), or less to leave room for other processes using the same app. Unset: the declared"
            " sources' (10, the lowest tier); above their declared limit (30) is refused when the resources are built."
        ),
    )

    @field_validator("advertiser_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. UTC, America/New_York)") from exc
        return value

    @property
    def uses_simulator(self) -> bool:
        """The API for Business is a simulator (in-process or served): ad reports are read as of each window's end."""
        return not self.business_api_base_url


class ConversionSettings(BaseSettings):
    """Server-side conversions to the Events API (``TIKTOK_*``)."""

    model_config = _config()

    conversions_dir: Path = Field(
        default=DATA_DIR / "conversions" / "incoming",
        description="Where the shop drops its order exports (JSON lines; format in tiktok_pipeline/activation/conversions/orders.py).",
    )
    pixel_code: str | None = Field(
        default=None,
        description="TikTok Pixel code (event_source_id) conversions go to. Unset: the simulator's pixel, when the API for Business is the simulator.",
    )
    offline_event_set_id: str | None = Field(
        default=None,
        description=(
            "Offline event set id (event_source_id) of orders exported with event_source offline."
            " Unset: the simulator's, when the API for Business is the simulator; else such orders are quarantined."
        ),
    )
    crm_event_set_id: str | None = Field(
        default=None,
        description=(
            "CRM event set id (event_source_id) of orders exported with event_source crm."
            " Unset: the simulator's, when the API for Business is the simulator; else such orders are quarantined."
        ),
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
    conversions_settle_seconds: float = Field(
        default=300.0,
        ge=0,
        description=(
            "An export modified less than this many seconds ago that cannot be read completely yet (a truncated"
            " gzip, no newline after its last line, an I/O error) is taken as still being written: left for a later"
            " run, never quarantined. Older, it is read as it is and what cannot be read is quarantined."
        ),
    )

    @field_validator("default_phone_region")
    @classmethod
    def _phone_region(cls, value: str) -> str:
        import phonenumbers

        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows (e.g. US, GB, DE)")
        return value.upper()


class AlertSettings(BaseSettings):
    """Alerts to Slack and Microsoft Teams (``TIKTOK_*``; the webhook URLs are secrets, read only as EnvVar)."""

    model_config = _config()

    dagster_ui_url: str = Field(default="http://localhost:3000", description="Base URL alerts link to.")
    alert_momentum_threshold: float = Field(default=3.0, gt=0, description="Momentum that triggers a business alert.")
    refresh_token_warn_days: float = Field(
        default=30.0,
        ge=0,
        le=365,
        description=(
            "Days before a creator's refresh token ends (TikTok's fixed horizon from the authorization) at which an"
            " alert names the creator, so they can authorise again in time; 0 warns only once it has ended."
        ),
    )
