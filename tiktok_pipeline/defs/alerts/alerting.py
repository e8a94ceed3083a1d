"""Alert ops and the sensor that launches them.

``alert_sensor`` follows two event streams with storage-id cursors: asset-check evaluations (a WARN
failure does not fail its run, so a run-failure sensor would miss it) and materialisations of
``video_velocity`` whose momentum crossed the alert threshold. For each new failure, and for each
fresh window with movers, it launches ``alert_job``, whose ops compose the alert and deliver it.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import BaseModel, SecretStr

from tiktok_pipeline.activation.alerts.compose import check_alert, movers_digest
from tiktok_pipeline.activation.alerts.delivery import AlertSender, Destination
from tiktok_pipeline.activation.alerts.models import Alert
from tiktok_pipeline.activation.alerts.store import already_recorded, record_alert, undelivered_alerts
from tiktok_pipeline.warehouse.io import WRITER_POOL, WarehouseResource, read_frame
from tiktok_pipeline.warehouse.tables import ALERTS, ENRICHED_VIDEO_METRICS, VIDEO_VELOCITY
from tiktok_pipeline.windows import WINDOW, utc_naive, window_from_key

ALERT_JOB_NAME = "alert_job"
BUSINESS_FRESHNESS = timedelta(minutes=30)
"""Digests only for windows this recent: a backfill of old windows does not page anyone."""


class AlertsResource(dg.ConfigurableResource):
    """Where alerts go. Webhook URLs come from TIKTOK_SLACK_WEBHOOK_URL / TIKTOK_TEAMS_WEBHOOK_URL via EnvVar."""

    slack_webhook_url: str | None = None
    teams_webhook_url: str | None = None
    dagster_ui_url: str = "http://localhost:3000"
    momentum_threshold: float = 3.0
    max_attempts: int = 5

    def destinations(self) -> list[Destination]:
        pairs = (("slack", self.slack_webhook_url), ("teams", self.teams_webhook_url))
        return [Destination(kind=kind, url=SecretStr(url)) for kind, url in pairs if url]  # type: ignore[arg-type]


class AlertRequest(dg.Config):
    """What the sensor asks the alert job for: a failed check, or a window's movers digest."""

    kind: str  # "check" | "business"
    window_key: str | None = None
    asset: str = ""
    check: str = ""
    severity: str = "WARN"
    description: str = ""
    failed_rows: int | None = None
    run_id: str | None = None


@dg.op(pool=WRITER_POOL, out=dg.Out(Alert | None))
def compose_alert(
    context: dg.OpExecutionContext, config: AlertRequest, alerts: AlertsResource, warehouse: WarehouseResource
):
    """Build the alert: from the check evaluation, or from the window's top movers in video_velocity."""
    now = datetime.now(UTC)
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
    window = utc_naive(window_from_key(config.window_key or ""))
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


def _deliver(alerts: AlertsResource, alert: Alert, only: list[str] | None = None):
    destinations = [d for d in alerts.destinations() if only is None or d.kind in only]
    if not destinations:
        return []
    with AlertSender(destinations, max_attempts=alerts.max_attempts) as sender:
        return sender.send(alert)


@dg.op(pool=WRITER_POOL, out={})
def deliver_alert(
    context: dg.OpExecutionContext, alert: Alert | None, alerts: AlertsResource, warehouse: WarehouseResource
):
    """Send the alert once (deduplicated on its id), record it in ``alerts``, and retry earlier undelivered ones."""
    configured = [d.kind for d in alerts.destinations()]
    with warehouse.connection() as connection:
        for pending, owed, delivered, attempts in undelivered_alerts(connection):
            results = _deliver(alerts, pending, owed)
            record_alert(connection, pending, configured, results, attempts, delivered)
        if alert is None:
            return
        if already_recorded(connection, alert.alert_id):
            context.log.info(f"alert {alert.alert_id} was already sent; not sending it again")
            return
        results = _deliver(alerts, alert)
        record_alert(connection, alert, configured, results)
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
        },
    )


