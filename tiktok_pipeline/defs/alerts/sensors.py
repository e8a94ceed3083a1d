"""``alert_sensor``: failed checks, failed runs and momentum crossings become ``alert_job`` runs.

It follows three event streams with storage-id cursors (state), so it stays a sensor; the rules are in
:mod:`tiktok_pipeline.activation.alerts.triggers`.
"""

from datetime import UTC, datetime

import dagster as dg

from tiktok_pipeline.activation.alerts.triggers import ALERT_JOB_NAME, alert_tick
from tiktok_pipeline.activation.digest.trigger import digest_requests
from tiktok_pipeline.defs.alerts.resources import AlertsResource


@dg.sensor(
    name="alert_sensor",
    job_name=ALERT_JOB_NAME,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches asset-check evaluations (storage-id cursor, so WARN failures are seen too), run failures of "
        "every pipeline job (a run that failed before its checks ran) and video_velocity materialisations; "
        "launches alert_job once per failed check, window and severity, once per failed run, once per "
        "fresh window whose momentum crossed the alert threshold, and once per creator and expiry when a creator's "
        "refresh token ends within TIKTOK_REFRESH_TOKEN_WARN_DAYS or TikTok refused it (re-authorisation needed); "
        "once per revocation of a creator's grant (TikTok's authorization.removed webhook, tokens revoke); with the"
        " LIVE intake on, once per fresh window whose LIVE streams reached TIKTOK_LIVE_VIEWER_ALERT_THRESHOLD viewers"
        " (labelled UNOFFICIAL SOURCE, as is any alert about a run of an unofficial source); with TIKTOK_DIGEST_ENABLED,"
        " once per newest closed window whose video_velocity landed (the window's digest; never for backfills)."
    ),
)
def alert_sensor(context: dg.SensorEvaluationContext, alerts: AlertsResource) -> dg.SensorResult:
    """Launch alert runs for new check failures, run failures, momentum crossings, creators' ending tokens and (when
    enabled) the newest window's digest."""
    now = datetime.now(UTC)
    tick = alert_tick(
        context.instance,
        context.cursor,
        now=now,
        momentum_threshold=alerts.momentum_threshold,
        tokens=alerts.token_watch(),
        live_viewer_threshold=alerts.live_viewer_threshold,
    )
    if alerts.digest_enabled:
        digest_requests(context.instance, tick, now)
    return dg.SensorResult(run_requests=tick.requests, cursor=tick.cursor.model_dump_json())
