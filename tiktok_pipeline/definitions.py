"""The one ``Definitions`` of the project: merges the domains and decides the environment.

Everything environment-specific comes from :class:`tiktok_pipeline.settings.Settings`
(``TIKTOK_*`` variables); the client secret only ever travels as ``dagster.EnvVar``.
"""

from __future__ import annotations

import os

import dagster as dg

from tiktok_pipeline.defs.ads.assets import build_ad_definitions
from tiktok_pipeline.defs.alerts.alerting import AlertsResource, alert_job, alerts_table, build_alert_sensor
from tiktok_pipeline.defs.conversions.assets import ConversionsResource, build_conversion_definitions
from tiktok_pipeline.defs.resources import (
    BusinessApiResource,
    DisplayApiResource,
    PollingResource,
    QualityResource,
    TrackingRegistryResource,
)
from tiktok_pipeline.defs.retention.assets import build_retention_definitions
from tiktok_pipeline.defs.videos import assets as video_assets
from tiktok_pipeline.defs.videos.jobs import window_pipeline_job
from tiktok_pipeline.defs.videos.sensors import polling_sensor
from tiktok_pipeline.settings import Settings, load_settings
from tiktok_pipeline.warehouse.io import WarehouseResource
from tiktok_pipeline.windows import five_minute_partitions


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
    videos = [video_assets.raw_snapshots, video_assets.enriched_video_metrics, video_assets.video_velocity]
    base = dg.Definitions(
        assets=[*videos, alerts_table],
        jobs=[window_pipeline_job, alert_job],
        sensors=[
            polling_sensor,
            build_alert_sensor(momentum_threshold=settings.alerts.alert_momentum_threshold),
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
            "polling": PollingResource.from_settings(settings),
            "quality": QualityResource.from_settings(settings),
            "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
            "alerts": AlertsResource(
                slack_webhook_url=_optional_secret("TIKTOK_SLACK_WEBHOOK_URL"),
                teams_webhook_url=_optional_secret("TIKTOK_TEAMS_WEBHOOK_URL"),
                dagster_ui_url=settings.alerts.dagster_ui_url,
                momentum_threshold=settings.alerts.alert_momentum_threshold,
            ),
        },
    )
    conversions = build_conversion_definitions(
        partitions,
        ConversionsResource(
            orders_dir=str(settings.conversions.conversions_dir),
            pixel_code=settings.events_pixel_code,
            test_event_code=settings.conversions.test_event_code,
            default_phone_region=settings.conversions.default_phone_region,
            resend_ambiguous_hours=settings.conversions.conversions_resend_ambiguous_hours,
            batch_size=settings.conversions.conversions_batch_size,
        ),
        partitions_start=settings.partitions_start,
    )
    ads = build_ad_definitions(settings, partitions)
    return dg.Definitions.merge(base, build_retention_definitions(settings), conversions, ads)


defs = build_definitions()
