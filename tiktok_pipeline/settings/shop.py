"""TikTok Shop (``TIKTOK_SHOP_*``): the Partner API's hosts, the app key, the token store and the push receiver.

The app secret (``TIKTOK_SHOP_APP_SECRET``) is not a setting: it reaches the resources only as ``dagster.EnvVar``
(``defs/shop/resources.py``) and the push receiver reads it from the environment, never printed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from tiktok_pipeline.settings.domains import _config


class ShopSettings(BaseSettings):
    """Where the TikTok Shop Partner API is, which app calls it, and how its pushes are received."""

    model_config = _config("TIKTOK_SHOP_")

    api_base_url: str | None = Field(
        default=None,
        description=(
            "Shop API host, e.g. https://open-api.tiktokglobalshop.com. Unset: the simulator (the served one at"
            " TIKTOK_API_BASE_URL when that is a simulator, else the in-process one)."
        ),
    )
    auth_base_url: str | None = Field(
        default=None,
        description="Shop auth host for token get/refresh, e.g. https://auth.tiktok-shops.com. Unset: the API host.",
    )
    app_key: str = Field(default="sim-shop-app", description="The Shop app's key (not a secret).")
    token_store_path: Path | None = Field(
        default=None,
        description=(
            "The shop's access and refresh tokens (mode 0600; tiktok-pipeline shop-tokens add). Unset:"
            " shop_tokens.json beside TIKTOK_TOKEN_STORE_PATH."
        ),
    )
    requests_per_second: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Requests a second the Shop client keeps to. Unset: the declared source's (10; tiktok_pipeline/governance/"
            "sources.py). May lower it; above the declared limit is refused when the resources are built."
        ),
    )
    page_size: int = Field(default=100, ge=1, le=100, description="Orders per search page (Shop allows 100).")
    webhook_tolerance_seconds: float = Field(
        default=300.0,
        gt=0,
        le=3600,
        description=(
            "The push receiver refuses (401) a notification whose signed timestamp is further than this from its"
            " clock, either way (a replayed or stale push)."
        ),
    )
    webhook_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Interface tiktok-pipeline shop-webhooks serve listens on (0.0.0.0 behind a TLS proxy).",
    )
    sensor_enabled: bool | None = Field(
        default=None,
        description="Turn shop_orders_sensor on by default. Unset: on against the simulator or a configured host.",
    )

    @property
    def uses_simulator(self) -> bool:
        """No Shop host is configured: the simulator answers (embedded, or served at TIKTOK_API_BASE_URL)."""
        return not self.api_base_url


def load_shop_settings() -> ShopSettings:
    """ShopSettings from the environment; a bad value raises ``SettingsError`` naming its variable."""
    from pydantic import ValidationError

    from tiktok_pipeline.settings.errors import SettingsError, describe

    try:
        return ShopSettings()
    except ValidationError as exc:
        raise SettingsError("invalid configuration:\n" + describe(exc)) from None
