"""Every environment variable the pipeline reads, with its one default: a leaf (pydantic only).

``Settings`` holds the paths and the project-wide values; each domain has its own sub-settings
(``display``, ``polling``, ``quality``, ``ads``, ``conversions``, ``alerts``, ``retention``, ``provider``, ...), each
loadable on its own. Nothing here imports Dagster, Polars or Pandera, so ``tiktok-pipeline tokens``
and ``tiktok-pipeline sql`` stay light.

Secrets (the TikTok client secret, access tokens, webhook URLs) are not settings: they reach the
resources only as ``dagster.EnvVar``, so they never appear in run config, metadata or logs. The one
exception is ``TIKTOK_WAREHOUSE_URL``, whose DuckLake conninfo may hold a password: it is a ``SecretStr``
(never quoted in errors), parsed here into a ``WarehouseTarget``, and reaches the resource as an EnvVar too.
Use :func:`load_settings` to read the environment: a bad value raises :class:`SettingsError`
naming the variable, the value and what is allowed.
"""

from tiktok_pipeline.settings.activation import MerchandisingSettings, SwapSettings
from tiktok_pipeline.settings.consent import ConsentSettings
from tiktok_pipeline.settings.digest import DigestSettings
from tiktok_pipeline.settings.domains import (
    DATA_DIR,
    MIN_RETENTION_DAYS,
    PROJECT_ROOT,
    AdsSettings,
    AlertSettings,
    ConversionSettings,
    DisplaySettings,
    PollingSettings,
    QualitySettings,
    RetentionSettings,
)
from tiktok_pipeline.settings.errors import SettingsError, environment_variables, load_settings
from tiktok_pipeline.settings.live import LIVE_INTAKE_SWITCH, LiveSettings
from tiktok_pipeline.settings.pacing import PacingSettings
from tiktok_pipeline.settings.provider import PROVIDER_SWITCH, ProviderSettings
from tiktok_pipeline.settings.root import DEFAULT_WAREHOUSE_LOCK_TIMEOUT, Settings
from tiktok_pipeline.settings.shop import ShopSettings
from tiktok_pipeline.settings.surge import SurgeSettings

__all__ = [
    "DATA_DIR",
    "DEFAULT_WAREHOUSE_LOCK_TIMEOUT",
    "MIN_RETENTION_DAYS",
    "PROJECT_ROOT",
    "AdsSettings",
    "AlertSettings",
    "ConsentSettings",
    "ConversionSettings",
    "DigestSettings",
    "DisplaySettings",
    "LIVE_INTAKE_SWITCH",
    "LiveSettings",
    "MerchandisingSettings",
    "PROVIDER_SWITCH",
    "PacingSettings",
    "PollingSettings",
    "ProviderSettings",
    "QualitySettings",
    "RetentionSettings",
    "Settings",
    "SettingsError",
    "SurgeSettings",
    "ShopSettings",
    "SwapSettings",
    "environment_variables",
    "load_settings",
]
