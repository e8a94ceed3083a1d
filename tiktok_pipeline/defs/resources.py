"""Dagster resources: the Display API connection and the collection settings that go with it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
from pydantic import Field, SecretStr

from tiktok_pipeline.governance.rate_limits import (
    business_requests_per_second,
    display_limit,
    display_requests_per_minute,
)
from tiktok_pipeline.ingest.polling.policy import PollingPolicy
from tiktok_pipeline.ingest.registry import TrackingRegistry, load_registry
from tiktok_pipeline.quality.schemas import QualityPolicy
from tiktok_pipeline.settings import Settings, SettingsError
from tiktok_pipeline.sources.business_api.client import BusinessApiClient
from tiktok_pipeline.sources.display_api.client import DisplayApiClient, simulator_code
from tiktok_pipeline.sources.display_api.tokens import TokenStore
from tiktok_pipeline.sources.http import SIMULATOR_HOOKS, RetryPolicy, SlidingWindowLimiter

SIMULATOR_BASE_URL = "http://tiktok-simulator.invalid"


def _client_secret(settings: Settings) -> str | dg.EnvVar:
    if "TIKTOK_CLIENT_SECRET" in os.environ:
        return dg.EnvVar("TIKTOK_CLIENT_SECRET")
    if settings.uses_simulator:
        return "sim-secret"
    raise SettingsError(
        f"TIKTOK_API_BASE_URL is {settings.display.api_base_url!r} but TIKTOK_CLIENT_SECRET is not set: "
        "the real API needs the app's client secret to refresh creators' tokens"
    )


def _business_access_token(settings: Settings) -> str | dg.EnvVar:
    if "TIKTOK_BUSINESS_ACCESS_TOKEN" in os.environ:
        return dg.EnvVar("TIKTOK_BUSINESS_ACCESS_TOKEN")
    if settings.ads.uses_simulator:
        return "sim-business-token"
    raise SettingsError(
        f"TIKTOK_BUSINESS_API_BASE_URL is {settings.business_base_url!r} but TIKTOK_BUSINESS_ACCESS_TOKEN is not set: "
        "the API for Business needs a long-lived access token from TikTok for Business"
    )


def _warehouse_url(settings: Settings) -> str | dg.EnvVar:
    """A lake's URL (its conninfo may hold a password) as ``EnvVar`` when the environment sets it; else as resolved."""
    target = settings.warehouse
    if target.is_lake and os.environ.get("TIKTOK_WAREHOUSE_URL"):
        return dg.EnvVar("TIKTOK_WAREHOUSE_URL")
    if target.is_lake:
        assert settings.warehouse_url is not None
        return settings.warehouse_url.get_secret_value()
    return f"duckdb:{target.path}"


class DisplayApiResource(dg.ConfigurableResource):
    """TikTok Display API v2: ``base_url`` (real or served simulator), or the in-process simulator when unset."""

    base_url: str | None = Field(description="API host (TIKTOK_API_BASE_URL); None means the embedded simulator.")
    simulator: bool = Field(
        description="The host is a simulator: windows are observed as of their end (the as-of hook is installed)"
        " and creators authorise unattended.",
    )
    client_key: str = Field(description="TIKTOK_CLIENT_KEY.")
    client_secret: str = Field(description="From TIKTOK_CLIENT_SECRET via EnvVar.")
    token_store_path: str = Field(description="TIKTOK_TOKEN_STORE_PATH.")
    landing_dir: str = Field(description="TIKTOK_LANDING_DIR.")
    sim_seed: int = Field(description="TIKTOK_SIM_SEED.")
    tracking_horizon_days: float = Field(description="TIKTOK_TRACKING_HORIZON_DAYS.")
    max_window_age_minutes: float = Field(description="TIKTOK_MAX_WINDOW_AGE_MINUTES.")
    requests_per_minute: int = Field(
        description="TIKTOK_REQUESTS_PER_MINUTE, else the declared source's; never above its declared limit."
    )
    max_attempts: int = Field(description="TIKTOK_MAX_ATTEMPTS.")
    max_retry_seconds: float = Field(description="TIKTOK_HTTP_MAX_RETRY_SECONDS.")
    timeout_seconds: float = Field(description="TIKTOK_REQUEST_TIMEOUT_SECONDS.")

    @classmethod
    def from_settings(cls, settings: Settings) -> DisplayApiResource:
        display = settings.display
        return cls(
            base_url=display.api_base_url,
            simulator=display.uses_simulator,
            client_key=display.client_key,
            client_secret=_client_secret(settings),
            token_store_path=str(settings.token_store_path),
            landing_dir=str(settings.landing_dir),
            sim_seed=settings.sim_seed,
            tracking_horizon_days=display.tracking_horizon_days,
            max_window_age_minutes=display.max_window_age_minutes,
            requests_per_minute=display_requests_per_minute(display.requests_per_minute),
            max_attempts=display.max_attempts,
            max_retry_seconds=display.http_max_retry_seconds,
            timeout_seconds=display.request_timeout_seconds,
        )

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.tracking_horizon_days)

    @property
    def max_window_age(self) -> timedelta:
        return timedelta(minutes=self.max_window_age_minutes)

    @property
    def observe_at_window_end(self) -> bool:
        """Windows are observed as of their end (a simulator answers for any instant), not now (TikTok)."""
        return self.simulator

    @contextmanager
    def client(self) -> Iterator[DisplayApiClient]:
        """A client for one run; against the simulator it talks to an in-process instance."""
        transport = embedded_simulator(self.base_url, self.sim_seed)
        with DisplayApiClient(
            self.base_url or SIMULATOR_BASE_URL,
            client_key=self.client_key,
            client_secret=SecretStr(self.client_secret),
            token_store=TokenStore(Path(self.token_store_path)),
            transport=transport,
            limiter=SlidingWindowLimiter(self.requests_per_minute, display_limit().window_seconds),
            retry=RetryPolicy(max_attempts=self.max_attempts, max_retry_seconds=self.max_retry_seconds),
            timeout_seconds=self.timeout_seconds,
            request_hooks=SIMULATOR_HOOKS if self.simulator else (),
            unattended_code=simulator_code if self.simulator else None,
        ) as client:
            yield client


