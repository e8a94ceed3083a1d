"""``alert_job``: compose one alert (a failed check, a failed run or a momentum digest), then deliver it once."""

from datetime import UTC, datetime

import dagster as dg

from tiktok_pipeline.activation.alerts.compose import (
    check_alert,
    consent_alert,
    movers_digest,
    run_failure_alert,
    token_alert,
)
from tiktok_pipeline.activation.alerts.delivery import AlertSender
from tiktok_pipeline.activation.alerts.models import Alert
from tiktok_pipeline.activation.alerts.store import already_recorded, record_alert, undelivered_alerts
from tiktok_pipeline.activation.alerts.triggers import ALERT_JOB_NAME, AlertRequest
from tiktok_pipeline.activation.alerts.unofficial import labelled, viewer_spike_alert
from tiktok_pipeline.activation.digest.compose import digest_figures, window_digest
from tiktok_pipeline.activation.digest.sections import build_sections
from tiktok_pipeline.defs.alerts.resources import AlertsResource
from tiktok_pipeline.sources.http.calllog import CallBuffer, recording
from tiktok_pipeline.warehouse.call_log import write_calls
from tiktok_pipeline.warehouse.io import WarehouseResource, read_frame
from tiktok_pipeline.warehouse.tables import ALERTS, ENRICHED_VIDEO_METRICS, LIVE_STREAM_METRICS, VIDEO_VELOCITY
from tiktok_pipeline.windows import utc_naive, window_from_key


@dg.op(out=dg.Out(Alert | None))  # type: ignore[arg-type]  # Dagster accepts Optional types
def compose_alert(
    context: dg.OpExecutionContext, config: AlertRequest, alerts: AlertsResource, warehouse: WarehouseResource
):
    """Build the alert: from the check evaluation, the failed run, the creator's ending token, the top movers, a
    LIVE viewer spike or the window's digest; labelled when what it reports comes from an unofficial source."""
    return labelled(_compose(context, config, alerts, warehouse), config.source_terms)


def _compose(
    context: dg.OpExecutionContext, config: AlertRequest, alerts: AlertsResource, warehouse: WarehouseResource
) -> Alert | None:
    now = datetime.now(UTC)
    if config.kind == "live":
        return _live_spike(config.window_key or "", alerts, warehouse, now)
    if config.kind == "check":
        return check_alert(
            asset=config.asset,
            check=config.check,
            window_key=config.window_key,
            severity=config.severity,  # type: ignore[arg-type]
            description=config.description,
            failed_rows=config.failed_rows,
            run_id=config.run_id,
            ui_url=alerts.dagster_ui_url,
            now=now,
        )
    if config.kind == "run":
        return run_failure_alert(
            run_id=config.run_id or "",
            job_name=config.job_name,
            window_key=config.window_key,
            step=config.step or None,
            reason=config.description,
            ui_url=alerts.dagster_ui_url,
            now=now,
        )
    if config.kind == "token":
        return token_alert(
            creator=config.creator,
            expires_at=datetime.fromisoformat(config.expires_at) if config.expires_at else None,
            refused=config.description,
            severity=config.severity,  # type: ignore[arg-type]
            ui_url=alerts.dagster_ui_url,
            now=now,
        )
    if config.kind == "consent":
        return consent_alert(
            creator=config.creator,
            revoked_at=datetime.fromisoformat(config.expires_at or now.isoformat()),
            why=config.description,
            ui_url=alerts.dagster_ui_url,
            now=now,
        )
    window = utc_naive(window_from_key(config.window_key or ""))
    if config.kind == "digest":
        with warehouse.connection() as connection:
            sections = build_sections(connection, window)
        digest = window_digest(config.window_key or "", sections, alerts.dagster_ui_url, now)
        if digest is None:
            context.log.info(f"nothing to digest for the window {config.window_key}")
        return digest
    with warehouse.connection() as connection:
        movers = read_frame(
            connection,
            f"""SELECT v.video_id, v.creator_username, v.views_per_minute, v.momentum, e.campaign_ids, e.product_skus
                FROM {VIDEO_VELOCITY.name} v JOIN {ENRICHED_VIDEO_METRICS.name} e USING (video_id, window_start)
                WHERE v.window_start = ? AND v.momentum >= ?""",
            [window, alerts.momentum_threshold],
        )
    alert = movers_digest(config.window_key or "", movers, alerts.momentum_threshold, alerts.dagster_ui_url, now)
    if alert is None:
        context.log.info(f"no video reached momentum {alerts.momentum_threshold} in {config.window_key}")
    return alert


