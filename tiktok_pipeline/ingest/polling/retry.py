"""Windows the polling sensor requested, followed until each is settled: retried while it can be, else a gap.

Every window the sensor requests stays *followed* (its key in the cursor's ``followed`` list) until it is settled.
What happened to it is read from Dagster's run records, never remembered by the sensor, so a run the sensor
never saw end (it failed while the daemon was down, run monitoring marked it failed, an operator canceled it)
is judged like any other. Each tick, for each followed window, oldest first:

- a run of it is queued or in progress: wait;
- its latest run succeeded, or ``raw_video_snapshots`` has a materialisation of it (a later step failed, a
  manual run filled it): settled;
- its latest run failed or was canceled: requested again (run key ``<window>:retry-<n>``) with the same plan,
  while it can still be observed (against TikTok: at least :data:`RETRY_LAUNCH_MARGIN` before
  ``TIKTOK_MAX_WINDOW_AGE_MINUTES`` runs out; the simulator: always; a window already landed is re-parsed, so
  always) and fewer than ``TIKTOK_POLL_MAX_RETRIES`` retries were made; else it is marked as a gap, once (the
  mark settles it), with the failed run, Dagster's failure description and why it is not retried.

Retries come after the live window's request, one at a time (none while another retry runs) and only within the
request budget the live window left in its 5-minute period: the failed run's whole plan when it fits, else its due
part (:func:`due_part`: its polls of videos not due dropped); one that does not fit waits. So that a retry is sent
even when demand exceeds the budget (spent whole), the next live window is planned with the oldest pending retry's
due part held back from its own polls of videos not due (:func:`retry_reserve`); its due videos still come first,
and when they leave less than that due part, it is cut to what they leave (:func:`cut_to`). Only
single-window runs and ranges ending in a followed window are read (two run queries with tag filters and a limit),
and a materialisation is looked up only for a window whose latest run failed, so the tick stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from tiktok_pipeline.governance.workers import failure_reason
from tiktok_pipeline.ingest.land import LANDING_SOURCE, WindowNotObservableError, observation_instant
from tiktok_pipeline.ingest.landing import landing_path
from tiktok_pipeline.ingest.polling.plan import plan_costs, plan_in_run_config, plan_run_config
from tiktok_pipeline.ingest.polling.retry_plan import cut_to, due_part
from tiktok_pipeline.runs import PRIORITY_TAG, RETRY_PRIORITY
from tiktok_pipeline.windows import RANGE_END_TAG, RANGE_START_TAG, WINDOW, window_from_key, window_key, window_starts

PARTITION_TAG = "dagster/partition"
RETRY_OF_TAG = "tiktok/retry_of"
"""On a retry: the id of the failed run it repeats."""
ATTEMPT_TAG = "tiktok/attempt"
"""On a retry: which attempt at its window it is (the first run was attempt 1)."""
RETRY_LAUNCH_MARGIN = timedelta(minutes=1)
"""A retry is only requested while the window stays observable this much longer: the time to launch its run."""
MAX_FOLLOWED_WINDOWS = 24
"""Windows followed at most (two hours): the oldest beyond it are let go (marked as gaps unless a run is on)."""
RUNS_PER_WINDOW = 12
"""Run records read per followed window and query besides its retries: other jobs' runs of the same window."""
RAW_ASSET = dg.AssetKey("raw_video_snapshots")
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
MAX_FAILURE_CHARS = 500


@dataclass(frozen=True)
class WindowFollowing:
    """What following failed windows needs to know besides the policy.

    ``job_name``: the job the sensor launches (runs of other jobs of the same window, ads or conversions, are
    not the window's attempts); ``at_window_end``, ``max_age``: when a window can still be observed (see
    :func:`tiktok_pipeline.ingest.land.observation_instant`); ``landing_dir``: a window landed there is
    re-parsed, so it can be retried however old.
    """

    job_name: str
    at_window_end: bool
    max_age: timedelta
    landing_dir: Path

    def why_not_retryable(self, window_start: datetime, now: datetime) -> str | None:
        """Why a retry of the window could no longer observe it, or None when it still can."""
        if landing_path(self.landing_dir, LANDING_SOURCE, window_start).exists():
            return None
        try:
            observation_instant(
                window_start, now + RETRY_LAUNCH_MARGIN, at_window_end=self.at_window_end, max_age=self.max_age
            )
        except WindowNotObservableError:
            return (
                f"no longer observable: it closed {now - window_start - WINDOW} ago, nothing of it was landed, and "
                f"TikTok answers only with present-day counts for TIKTOK_MAX_WINDOW_AGE_MINUTES "
                f"({self.max_age.total_seconds() / 60:g}) after a window's close"
            )
        return None

    def writes_raw(self, run: dg.DagsterRun) -> bool:
        """Whether ``run`` may write ``raw_video_snapshots``: the window job, or an ad-hoc materialisation of it."""
        if run.job_name == self.job_name:
            return True
        selection = run.asset_selection
        return run.job_name.startswith("__") and (not selection or RAW_ASSET in selection)


