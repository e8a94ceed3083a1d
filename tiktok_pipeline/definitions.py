"""The one ``Definitions`` of the project: merges the domains and decides the environment.

Everything environment-specific comes from :class:`tiktok_pipeline.settings.Settings`
(``TIKTOK_*`` variables); the client secret only ever travels as ``dagster.EnvVar``.
"""

from __future__ import annotations

import importlib
import os
import warnings

import dagster as dg

from tiktok_pipeline.defs.ads.resources import AdReportingResource
from tiktok_pipeline.defs.alerts.resources import AlertsResource
from tiktok_pipeline.defs.conversions.resources import ConversionsResource
from tiktok_pipeline.defs.partitions import five_minute_partitions
from tiktok_pipeline.defs.resources import (
    BusinessApiResource,
    DisplayApiResource,
    PollingResource,
    TrackingRegistryResource,
)
from tiktok_pipeline.defs.retention.resources import RetentionResource
from tiktok_pipeline.defs.videos.assets import build_assets
from tiktok_pipeline.defs.videos.jobs import build_window_job
from tiktok_pipeline.defs.videos.sensors import build_polling_sensor
from tiktok_pipeline.ingest.polling.policy import PollingPolicy
from tiktok_pipeline.quality.schemas import QualityPolicy
from tiktok_pipeline.settings import Settings, load_settings
from tiktok_pipeline.warehouse.io import WarehouseResource


def _client_secret(settings: Settings) -> str | dg.EnvVar:
    if "TIKTOK_CLIENT_SECRET" in os.environ:
        return dg.EnvVar("TIKTOK_CLIENT_SECRET")
    if settings.uses_simulator:
        return "sim-secret"
    raise RuntimeError(
        f"TIKTOK_API_BASE_URL is {settings.display.api_base_url!r} but TIKTOK_CLIENT_SECRET is not set: "
        "the real API needs the app's client secret to refresh creators' tokens"
    )


def _business_access_token(settings: Settings) -> str | dg.EnvVar:
    if "TIKTOK_BUSINESS_ACCESS_TOKEN" in os.environ:
        return dg.EnvVar("TIKTOK_BUSINESS_ACCESS_TOKEN")
    if settings.ads.uses_simulator:
        return "sim-business-token"
    raise RuntimeError(
        f"TIKTOK_BUSINESS_API_BASE_URL is {settings.business_base_url!r} but TIKTOK_BUSINESS_ACCESS_TOKEN is not set: "
        "the API for Business needs a long-lived access token from TikTok for Business"
    )


def _optional_secret(name: str) -> dg.EnvVar | None:
    """An EnvVar for a secret that may be left unset (then the feature it enables is off)."""
    return dg.EnvVar(name) if os.environ.get(name) else None


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """All assets, jobs, schedules and resources for ``settings`` (default: from the environment)."""
    settings = settings or load_settings()
    partitions = five_minute_partitions(settings.partitions_start)
    job = build_window_job()
    base = dg.Definitions(
        assets=[*build_assets(partitions, QualityPolicy(**settings.quality.model_dump()))],
        jobs=[job],
        sensors=[
            build_polling_sensor(
                job,
                policy=PollingPolicy(**settings.polling.model_dump()),
                state_dir=settings.polling_state_dir,
                registry_path=settings.registry_path,
                partitions_start=settings.partitions_start,
                warm_up=settings.uses_simulator,
            ),
        ],
        resources={
            "display_api": DisplayApiResource(
                base_url=settings.display.api_base_url,
                simulator=settings.uses_simulator,
                client_key=settings.display.client_key,
                client_secret=_client_secret(settings),
                token_store_path=str(settings.token_store_path),
                landing_dir=str(settings.landing_dir),
                sim_seed=settings.sim_seed,
                tracking_horizon_days=settings.display.tracking_horizon_days,
                max_window_age_minutes=settings.display.max_window_age_minutes,
                requests_per_minute=settings.display.requests_per_minute,
                max_attempts=settings.display.max_attempts,
                timeout_seconds=settings.display.request_timeout_seconds,
            ),
            "business_api": BusinessApiResource(
                base_url=settings.business_base_url,
                access_token=_business_access_token(settings),
                advertiser_id=settings.ads.advertiser_id,
                sim_seed=settings.sim_seed,
                max_attempts=settings.display.max_attempts,
                simulator=settings.ads.uses_simulator,
            ),
            "tracking_registry": TrackingRegistryResource(path=str(settings.registry_path)),
            "polling": PollingResource(
                state_dir=str(settings.polling_state_dir), tracking_horizon_days=settings.display.tracking_horizon_days
            ),
            "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        },
    )
    return dg.Definitions.merge(base, _module_definitions(DOMAIN_MODULES), _domain_resources(settings))


DOMAIN_MODULES = [
    importlib.import_module(f"tiktok_pipeline.defs.{name}")
    for name in (
        *("ads.assets", "ads.jobs", "ads.sensors", "alerts.assets", "alerts.jobs", "alerts.sensors"),
        *("conversions.assets", "conversions.jobs", "conversions.sensors", "rollups.assets", "rollups.jobs"),
        *("retention.jobs", "retention.schedules", "automation"),
    )
]
"""The modules of the ads, alerts, conversions, rollups and retention domains (module-level definitions)."""


def _module_definitions(modules: list) -> dg.Definitions:
    """The module-level assets, jobs, sensors and schedules of ``modules`` (what ``load_from_defs_folder`` collects)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # load_definitions_from_modules is "preview" in 1.13
        return dg.load_definitions_from_modules(modules)


def _domain_resources(settings: Settings) -> dg.Definitions:
    """The resources of the ads, conversions, alerts and retention domains, from ``settings``."""
    return dg.Definitions(
        resources={
            "ad_reporting": AdReportingResource(
                landing_dir=str(settings.landing_dir),
                lookback_hours=settings.ads.ad_lookback_hours,
                advertiser_timezone=settings.ads.advertiser_timezone,
                page_size=settings.ads.ad_report_page_size,
                wait_for_videos_minutes=settings.ads.ad_wait_for_videos_minutes,
            ),
            "conversions": ConversionsResource(
                orders_dir=str(settings.conversions.conversions_dir),
                pixel_code=settings.events_pixel_code,
                test_event_code=settings.conversions.test_event_code,
                default_phone_region=settings.conversions.default_phone_region,
                resend_ambiguous_hours=settings.conversions.conversions_resend_ambiguous_hours,
                batch_size=settings.conversions.conversions_batch_size,
            ),
            "alerts": AlertsResource(
                slack_webhook_url=_optional_secret("TIKTOK_SLACK_WEBHOOK_URL"),
                teams_webhook_url=_optional_secret("TIKTOK_TEAMS_WEBHOOK_URL"),
                dagster_ui_url=settings.alerts.dagster_ui_url,
                momentum_threshold=settings.alerts.alert_momentum_threshold,
            ),
            "retention": RetentionResource(
                retention_days=settings.retention.retention_days,
                landing_dir=str(settings.landing_dir),
                partitions_start=settings.partitions_start.isoformat(),
            ),
        }
    )


defs = build_definitions()
