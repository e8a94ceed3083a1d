"""What calls for an alert: failed check evaluations, failed runs, fresh windows whose momentum crossed the threshold,
and creators whose TikTok authorisation ends soon or was refused.

Three event streams, each followed with a storage-id cursor (monotonic, so nothing is seen twice; nothing is
skipped, since events commit in the order of their ids: SQLite's single writer, and on PostgreSQL the event log's
write lock, ``governance/event_log_storage.py``, ``EVENT_WRITES_LOCK``): asset-check evaluations (a WARN failure does
not fail its run, so only the events show it), run failures (a run can fail before any check ran: a step error, a lost
API token, a killed worker), and ``video_velocity`` materialisations. Each becomes one :class:`AlertRequest` for
``alert_job``, with a run key that deduplicates it. The token store is read whole on each tick (it is small): a
creator whose refresh token ends within the warning horizon, or whose refresh TikTok refused, gets one request per
expiry (or refusal), deduplicated by its run key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import BaseModel

from tiktok_pipeline.activation.alerts.unofficial import run_terms
from tiktok_pipeline.governance.workers import failure_reason
from tiktok_pipeline.sources.display_api.consent import ConsentLedger
from tiktok_pipeline.sources.display_api.tokens import TokenStore
from tiktok_pipeline.warehouse.tables import LIVE_STREAM_METRICS, VIDEO_VELOCITY
from tiktok_pipeline.windows import WINDOW, window_from_key

ALERT_JOB_NAME = "alert_job"
BUSINESS_FRESHNESS = timedelta(minutes=30)
"""Digests only for windows this recent: a backfill of old windows does not page anyone."""
RUN_FAILURE_FRESHNESS = timedelta(hours=24)
"""Run failures older than this when first seen (a new instance, a sensor long off) are not alerted."""
MAX_EVENTS = 200
"""Events read per stream and tick: a tick stays cheap; the cursor picks up the rest next tick."""


class AlertRequest(dg.Config):
    """What the sensor asks the alert job for: a failed check, a failed run, or a window's movers digest.

    Never secrets: no webhook URL ever travels in run config (they come from the ``alerts`` resource).
    """

    kind: str  # "check" | "run" | "business" | "token" | "consent" | "live" (a LIVE viewer spike: unofficial source)
    window_key: str | None = None
    asset: str = ""
    check: str = ""
    severity: str = "WARN"
    description: str = ""
    failed_rows: int | None = None
    run_id: str | None = None
    job_name: str = ""
    step: str = ""
    creator: str = ""
    expires_at: str | None = None
    """ISO 8601 end of the creator's refresh token (``token`` alerts; None when TikTok refused it); for ``consent``
    alerts, when the grant was revoked."""
    source_terms: str = ""
    """``unofficial`` when the check or run read an unofficial source (its run's tag): the alert says so."""


class AlertCursor(BaseModel):
    """Storage ids of the last event seen in each stream."""

    checks_after: int | None = None
    velocity_after: int | None = None
    runs_after: int | None = None
    live_after: int | None = None
    digest_after: int | None = None
    digest_window: str | None = None
    """The newest window a digest was requested for: older windows never get one."""


@dataclass
class AlertTick:
    """The alert requests of one tick and the cursor after it."""

    cursor: AlertCursor
    requests: list[dg.RunRequest] = field(default_factory=list)


def _request(run_key: str, request: AlertRequest, kind: str) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key,
        run_config={"ops": {"compose_alert": {"config": request.model_dump()}}},
        tags={"tiktok/alert": kind},
    )


def run_windows(run: dg.DagsterRun | None) -> str | None:
    """The window(s) a run covered: its partition, or ``start...end`` for a range run."""
    if run is None:
        return None
    tags = run.tags
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    if start is None:
        return None
    return start if start == end else f"{start}...{end}"