@dataclass(frozen=True)
class Retry:
    """A failed window that may be requested again: its latest (failed) run, its runs so far and that run's plan."""

    key: str
    failed: dg.DagsterRun
    attempts: int
    plan: dict[str, Any] | None


@dataclass
class FollowUp:
    """What one tick decided for the followed windows."""

    retries: list[Retry] = field(default_factory=list)
    """The windows that may be retried now, oldest first (none while a retry runs): :func:`fit_retry` picks one."""
    requests: list[dg.RunRequest] = field(default_factory=list)
    gaps: list[dg.AssetObservation] = field(default_factory=list)
    followed: list[str] = field(default_factory=list)
    """The windows still followed after this tick."""
    spent: dict[str, int] = field(default_factory=dict)
    """Requests planned by this tick's retries, overall (``total``) and per endpoint (counted against the period's
    budgets)."""


def _windows_of(run: dg.DagsterRun) -> list[str]:
    tags = run.tags
    if PARTITION_TAG in tags:
        return [tags[PARTITION_TAG]]
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if not start or not end:
        return []
    return [window_key(s) for s in window_starts(window_from_key(start), window_from_key(end) + WINDOW)]


def runs_by_window(
    instance: dg.DagsterInstance, keys: Sequence[str], following: WindowFollowing, max_retries: int
) -> dict[str, list[dg.DagsterRun]]:
    """Each window's runs that may write it, newest first: single-window runs and ranges ending in one of ``keys``."""
    limit = (RUNS_PER_WINDOW + max_retries) * len(keys)
    records = {
        record.storage_id: record
        for tags in ({PARTITION_TAG: list(keys)}, {RANGE_END_TAG: list(keys)})
        for record in instance.get_run_records(dg.RunsFilter(tags=tags), limit=limit)
    }
    by_window: dict[str, list[dg.DagsterRun]] = {key: [] for key in keys}
    for _, record in sorted(records.items(), reverse=True):
        if following.writes_raw(record.dagster_run):
            for key in _windows_of(record.dagster_run):
                if key in by_window:
                    by_window[key].append(record.dagster_run)
    return by_window


def _materialized(instance: dg.DagsterInstance, key: str) -> bool:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=RAW_ASSET, asset_partitions=[key]), limit=1
    )
    return bool(records.records)