def _live_spike(window_key: str, alerts: AlertsResource, warehouse: WarehouseResource, now: datetime) -> Alert | None:
    """The viewer-spike alert of a window's LIVE streams (unofficial source)."""
    threshold = alerts.live_viewer_threshold or 1
    with warehouse.connection() as connection:
        streams = read_frame(
            connection,
            f"SELECT * FROM {LIVE_STREAM_METRICS.name} WHERE window_start = ? AND peak_viewers >= ?",
            [utc_naive(window_from_key(window_key)), threshold],
        )
    return viewer_spike_alert(window_key, streams, threshold, alerts.dagster_ui_url, now)


def _deliver(alerts: AlertsResource, alert: Alert, calls: CallBuffer, only: list[str] | None = None):
    """Send ``alert`` to the configured destinations (or ``only`` those kinds), its calls kept in ``calls``."""
    destinations = [d for d in alerts.destinations() if only is None or d.kind in only]
    if not destinations:
        return []
    with (
        recording(calls),
        AlertSender(
            destinations, max_attempts=alerts.max_attempts, max_retry_seconds=alerts.max_retry_seconds
        ) as sender,
    ):
        return sender.send(alert)


@dg.op(out={})
def deliver_alert(
    context: dg.OpExecutionContext, alert: Alert | None, alerts: AlertsResource, warehouse: WarehouseResource
):
    """Send the alert once (deduplicated on its id), record it in ``alerts``, and retry earlier undelivered ones."""
    configured = [d.kind for d in alerts.destinations()]
    # Delivery is serialised by its own lock (no alert goes out twice from two runs at once); the warehouse is held
    # only to read and record, never while a webhook answers.
    with warehouse.serialised("alert-delivery"):
        with warehouse.connection() as connection:
            pending = undelivered_alerts(connection)
            seen = alert is not None and already_recorded(connection, alert.alert_id)
        for earlier, owed, delivered, attempts in pending:
            calls = CallBuffer()
            earlier_results = _deliver(alerts, earlier, calls, owed)
            with warehouse.connection() as connection:
                record_alert(connection, earlier, configured, earlier_results, attempts, delivered)
                write_calls(connection, calls)
        if alert is None:
            return
        if seen:
            context.log.info(f"alert {alert.alert_id} was already sent; not sending it again")
            return
        calls = CallBuffer()
        results = _deliver(alerts, alert, calls)
        with warehouse.connection() as connection:
            record_alert(connection, alert, configured, results)
            write_calls(connection, calls)
    for result in results:
        (context.log.info if result.delivered else context.log.warning)(
            f"{result.kind}: {'delivered' if result.delivered else 'NOT delivered'} after {result.attempts} attempt(s)"
            + (f" ({result.error})" if result.error else "")
        )
    if not configured:
        context.log.info("no Slack or Teams webhook configured: the alert is recorded in the alerts table only")
    yield dg.AssetMaterialization(
        asset_key=ALERTS.name,
        description=alert.title,
        metadata={
            "alert_id": alert.alert_id,
            "severity": alert.severity,
            "summary": alert.summary,
            "delivered": ",".join(r.kind for r in results if r.delivered) or "(none)",
            "undelivered": ",".join(r.kind for r in results if not r.delivered) or "(none)",
            "link": dg.MetadataValue.url(alert.link_url or alerts.dagster_ui_url),
            **{name: dg.MetadataValue.int(count) for name, count in digest_figures(alert).items()},
        },
    )


@dg.job(
    name=ALERT_JOB_NAME,
    description=(
        "Composes one alert (a failed check, a failed run, a momentum digest or a window's digest) and delivers it."
    ),
)
def alert_job() -> None:
    """Compose, then deliver."""
    deliver_alert(compose_alert())