def check_failure_requests(instance: dg.DagsterInstance, tick: AlertTick) -> None:
    """One request per failed check evaluation, window and severity."""
    # the storage's own query: the instance-level one is deprecated, and no other API follows
    # check evaluations across runs with a cursor
    records = instance.event_log_storage.get_event_records(
        dg.EventRecordsFilter(
            event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=tick.cursor.checks_after
        ),
        limit=MAX_EVENTS,
        ascending=True,
    )
    for record in records:
        tick.cursor.checks_after = record.storage_id
        event = record.event_log_entry.dagster_event
        evaluation: Any = event.event_specific_data  # type: ignore[union-attr]  # an AssetCheckEvaluation
        if evaluation.passed:
            continue
        key = evaluation.asset_check_key
        run = instance.get_run_by_id(record.run_id)
        partition = evaluation.partition or event.partition or run_windows(run)  # type: ignore[union-attr]
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
            source_terms=run_terms(run),
        )
        run_key = f"check:{request.asset}:{request.check}:{partition or '-'}:{request.severity}"
        tick.requests.append(_request(run_key, request, "check"))


CHECK_FAILED_ERROR = "DagsterAssetCheckFailedError"
"""The error of a step stopped by its blocking check: that check's own alert already says what failed."""


def only_blocking_checks_failed(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Every failed step of the run failed because a blocking check failed (alerted as a check failure)."""
    failures = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    errors = [getattr(e.dagster_event.event_specific_data, "error", None) for e in failures if e.dagster_event]
    return bool(errors) and all(error is not None and error.cls_name == CHECK_FAILED_ERROR for error in errors)


def run_failure_requests(instance: dg.DagsterInstance, tick: AlertTick, now: datetime) -> None:
    """One request per failed run of any job but alert_job itself (its failures would only alert about alerting).

    A run whose only failures are blocking checks is left to the check alerts (one alert, with the failing rows).
    """
    records = instance.event_log_storage.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.RUN_FAILURE, after_cursor=tick.cursor.runs_after),
        limit=MAX_EVENTS,
        ascending=True,
    )
    for record in records:
        tick.cursor.runs_after = record.storage_id
        run = instance.get_run_by_id(record.run_id)
        if run is None or run.job_name == ALERT_JOB_NAME:
            continue
        if datetime.fromtimestamp(record.event_log_entry.timestamp, UTC) < now - RUN_FAILURE_FRESHNESS:
            continue
        if only_blocking_checks_failed(instance, run.run_id):
            continue
        step, reason = failure_reason(record.event_log_entry.dagster_event)  # type: ignore[arg-type]
        request = AlertRequest(
            kind="run",
            window_key=run_windows(run),
            severity="ERROR",
            description=reason,
            run_id=run.run_id,
            job_name=run.job_name,
            step=step or "",
            source_terms=run_terms(run),
        )
        tick.requests.append(_request(f"run:{run.run_id}", request, "run"))


def fresh_windows_over(
    instance: dg.DagsterInstance, asset: str, figure: str, after: int | None, threshold: float, now: datetime
) -> tuple[list[str], int | None]:
    """Windows of ``asset``'s materialisations after storage id ``after`` whose metadata ``figure`` reached
    ``threshold``, only those closed within :data:`BUSINESS_FRESHNESS`; and the last storage id read."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_storage_id=after),
        limit=MAX_EVENTS,
        ascending=True,
    ).records
    windows: list[str] = []
    for record in records:
        after = record.storage_id
        materialization = record.asset_materialization
        partition = materialization.partition if materialization else None
        peak = materialization.metadata.get(figure) if materialization else None
        if not partition or peak is None or float(peak.value) < threshold:  # type: ignore[arg-type]
            continue
        if window_from_key(partition) + WINDOW < now - BUSINESS_FRESHNESS:
            continue
        windows.append(partition)
    return windows, after