class TrackingRegistryResource(dg.ConfigurableResource):
    """The tracking registry file: tracked creators with their campaigns, SKUs and audience tags."""

    path: str = Field(description="TIKTOK_REGISTRY_PATH.")

    def load(self) -> TrackingRegistry:
        return load_registry(Path(self.path))


def resolved_policy_settings(settings: Settings) -> dict[str, float]:
    """The ``TIKTOK_POLL_*`` values with each endpoint's budget resolved from TIKTOK_REQUESTS_PER_MINUTE when unset
    (and no overall cap when ``TIKTOK_POLL_BUDGET_REQUESTS`` is unset)."""
    budgets = settings.polling.endpoint_budgets(display_requests_per_minute(settings.display.requests_per_minute))
    resolved = {f"budget_{endpoint.replace('/', '_')}": budget for endpoint, budget in budgets.items()}
    return {**settings.polling.model_dump(exclude_none=True), **resolved}


class PollingResource(dg.ConfigurableResource):
    """The polling sensor's configuration: where the polling state lives, the policy, and when windows start.

    Built from ``Settings`` (:meth:`from_settings`); the policy fields are the ``TIKTOK_POLL_*`` settings.
    """

    state_dir: str = Field(description="TIKTOK_POLLING_STATE_DIR.")
    tracking_horizon_days: float = Field(description="TIKTOK_TRACKING_HORIZON_DAYS.")
    partitions_start: str = Field(description="First window (ISO 8601, UTC): TIKTOK_PARTITIONS_START.")
    warm_up: bool = Field(description="The first tick also fills the 30 minutes before (simulator).")
    policy_settings: dict[str, float] = Field(description="The TIKTOK_POLL_* values.")

    @classmethod
    def from_settings(cls, settings: Settings) -> PollingResource:
        return cls(
            state_dir=str(settings.polling_state_dir),
            tracking_horizon_days=settings.display.tracking_horizon_days,
            partitions_start=settings.partitions_start.isoformat(),
            warm_up=settings.uses_simulator,
            policy_settings=resolved_policy_settings(settings),
        )

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.tracking_horizon_days)

    @property
    def policy(self) -> PollingPolicy:
        return PollingPolicy.model_validate(self.policy_settings)  # validated, not re-read from the environment

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.partitions_start)


class QualityResource(dg.ConfigurableResource):
    """The quality checks' thresholds (``TIKTOK_QUALITY_*``), built from ``settings.quality``."""

    thresholds: dict[str, float] = Field(description="The TIKTOK_QUALITY_* values.")

    @classmethod
    def from_settings(cls, settings: Settings) -> QualityResource:
        values = settings.quality.model_dump()
        values["max_observation_delay"] = settings.quality.max_observation_delay.total_seconds()
        return cls(thresholds=values)

    @property
    def policy(self) -> QualityPolicy:
        return QualityPolicy.model_validate(self.thresholds)  # max_observation_delay in seconds, as pydantic reads it


