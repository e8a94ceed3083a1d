"""Dagster resources: the Display API connection and the collection settings that go with it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field, SecretStr

from tiktok_pipeline.ingest.polling.policy import PollingPolicy
from tiktok_pipeline.ingest.registry import TrackingRegistry, load_registry
from tiktok_pipeline.quality.schemas import QualityPolicy
from tiktok_pipeline.settings import Settings, load_settings
from tiktok_pipeline.sources.business_api.client import BusinessApiClient
from tiktok_pipeline.sources.display_api.client import DisplayApiClient, RetryPolicy
from tiktok_pipeline.sources.display_api.ratelimit import SlidingWindowLimiter
from tiktok_pipeline.sources.display_api.tokens import TokenStore

SIMULATOR_BASE_URL = "http://tiktok-simulator.invalid"


class DisplayApiResource(dg.ConfigurableResource):
    """TikTok Display API v2: ``base_url`` (real or served simulator), or the in-process simulator when unset."""

    base_url: str | None = Field(default=None, description="API host; None means the embedded simulator.")
    simulator: bool = Field(default=True, description="The host is a simulator: windows are observed as of their end.")
    client_key: str = "sim-client"
    client_secret: str = Field(default="sim-secret", description="From TIKTOK_CLIENT_SECRET via EnvVar.")
    token_store_path: str
    landing_dir: str
    sim_seed: int = 7
    tracking_horizon_days: float = 7.0
    max_window_age_minutes: float = 15.0
    requests_per_minute: int = 590
    max_attempts: int = 5
    timeout_seconds: float = 20.0

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.tracking_horizon_days)

    @property
    def max_window_age(self) -> timedelta:
        return timedelta(minutes=self.max_window_age_minutes)

    @contextmanager
    def client(self) -> Iterator[DisplayApiClient]:
        """A client for one run; against the simulator it talks to an in-process instance."""
        transport = None
        if not self.base_url:
            from tiktok_pipeline.simulator.app import Simulator
            from tiktok_pipeline.simulator.world import WorldConfig

            transport = Simulator(WorldConfig(seed=self.sim_seed)).transport()
        with DisplayApiClient(
            self.base_url or SIMULATOR_BASE_URL,
            client_key=self.client_key,
            client_secret=SecretStr(self.client_secret),
            token_store=TokenStore(Path(self.token_store_path)),
            transport=transport,
            limiter=SlidingWindowLimiter(self.requests_per_minute),
            retry=RetryPolicy(max_attempts=self.max_attempts),
            timeout_seconds=self.timeout_seconds,
            simulator=self.simulator,
        ) as client:
            yield client


class TrackingRegistryResource(dg.ConfigurableResource):
    """The tracking registry file: tracked creators with their campaigns, SKUs and audience tags."""

    path: str

    def load(self) -> TrackingRegistry:
        return load_registry(Path(self.path))


class PollingResource(dg.ConfigurableResource):
    """The polling sensor's configuration: where the polling state lives, the policy, and when windows start.

    Built from ``Settings`` (:meth:`from_settings`); the policy fields are the ``TIKTOK_POLL_*`` settings.
    """

    state_dir: str
    tracking_horizon_days: float = 7.0
    partitions_start: str = Field(default="", description="First window (ISO 8601, UTC): TIKTOK_PARTITIONS_START.")
    warm_up: bool = Field(default=False, description="The first tick also fills the 30 minutes before (simulator).")
    policy_settings: dict[str, float] = Field(default_factory=dict, description="The TIKTOK_POLL_* values.")

    @classmethod
    def from_settings(cls, settings: Settings) -> PollingResource:
        return cls(
            state_dir=str(settings.polling_state_dir),
            tracking_horizon_days=settings.display.tracking_horizon_days,
            partitions_start=settings.partitions_start.isoformat(),
            warm_up=settings.uses_simulator,
            policy_settings=settings.polling.model_dump(),
        )

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.tracking_horizon_days)

    @property
    def policy(self) -> PollingPolicy:
        return PollingPolicy(**self.policy_settings)

    @property
    def start(self) -> datetime:
        return (
            datetime.fromisoformat(self.partitions_start) if self.partitions_start else load_settings().partitions_start
        )


class QualityResource(dg.ConfigurableResource):
    """The quality checks' thresholds (``TIKTOK_QUALITY_*``), built from ``settings.quality``."""

    thresholds: dict[str, float] = Field(default_factory=dict, description="The TIKTOK_QUALITY_* values.")

    @classmethod
    def from_settings(cls, settings: Settings) -> QualityResource:
        values = settings.quality.model_dump()
        values["max_observation_delay"] = settings.quality.max_observation_delay.total_seconds()
        return cls(thresholds=values)

    @property
    def policy(self) -> QualityPolicy:
        values: dict[str, object] = dict(self.thresholds)
        if "max_observation_delay" in values:
            values["max_observation_delay"] = timedelta(seconds=float(values["max_observation_delay"]))  # type: ignore[arg-type]
        return QualityPolicy(**values)  # type: ignore[arg-type]


class BusinessApiResource(dg.ConfigurableResource):
    """TikTok API for Business v1.3 (reporting, Events API): ``base_url``, or the in-process simulator when unset."""

    base_url: str | None = Field(default=None, description="API for Business host; None means the embedded simulator.")
    access_token: str = Field(default="sim-business-token", description="From TIKTOK_BUSINESS_ACCESS_TOKEN via EnvVar.")
    advertiser_id: str = Field(
        default="7000000000000000001", description="The advertiser account reports are read for."
    )
    sim_seed: int = 7
    max_attempts: int = 5
    timeout_seconds: float = 30.0
    simulator: bool = Field(
        default=False, description="base_url is a served simulator: reads are answered as of the window's end."
    )

    @contextmanager
    def client(self) -> Iterator[BusinessApiClient]:
        """A client for one run; against the embedded simulator it talks to an in-process instance."""
        transport = None
        if not self.base_url:
            from tiktok_pipeline.simulator.app import Simulator
            from tiktok_pipeline.simulator.world import WorldConfig

            transport = Simulator(WorldConfig(seed=self.sim_seed)).transport()
        with BusinessApiClient(
            self.base_url or SIMULATOR_BASE_URL,
            access_token=SecretStr(self.access_token),
            transport=transport,
            retry=RetryPolicy(max_attempts=self.max_attempts),
            timeout_seconds=self.timeout_seconds,
            simulator=self.simulator or not self.base_url,
        ) as client:
            yield client