def run_failure(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """Dagster's description of why ``run`` failed or was canceled (its failed step's error first)."""
    records = instance.get_records_for_run(
        run.run_id,
        of_type={dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_CANCELED},
        limit=1,
        ascending=False,
    ).records
    event = records[0].event_log_entry.dagster_event if records else None
    if event is None:
        return run.status.value.lower()
    step, reason = failure_reason(event) if event.event_type == dg.DagsterEventType.RUN_FAILURE else (None, "")
    text = reason or records[0].event_log_entry.message or run.status.value.lower()
    text = f"{step}: {text}" if step else text
    return " ".join(text.split())[:MAX_FAILURE_CHARS]


def gap_mark(key: str, reason: str, run: dg.DagsterRun | None, attempts: int) -> dg.AssetObservation:
    """The gap mark of a window, like a downtime gap's, naming the failed run."""
    metadata: dict[str, Any] = {"gap": True, "reason": reason, "attempts": attempts}
    if run is not None:
        metadata["failed_run"] = dg.MetadataValue.dagster_run(run.run_id)
    return dg.AssetObservation(asset_key=RAW_ASSET, partition=key, metadata=metadata)


def follow_windows(
    instance: dg.DagsterInstance,
    followed: Sequence[str],
    now: datetime,
    *,
    following: WindowFollowing,
    max_retries: int,
) -> FollowUp:
    """Gap marks and the windows that may be retried among the ``followed`` ones (see the module's docstring); which
    retry is requested depends on the budget the live window leaves (:func:`fit_retry`)."""
    keys = sorted(set(followed))
    overflow, keys = keys[:-MAX_FOLLOWED_WINDOWS], keys[-MAX_FOLLOWED_WINDOWS:]
    result = FollowUp()
    if not keys and not overflow:
        return result
    runs = runs_by_window(instance, [*overflow, *keys], following, max_retries)
    retry_on = any(RETRY_OF_TAG in r.tags and r.status not in FINISHED for key in keys for r in runs[key])
    for key in [*overflow, *keys]:
        window_runs, kept = runs[key], key in keys
        if any(r.status not in FINISHED for r in window_runs):
            if kept:
                result.followed.append(key)  # a run of it is queued or in progress: wait
            continue
        latest = window_runs[0] if window_runs else None
        if latest is not None and latest.status == dg.DagsterRunStatus.SUCCESS:
            continue  # settled
        unobservable = following.why_not_retryable(window_from_key(key), now)
        if latest is None and kept and unobservable is None:
            result.followed.append(key)  # requested, its run not created yet
            continue
        if _materialized(instance, key):
            continue  # settled: a later step failed, or another run filled it
        blocked: str | None
        if not kept:
            blocked = f"still not collected {MAX_FOLLOWED_WINDOWS} windows later, no longer followed"
        elif len(window_runs) > max_retries:
            blocked = f"attempts exhausted: {len(window_runs)} runs failed (TIKTOK_POLL_MAX_RETRIES={max_retries})"
        else:
            blocked = unobservable
        if blocked is not None:
            result.gaps.append(_gap(instance, key, blocked, latest, len(window_runs)))
            continue
        result.followed.append(key)
        assert latest is not None  # no run and observable was kept above
        if not retry_on:  # one retry at a time
            result.retries.append(Retry(key, latest, len(window_runs), plan_in_run_config(latest.run_config)))
    return result


def retry_reserve(follow: FollowUp) -> dict[str, int]:
    """Requests (overall, ``total``, and per endpoint) the oldest pending retry needs, its plan's due part: the live
    window's polls of videos not due leave it what the due ones do not take."""
    plan = follow.retries[0].plan if follow.retries else None
    return plan_costs(due_part(plan)) if plan else {}


def fit_retry(follow: FollowUp, budget_left: Mapping[str, int], *, cut: bool) -> None:
    """Requests the first pending retry that fits ``budget_left`` (requests the live window left in its 5-minute
    period, overall and per endpoint: :func:`tiktok_pipeline.ingest.polling.plan.budget_left`): with its failed
    run's whole plan, else that plan's due part, else (``cut``: on the tick that planned the live window with the
    retry's due part held back) that due part cut to fit (:func:`cut_to`); the others wait."""
    for retry in follow.retries:
        plan = retry.plan  # none (a warm-up range): costs nothing
        if plan is not None:
            fitting = [
                p for p in (plan, due_part(plan)) if all(n <= budget_left.get(k, 0) for k, n in plan_costs(p).items())
            ]
            plan = fitting[0] if fitting else cut_to(due_part(plan), budget_left) if cut else None
            if plan is None:
                continue
        follow.requests.append(_retry_request(retry.key, retry.failed, retry.attempts, plan))
        follow.spent = plan_costs(plan)
        return


def _gap(
    instance: dg.DagsterInstance, key: str, blocked: str, latest: dg.DagsterRun | None, attempts: int
) -> dg.AssetObservation:
    if latest is None:
        reason = f"not collected: requested, but no run of it was found; {blocked}"
    else:
        status = latest.status.value.lower()
        reason = f"not collected: run {latest.run_id} {status} ({run_failure(instance, latest)}); {blocked}"
    return gap_mark(key, reason, latest, attempts)


def _retry_request(key: str, failed: dg.DagsterRun, attempts_failed: int, plan: dict[str, Any] | None) -> dg.RunRequest:
    """The same request again (the failed run's plan, or none), under a run key of its own; queued after the live
    window's run and before the rest (:data:`tiktok_pipeline.runs.RETRY_PRIORITY`)."""
    tags = {name: value for name, value in failed.tags.items() if name.startswith("tiktok/") and name != ATTEMPT_TAG}
    return dg.RunRequest(
        run_key=f"{key}:retry-{attempts_failed}",
        partition_key=key,
        run_config=plan_run_config(plan) if plan else {},
        tags={
            **tags,
            RETRY_OF_TAG: failed.run_id,
            ATTEMPT_TAG: str(attempts_failed + 1),
            PRIORITY_TAG: str(RETRY_PRIORITY),
        },
    )
