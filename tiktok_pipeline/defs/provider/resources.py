"""The analytics provider's connection, from ``settings.provider`` (only built when the provider is switched on)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import dagster as dg
from pydantic import Field, SecretStr

from tiktok_pipeline.defs.resources import embedded_simulator
from tiktok_pipeline.governance.rate_limits import provider_requests_per_minute
from tiktok_pipeline.settings import Settings, SettingsError
from tiktok_pipeline.settings.provider import SIMULATOR_PASSWORD
from tiktok_pipeline.sources.analytics_provider.client import ProviderClient
from tiktok_pipeline.sources.http import SIMULATOR_HOOKS, RetryPolicy, SlidingWindowLimiter

SIMULATOR_BASE_URL = "http://tiktok-simulator.invalid"
PASSWORD_VARIABLE = "TIKTOK_PROVIDER_PASSWORD"


def _password(settings: Settings) -> str | dg.EnvVar:
    if PASSWORD_VARIABLE in os.environ:
        return dg.EnvVar(PASSWORD_VARIABLE)
    if not settings.provider.base_url:
        return SIMULATOR_PASSWORD
    raise SettingsError(
        f"TIKTOK_PROVIDER_BASE_URL is {settings.provider.base_url!r} but {PASSWORD_VARIABLE} is not set: the provider"
        " needs the account's password (HTTP Basic)"
    )


class AnalyticsProviderResource(dg.ConfigurableResource):
    """The approved analytics provider: ``base_url`` (real or served simulator), or the in-process simulator."""

    base_url: str | None = Field(description="Provider host (TIKTOK_PROVIDER_BASE_URL); None: the embedded simulator.")
    simulator: bool = Field(description="The host is the simulator: windows are observed as of their end.")
    username: str = Field(description="TIKTOK_PROVIDER_USERNAME.")
    password: str = Field(description="From TIKTOK_PROVIDER_PASSWORD via EnvVar.")
    sim_seed: int = Field(description="TIKTOK_SIM_SEED.")
    landing_dir: str = Field(description="TIKTOK_LANDING_DIR.")
    requests_per_minute: int = Field(description="TIKTOK_PROVIDER_REQUESTS_PER_MINUTE, else the declared source's.")
    page_size: int = Field(description="TIKTOK_PROVIDER_PAGE_SIZE.")
    max_pages: int = Field(description="TIKTOK_PROVIDER_MAX_PAGES.")
    refresh_minutes: float = Field(description="TIKTOK_PROVIDER_REFRESH_MINUTES (assumed refresh interval).")
    max_window_age_minutes: float = Field(description="TIKTOK_MAX_WINDOW_AGE_MINUTES.")
    max_attempts: int = Field(description="TIKTOK_MAX_ATTEMPTS.")
    max_retry_seconds: float = Field(description="TIKTOK_HTTP_MAX_RETRY_SECONDS.")
    timeout_seconds: float = Field(description="TIKTOK_REQUEST_TIMEOUT_SECONDS.")

    @classmethod
    def from_settings(cls, settings: Settings) -> AnalyticsProviderResource:
        provider = settings.provider
        return cls(
            base_url=settings.provider_base_url,
            simulator=not provider.base_url,
            username=provider.username,
            password=_password(settings),
            sim_seed=settings.sim_seed,
            landing_dir=str(settings.landing_dir),
            requests_per_minute=provider_requests_per_minute(provider.requests_per_minute),
            page_size=provider.page_size,
            max_pages=provider.max_pages,
            refresh_minutes=provider.refresh_minutes,
            max_window_age_minutes=settings.display.max_window_age_minutes,
            max_attempts=settings.display.max_attempts,
            max_retry_seconds=settings.display.http_max_retry_seconds,
            timeout_seconds=settings.display.request_timeout_seconds,
        )

    @property
    def max_window_age(self) -> timedelta:
        return timedelta(minutes=self.max_window_age_minutes)

    @contextmanager
    def client(self) -> Iterator[ProviderClient]:
        """A client for one run; against the embedded simulator it talks to an in-process instance."""
        transport = embedded_simulator(self.base_url, self.sim_seed)
        with ProviderClient(
            self.base_url or SIMULATOR_BASE_URL,
            username=self.username,
            password=SecretStr(self.password),
            transport=transport,
            limiter=SlidingWindowLimiter(self.requests_per_minute, 60.0),
            retry=RetryPolicy(max_attempts=self.max_attempts, max_retry_seconds=self.max_retry_seconds),
            timeout_seconds=self.timeout_seconds,
            request_hooks=SIMULATOR_HOOKS if self.simulator else (),
        ) as client:
            yield client


def provider_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """``analytics_provider`` when the provider is switched on, else nothing."""
    return (
        {"analytics_provider": AnalyticsProviderResource.from_settings(settings)} if settings.provider.enabled else {}
    )