def momentum_requests(instance: dg.DagsterInstance, tick: AlertTick, now: datetime, threshold: float) -> None:
    """One digest request per fresh window whose velocity reached ``threshold`` momentum."""
    windows, tick.cursor.velocity_after = fresh_windows_over(
        instance, VIDEO_VELOCITY.name, "max_momentum", tick.cursor.velocity_after, threshold, now
    )
    for partition in windows:
        request = AlertRequest(kind="business", window_key=partition)
        tick.requests.append(_request(f"business:{partition}", request, "business"))


@dataclass(frozen=True)
class TokenWatch:
    """The token store to watch, and how long before a refresh token ends to warn."""

    store_path: Path
    warn_before: timedelta


def token_requests(watch: TokenWatch, tick: AlertTick, now: datetime) -> None:
    """One request per creator whose refresh token ends within ``watch.warn_before`` (or has ended), keyed by the
    creator and the expiry day, one per refusal TikTok gave (re-authorisation needed), keyed by its reason, and one
    per revocation in force (``authorization.removed`` webhook, ``tokens revoke``), keyed by the open_id and when."""
    for username, tokens in TokenStore(watch.store_path).all().items():
        if tokens.reauthorize:
            request = AlertRequest(kind="token", creator=username, severity="ERROR", description=tokens.reauthorize)
            tick.requests.append(_request(f"token:{username}:refused:{tokens.reauthorize}"[:240], request, "token"))
        elif tokens.refresh_expires_at is not None and tokens.refresh_expires_at - now <= watch.warn_before:
            ended = tokens.refresh_expires_at <= now
            request = AlertRequest(
                kind="token",
                creator=username,
                severity="ERROR" if ended else "WARN",
                expires_at=tokens.refresh_expires_at.isoformat(),
            )
            key = f"token:{username}:expires:{tokens.refresh_expires_at:%Y-%m-%d}"
            tick.requests.append(_request(key, request, "token"))
    tokens_now = TokenStore(watch.store_path).all()
    for open_id, revoked in ConsentLedger.beside(watch.store_path).revocations().items():
        held = tokens_now.get(revoked.username) if revoked.username else None
        if revoked.via == "invalid_grant" or not revoked.in_force(held):  # a refusal is alerted above
            continue
        request = AlertRequest(
            kind="consent",
            creator=revoked.username or f"open_id {open_id}",
            severity="WARN",
            description=f"{revoked.via}: {revoked.reason}",
            expires_at=revoked.revoked_at.isoformat(),
        )
        tick.requests.append(
            _request(f"consent:{open_id}:revoked:{revoked.revoked_at:%Y%m%dT%H%M%S}", request, "consent")
        )


def alert_tick(
    instance: dg.DagsterInstance,
    cursor: str | None,
    *,
    now: datetime,
    momentum_threshold: float,
    tokens: TokenWatch | None = None,
    live_viewer_threshold: int | None = None,
) -> AlertTick:
    """Every alert request since ``cursor`` (the sensor's JSON cursor), and the new cursor (``tokens``: also the
    creators whose refresh tokens end soon or were refused; ``live_viewer_threshold``: also LIVE viewer spikes)."""
    tick = AlertTick(AlertCursor.model_validate_json(cursor) if cursor else AlertCursor())
    check_failure_requests(instance, tick)
    run_failure_requests(instance, tick, now)
    momentum_requests(instance, tick, now, momentum_threshold)
    if tokens is not None:
        token_requests(tokens, tick, now)
    if live_viewer_threshold is not None:
        live_spike_requests(instance, tick, now, live_viewer_threshold)
    return tick


def live_spike_requests(instance: dg.DagsterInstance, tick: AlertTick, now: datetime, threshold: int) -> None:
    """One request per fresh window whose LIVE streams (unofficial source) reached ``threshold`` peak viewers."""
    windows, tick.cursor.live_after = fresh_windows_over(
        instance, LIVE_STREAM_METRICS.name, "peak_viewers", tick.cursor.live_after, threshold, now
    )
    for key in windows:
        request = AlertRequest(kind="live", window_key=key, source_terms="unofficial")
        tick.requests.append(_request(f"live:{key}", request, "live"))