class BusinessApiResource(dg.ConfigurableResource):
    """TikTok API for Business v1.3 (reporting, Events API): ``base_url``, or the in-process simulator when unset."""

    base_url: str | None = Field(description="API for Business host; None means the embedded simulator.")
    access_token: str = Field(description="From TIKTOK_BUSINESS_ACCESS_TOKEN via EnvVar.")
    advertiser_id: str = Field(description="The advertiser account reports are read for (TIKTOK_ADVERTISER_ID).")
    sim_seed: int = Field(description="TIKTOK_SIM_SEED.")
    max_attempts: int = Field(description="TIKTOK_MAX_ATTEMPTS.")
    max_retry_seconds: float = Field(description="TIKTOK_HTTP_MAX_RETRY_SECONDS.")
    timeout_seconds: float = Field(description="TIKTOK_BUSINESS_TIMEOUT_SECONDS.")
    requests_per_second: float = Field(
        description="TIKTOK_BUSINESS_REQUESTS_PER_SECOND (the app's QPS tier), else the declared sources'."
    )
    simulator: bool = Field(description="base_url is a served simulator: reads are answered as of the window's end.")
    sim_budget_state: str = Field(
        default="",
        description=(
            "The embedded simulator's ad group budget changes, kept across runs (a file under TIKTOK_LANDING_DIR);"
            " empty: in memory only."
        ),
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> BusinessApiResource:
        return cls(
            base_url=settings.business_base_url,
            access_token=_business_access_token(settings),
            advertiser_id=settings.ads.advertiser_id,
            sim_seed=settings.sim_seed,
            max_attempts=settings.display.max_attempts,
            max_retry_seconds=settings.display.http_max_retry_seconds,
            timeout_seconds=settings.ads.business_timeout_seconds,
            requests_per_second=business_requests_per_second(settings.ads.business_requests_per_second),
            simulator=settings.ads.uses_simulator,
            sim_budget_state=str(embedded_budget_state(settings.landing_dir, settings.sim_seed)),
        )

    @property
    def observe_at_window_end(self) -> bool:
        """Reports are read as of each window's end (a simulator, embedded or served), not now (TikTok)."""
        return self.simulator or not self.base_url

    @contextmanager
    def client(self) -> Iterator[BusinessApiClient]:
        """A client for one run; against the embedded simulator it talks to an in-process instance."""
        state = Path(self.sim_budget_state) if self.sim_budget_state else None
        transport = embedded_simulator(self.base_url, self.sim_seed, budget_state=state)
        with BusinessApiClient(
            self.base_url or SIMULATOR_BASE_URL,
            access_token=SecretStr(self.access_token),
            transport=transport,
            retry=RetryPolicy(max_attempts=self.max_attempts, max_retry_seconds=self.max_retry_seconds),
            requests_per_second=self.requests_per_second,
            timeout_seconds=self.timeout_seconds,
            request_hooks=SIMULATOR_HOOKS if self.observe_at_window_end else (),
        ) as client:
            yield client


def embedded_simulator(
    base_url: str | None, seed: int, *, budget_state: Path | None = None
) -> httpx.BaseTransport | None:
    """The in-process simulator's transport when no host is configured (the embedded default), else None: every
    source's resource talks to it the same way. ``budget_state``: where it keeps applied ad group budget changes."""
    if base_url:
        return None
    from tiktok_pipeline.simulator.app import Simulator
    from tiktok_pipeline.simulator.world import WorldConfig

    return Simulator(WorldConfig(seed=seed), budget_state=budget_state).transport()


def embedded_budget_state(landing_dir: Path, seed: int) -> Path:
    """Where the embedded simulator keeps applied ad group budget changes, so ``TIKTOK_PACING_MODE=apply`` and
    ``tiktok-pipeline pacing revert`` see one run's changes in the next, as against a served simulator or TikTok."""
    return Path(landing_dir) / "simulator_state" / f"adgroup_budgets-seed{seed}.json"


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every resource of the project, from ``settings`` (secrets only as ``dagster.EnvVar``)."""
    from tiktok_pipeline.defs.ads.resources import AdReportingResource
    from tiktok_pipeline.defs.alerts.resources import AlertsResource
    from tiktok_pipeline.defs.conversions.resources import ConversionsResource
    from tiktok_pipeline.defs.governance.resources import RiskAcceptancesResource
    from tiktok_pipeline.defs.live.resources import live_resources
    from tiktok_pipeline.defs.merchandising.resources import MerchandisingResource
    from tiktok_pipeline.defs.pacing.resources import PacingResource
    from tiktok_pipeline.defs.provider.resources import provider_resources
    from tiktok_pipeline.defs.retention.resources import RetentionResource
    from tiktok_pipeline.defs.shop.resources import ShopApiResource
    from tiktok_pipeline.defs.swaps.resources import SwapsResource
    from tiktok_pipeline.warehouse.io import WarehouseResource

    return {
        "display_api": DisplayApiResource.from_settings(settings),
        "business_api": BusinessApiResource.from_settings(settings),
        "tracking_registry": TrackingRegistryResource(path=str(settings.registry_path)),
        "polling": PollingResource.from_settings(settings),
        "quality": QualityResource.from_settings(settings),
        "warehouse": WarehouseResource(
            url=_warehouse_url(settings),
            lake_data_path=settings.warehouse.data_path,
            lock_timeout_seconds=settings.warehouse_lock_timeout_seconds,
        ),
        "ad_reporting": AdReportingResource.from_settings(settings),
        "conversions": ConversionsResource.from_settings(settings),
        "alerts": AlertsResource.from_settings(settings),
        "retention": RetentionResource.from_settings(settings),
        "swaps": SwapsResource.from_settings(settings),
        "merchandising": MerchandisingResource.from_settings(settings),
        "pacing": PacingResource.from_settings(settings),
        "shop_api": ShopApiResource.from_settings(settings),
        "risk_acceptances": RiskAcceptancesResource(
            path=str(settings.risk_acceptances_path), switched_on=sorted(settings.switched_on())
        ),
        **live_resources(settings),
        **provider_resources(settings),
    }
