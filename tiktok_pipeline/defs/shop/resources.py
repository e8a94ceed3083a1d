"""The TikTok Shop connection, from ``settings.shop`` (the app secret only as ``dagster.EnvVar``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field, SecretStr

from tiktok_pipeline.defs.resources import embedded_simulator
from tiktok_pipeline.governance.rate_limits import shop_requests_per_second
from tiktok_pipeline.settings import Settings, SettingsError
from tiktok_pipeline.sources.http import SIMULATOR_HOOKS, RetryPolicy, SlidingWindowLimiter
from tiktok_pipeline.sources.shop_api.client import ShopApiClient
from tiktok_pipeline.sources.shop_api.tokens import ShopTokenStore

SIMULATOR_BASE_URL = "http://tiktok-simulator.invalid"
SIMULATOR_APP_SECRET = "sim-shop-secret"
SIMULATOR_AUTH_CODE = "sim-shop-auth-code"
"""The simulator's unattended authorisation code (``simulator/shop/app.py``), used only against a simulator."""
ARRIVAL_MARGIN_SECONDS = 0.1


def shop_app_secret(settings: Settings) -> str | dg.EnvVar:
    """TIKTOK_SHOP_APP_SECRET as EnvVar; the simulator's without one; refused against a real host without one."""
    if "TIKTOK_SHOP_APP_SECRET" in os.environ:
        return dg.EnvVar("TIKTOK_SHOP_APP_SECRET")
    if settings.shop.uses_simulator:
        return SIMULATOR_APP_SECRET
    raise SettingsError(
        f"TIKTOK_SHOP_API_BASE_URL is {settings.shop.api_base_url!r} but TIKTOK_SHOP_APP_SECRET is not set: the Shop"
        " API needs the app secret to sign every request"
    )


class ShopApiResource(dg.ConfigurableResource):
    """TikTok Shop Partner API: ``base_url`` (real or served simulator), or the in-process simulator when unset."""

    base_url: str | None = Field(description="Shop API host; None means the embedded simulator.")
    auth_base_url: str | None = Field(description="TIKTOK_SHOP_AUTH_BASE_URL (token get/refresh), else base_url.")
    app_key: str = Field(description="TIKTOK_SHOP_APP_KEY.")
    app_secret: str = Field(description="From TIKTOK_SHOP_APP_SECRET via EnvVar.")
    token_store_path: str = Field(description="TIKTOK_SHOP_TOKEN_STORE_PATH.")
    landing_dir: str = Field(description="TIKTOK_LANDING_DIR.")
    sim_seed: int = Field(description="TIKTOK_SIM_SEED.")
    simulator: bool = Field(description="A simulator answers: windows are observed as of their end, tokens unattended.")
    requests_per_second: float = Field(description="TIKTOK_SHOP_REQUESTS_PER_SECOND, else the declared source's.")
    page_size: int = Field(description="TIKTOK_SHOP_PAGE_SIZE.")
    max_window_age_minutes: float = Field(description="TIKTOK_MAX_WINDOW_AGE_MINUTES.")
    max_attempts: int = Field(description="TIKTOK_MAX_ATTEMPTS.")
    max_retry_seconds: float = Field(description="TIKTOK_HTTP_MAX_RETRY_SECONDS.")
    timeout_seconds: float = Field(description="TIKTOK_REQUEST_TIMEOUT_SECONDS.")

    @classmethod
    def from_settings(cls, settings: Settings) -> ShopApiResource:
        return cls(
            base_url=settings.shop_base_url,
            auth_base_url=settings.shop.auth_base_url,
            app_key=settings.shop.app_key,
            app_secret=shop_app_secret(settings),
            token_store_path=str(settings.shop_token_store_path),
            landing_dir=str(settings.landing_dir),
            sim_seed=settings.sim_seed,
            simulator=settings.shop.uses_simulator,
            requests_per_second=shop_requests_per_second(settings.shop.requests_per_second),
            page_size=settings.shop.page_size,
            max_window_age_minutes=settings.display.max_window_age_minutes,
            max_attempts=settings.display.max_attempts,
            max_retry_seconds=settings.display.http_max_retry_seconds,
            timeout_seconds=settings.display.request_timeout_seconds,
        )

    @property
    def max_window_age(self) -> timedelta:
        return timedelta(minutes=self.max_window_age_minutes)

    @contextmanager
    def client(self) -> Iterator[ShopApiClient]:
        """A client for one run; against the embedded simulator it talks to an in-process instance."""
        transport = embedded_simulator(self.base_url, self.sim_seed)
        rate = self.requests_per_second
        limit = max(1, int(rate))
        with ShopApiClient(
            self.base_url or SIMULATOR_BASE_URL,
            app_key=self.app_key,
            app_secret=SecretStr(self.app_secret),
            token_store=ShopTokenStore(Path(self.token_store_path)),
            auth_base_url=self.auth_base_url,
            transport=transport,
            retry=RetryPolicy(max_attempts=self.max_attempts, max_retry_seconds=self.max_retry_seconds),
            limiter=SlidingWindowLimiter(limit, max(1.0, limit / rate) + ARRIVAL_MARGIN_SECONDS),
            timeout_seconds=self.timeout_seconds,
            request_hooks=SIMULATOR_HOOKS if self.simulator else (),
            unattended_code=SIMULATOR_AUTH_CODE if self.simulator else None,
        ) as client:
            yield client
