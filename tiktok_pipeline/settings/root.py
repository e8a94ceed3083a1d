"""The top-level settings: runtime paths, the partitions' start, the simulator's seed and the domains."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tiktok_pipeline.settings import domains
from tiktok_pipeline.settings.activation import MerchandisingSettings, SwapSettings
from tiktok_pipeline.settings.digest import DigestSettings
from tiktok_pipeline.settings.domains import DATA_DIR
from tiktok_pipeline.settings.live import LiveSettings
from tiktok_pipeline.settings.pacing import PacingSettings
from tiktok_pipeline.settings.provider import ProviderSettings
from tiktok_pipeline.settings.shop import ShopSettings
from tiktok_pipeline.settings.surge import SurgeSettings
from tiktok_pipeline.settings.warehouse import WarehouseTarget, check_url, parse_target
from tiktok_pipeline.windows import on_boundary

SIMULATOR_PIXEL_CODE = "CSIMULATORPIXEL00001"
SIMULATOR_EVENT_SETS = {"offline": "7300000000000000001", "crm": "7300000000000000002"}
"""The simulator's offline and CRM event sets (``simulator.business.events.SIM_EVENT_SETS``)."""
DEFAULT_WAREHOUSE_LOCK_TIMEOUT = 600.0
"""Seconds a warehouse connection waits for the lock: a burst of window runs takes turns within it."""