@dg.job(name=ALERT_JOB_NAME, description="Composes one alert (a failed check or a momentum digest) and delivers it.")
def alert_job() -> None:
    """Compose, then deliver."""
    deliver_alert(compose_alert())


alerts_table = dg.AssetSpec(
    ALERTS.name,
    description=(
        "Every alert composed by alert_job: failed asset checks and momentum digests, with where each was "
        "delivered. Recorded even when no Slack or Teams webhook is configured; undelivered alerts are "
        "retried on later alert runs."
    ),
    group_name="govern",
    kinds={"duckdb"},
    metadata=ALERTS.asset_metadata,
)


def _run_windows(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """The window(s) a run covered: its partition, or ``start...end`` for a range run."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return None
    tags = run.tags
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    if start is None:
        return None
    return start if start == end else f"{start}...{end}"


class AlertCursor(BaseModel):
    checks_after: int | None = None
    velocity_after: int | None = None


def build_alert_sensor(
    *, momentum_threshold: float, clock=lambda: datetime.now(UTC), minimum_interval_seconds: int = 15
) -> dg.SensorDefinition:
    """The sensor that turns check failures and momentum crossings into alert_job runs."""

    @dg.sensor(
        name="alert_sensor",
        job_name=ALERT_JOB_NAME,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Watches asset-check evaluations (storage-id cursor, so WARN failures are seen too) and "
            "video_velocity materialisations; launches alert_job once per failed check, window and severity, "
            "and once per fresh window whose momentum crossed the alert threshold."
        ),
    )
    def alert_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        """Launch alert runs for new check failures and momentum crossings."""
        cursor = AlertCursor.model_validate_json(context.cursor) if context.cursor else AlertCursor()
        requests: list[dg.RunRequest] = []
        # the storage's own query: the instance-level one is deprecated, and no other API follows
        # check evaluations across runs with a cursor
        checks = context.instance.event_log_storage.get_event_records(
            dg.EventRecordsFilter(
                event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=cursor.checks_after
            ),
            limit=200,
            ascending=True,
        )
        for record in checks:
            cursor.checks_after = record.storage_id
            evaluation = record.event_log_entry.dagster_event.event_specific_data  # type: ignore[union-attr]
            if evaluation.passed:
                continue
            key = evaluation.asset_check_key
            partition = record.event_log_entry.dagster_event.partition or _run_windows(context.instance, record.run_id)  # type: ignore[union-attr]
            failed_rows = evaluation.metadata.get("failed_rows")
            request = AlertRequest(
                kind="check",
                window_key=partition,
                asset=key.asset_key.to_user_string(),
                check=key.name,
                severity=evaluation.severity.value,
                description=evaluation.description or "",
                failed_rows=int(failed_rows.value) if failed_rows is not None else None,
                run_id=record.run_id,
            )
            requests.append(
                dg.RunRequest(
                    run_key=f"check:{request.asset}:{request.check}:{partition or '-'}:{request.severity}",
                    run_config={"ops": {"compose_alert": {"config": request.model_dump()}}},
                    tags={"tiktok/alert": "check"},
                )
            )
        velocity = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(VIDEO_VELOCITY.name), after_storage_id=cursor.velocity_after),
            limit=200,
            ascending=True,
        ).records
        fresh_after = clock() - BUSINESS_FRESHNESS
        for record in velocity:
            cursor.velocity_after = record.storage_id
            materialization = record.asset_materialization
            partition = materialization.partition if materialization else None
            peak = materialization.metadata.get("max_momentum") if materialization else None
            if not partition or peak is None or float(peak.value) < momentum_threshold:  # type: ignore[arg-type]
                continue
            if window_from_key(partition) + WINDOW < fresh_after:
                continue
            requests.append(
                dg.RunRequest(
                    run_key=f"business:{partition}",
                    run_config={
                        "ops": {
                            "compose_alert": {
                                "config": AlertRequest(kind="business", window_key=partition).model_dump()
                            }
                        }
                    },
                    tags={"tiktok/alert": "business"},
                )
            )
        return dg.SensorResult(run_requests=requests, cursor=cursor.model_dump_json())

    return alert_sensor
