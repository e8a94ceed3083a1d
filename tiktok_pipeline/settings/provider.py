"""The approved analytics provider (``TIKTOK_PROVIDER_*``): an EchoTik-style API, off unless switched on.

The provider's password is a secret, not a setting: it reaches the resource only as ``dagster.EnvVar``
(``TIKTOK_PROVIDER_PASSWORD``; unset against the simulator, whose credentials are known).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROVIDER_SWITCH = "TIKTOK_PROVIDER_ENABLED"
"""The setting that turns the provider on (the ``switch`` of the ``analytics_provider`` source declaration)."""
SIMULATOR_USERNAME = "sim-provider"
SIMULATOR_PASSWORD = "sim-provider-secret"
"""The simulator's provider account (``simulator.provider.catalog.ProviderConfig``), used when no host is set."""


class ProviderSettings(BaseSettings):
    """Where the analytics provider is, whose account is used and what its data is assumed to be."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_PROVIDER_", extra="ignore", frozen=True)

    enabled: bool = Field(
        default=False,
        description=(
            "Poll the approved analytics provider every window (its rows land in raw_video_snapshots with source"
            " analytics_provider). Off: its definitions are not loaded and nothing calls it."
        ),
    )
    base_url: str | None = Field(
        default=None,
        description=(
            "Provider host, e.g. https://open.echotik.live (paths /api/v2/...). Unset: the simulator's provider (the"
            " served simulator's host when TIKTOK_API_BASE_URL names one, else in-process)."
        ),
    )
    username: str = Field(
        default=SIMULATOR_USERNAME,
        description="The provider account's HTTP Basic user name (its password: TIKTOK_PROVIDER_PASSWORD, a secret).",
    )
    requests_per_minute: int | None = Field(
        default=None,
        gt=0,
        description=(
            "Client-side limit over a sliding minute for the whole account. Unset: the declared source's"
            " (governance/sources.py); above the declared limit is refused when the resources are built."
        ),
    )
    page_size: int = Field(default=20, ge=1, le=20, description="Records asked per page (the provider allows 20).")
    max_pages: int = Field(
        default=25, ge=1, description="Most pages read per list (creators, a creator's videos) in one window."
    )
    refresh_minutes: float = Field(
        default=15.0,
        gt=0,
        description=(
            "How often the provider is assumed to refresh a creator's data (not published; the validation benchmark"
            " measures it). Observations older than this when fetched are counted as stale in each window's figures."
        ),
    )

    def switched_on(self) -> frozenset[str]:
        """The source switches these settings turn on."""
        return frozenset({PROVIDER_SWITCH}) if self.enabled else frozenset()