class Settings(BaseSettings):
    """Runtime configuration, read from ``TIKTOK_*`` environment variables (see README → Configuration)."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_", extra="ignore", frozen=True)

    warehouse_path: Path = Field(default=DATA_DIR / "warehouse.duckdb", description="The DuckDB warehouse file.")
    warehouse_url: SecretStr | None = Field(
        default=None,
        description=(
            "The warehouse: duckdb:<file> (default: duckdb:TIKTOK_WAREHOUSE_PATH) or ducklake:postgres:<libpq "
            "conninfo> (a secret when it holds a password)."
        ),
    )
    lake_data_path: str | None = Field(
        default=None, description="DuckLake only: where its Parquet files go (a folder, or s3://bucket/prefix/)."
    )
    warehouse_lock_timeout_seconds: float = Field(
        default=DEFAULT_WAREHOUSE_LOCK_TIMEOUT,
        gt=0,
        le=86_400,
        description=(
            "How long a step waits for the warehouse while another process holds it (the writer lock, or an outside "
            "DuckDB session) before failing with the holder's name."
        ),
    )
    landing_dir: Path = Field(default=DATA_DIR / "landing", description="Where raw responses are landed.")
    token_store_path: Path = Field(default=DATA_DIR / "tokens.json", description="Creators' OAuth tokens (mode 0600).")
    registry_path: Path = Field(
        default=DATA_DIR / "tracking_registry.json", description="The tracking registry (creators, campaigns, SKUs)."
    )
    polling_state_dir: Path = Field(
        default=DATA_DIR / "polling_state", description="Polling state the polling sensor plans from."
    )
    partitions_start: datetime = Field(
        default=datetime(2026, 11, 1, tzinfo=UTC),
        description=(
            "First 5-minute window, an ISO 8601 instant in the past (UTC unless an offset is given), on a 5-minute "
            "boundary. Keep it recent: the UI is tuned for <=100k partitions."
        ),
    )
    sim_seed: int = Field(default=7, description="Seed of the embedded simulator's world.")
    risk_acceptances_path: Path = Field(
        default=DATA_DIR / "risk_acceptances.json",
        description=(
            "Recorded risk acceptances of unofficial sources (JSON; README → Sources). A missing file records none:"
            " every unofficial source is then refused when the definitions load."
        ),
    )

    display: domains.DisplaySettings = Field(default_factory=domains.DisplaySettings)
    polling: domains.PollingSettings = Field(default_factory=domains.PollingSettings)
    quality: domains.QualitySettings = Field(default_factory=domains.QualitySettings)
    ads: domains.AdsSettings = Field(default_factory=domains.AdsSettings)
    conversions: domains.ConversionSettings = Field(default_factory=domains.ConversionSettings)
    alerts: domains.AlertSettings = Field(default_factory=domains.AlertSettings)
    retention: domains.RetentionSettings = Field(default_factory=domains.RetentionSettings)
    live: LiveSettings = Field(default_factory=LiveSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    swaps: SwapSettings = Field(default_factory=SwapSettings)
    merchandising: MerchandisingSettings = Field(default_factory=MerchandisingSettings)
    pacing: PacingSettings = Field(default_factory=PacingSettings)
    surge: SurgeSettings = Field(default_factory=SurgeSettings)
    provider: ProviderSettings = Field(default_factory=ProviderSettings)
    shop: ShopSettings = Field(default_factory=ShopSettings)

    @field_validator("warehouse_url")
    @classmethod
    def _known_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_url(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _one_warehouse(self) -> Settings:
        self.warehouse  # noqa: B018 (raises ValueError, naming the variables, when they disagree)
        return self

    @property
    def warehouse(self) -> WarehouseTarget:
        """Where the warehouse is (a DuckDB file or a DuckLake), from TIKTOK_WAREHOUSE_URL / _PATH / TIKTOK_LAKE_DATA_PATH."""
        return parse_target(
            self.warehouse_url.get_secret_value() if self.warehouse_url is not None else None,
            path=self.warehouse_path,
            path_given="warehouse_path" in self.model_fields_set and self.warehouse_url is not None,
            data_path=self.lake_data_path,
        )

    @field_validator("partitions_start")
    @classmethod
    def _past_utc_boundary(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if not on_boundary(value):
            raise ValueError(f"{value.isoformat()} is not on a 5-minute boundary (e.g. 2026-11-01T00:00:00Z)")
        if value > datetime.now(UTC):
            raise ValueError(
                f"{value.isoformat()} is in the future: no 5-minute window would exist yet; use a past instant"
            )
        return value

    def replace(self, **changes: object) -> Settings:
        """A copy with ``changes``; a key ``domain__field`` (e.g. ``display__api_base_url``) changes a sub-setting."""
        top: dict[str, object] = {}
        nested: dict[str, dict[str, object]] = {}
        for key, value in changes.items():
            domain, _, field = key.partition("__")
            if field:
                nested.setdefault(domain, {})[field] = value
            else:
                top[key] = value
        for domain, fields in nested.items():
            top[domain] = getattr(self, domain).model_copy(update=fields)
        return self.model_copy(update=top)

    def switched_on(self) -> frozenset[str]:
        """The source switches (settings) that are on: the LIVE intake's, the analytics provider's."""
        return self.live.switched_on() | self.provider.switched_on()

    @property
    def provider_base_url(self) -> str | None:
        """Where the analytics provider is: its own host, the served simulator's, or None (in-process)."""
        if self.provider.base_url:
            return self.provider.base_url
        return self.display.api_base_url if self.display.uses_simulator else None

    @property
    def uses_simulator(self) -> bool:
        """The Display API is a simulator (see ``domains.DisplaySettings.uses_simulator``)."""
        return self.display.uses_simulator

    @property
    def business_base_url(self) -> str | None:
        """Where the API for Business is: its own host, the served simulator's, or None (in-process)."""
        if self.ads.business_api_base_url:
            return self.ads.business_api_base_url
        return self.display.api_base_url if self.display.uses_simulator else None

    @property
    def shop_base_url(self) -> str | None:
        """Where the Shop API is: its own host, the served simulator's, or None (in-process)."""
        if self.shop.api_base_url:
            return self.shop.api_base_url
        return self.display.api_base_url if self.display.uses_simulator else None

    @property
    def shop_token_store_path(self) -> Path:
        """TIKTOK_SHOP_TOKEN_STORE_PATH, else ``shop_tokens.json`` beside the creators' token store."""
        return self.shop.token_store_path or self.token_store_path.with_name("shop_tokens.json")

    @property
    def shop_sensor_on(self) -> bool:
        """Whether shop_orders_sensor runs by default: TIKTOK_SHOP_SENSOR_ENABLED, else on with a host or the
        simulator throughout (never simulated sales beside real creators)."""
        if self.shop.sensor_enabled is not None:
            return self.shop.sensor_enabled
        return bool(self.shop.api_base_url) or self.display.uses_simulator

    @property
    def ads_sensor_on(self) -> bool:
        """Whether the ads sensor runs by default (see ``domains.AdsSettings.ads_enabled``)."""
        if self.ads.ads_enabled is not None:
            return self.ads.ads_enabled
        return bool(self.ads.business_api_base_url) or self.display.uses_simulator

    @property
    def events_pixel_code(self) -> str:
        """The pixel conversions go to: TIKTOK_PIXEL_CODE, else the simulator's; empty against a real host without one."""
        if self.conversions.pixel_code:
            return self.conversions.pixel_code
        return SIMULATOR_PIXEL_CODE if self.ads.uses_simulator else ""

    @property
    def events_event_sets(self) -> dict[str, str]:
        """event_source → event set id for offline and CRM orders: TIKTOK_OFFLINE_EVENT_SET_ID and
        TIKTOK_CRM_EVENT_SET_ID, else the simulator's; a source without one is left out (its orders quarantined)."""
        configured = {"offline": self.conversions.offline_event_set_id, "crm": self.conversions.crm_event_set_id}
        simulated = SIMULATOR_EVENT_SETS if self.ads.uses_simulator else {}
        chosen = {source: value or simulated.get(source) for source, value in configured.items()}
        return {source: value for source, value in chosen.items() if value}
