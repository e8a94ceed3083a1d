"""Freshness of a window, broken down (issue 13): close → run requested → run started → raw landed, and the steps'
wait for the warehouse.

``poll_telemetry`` (written by the raw snapshots step) records what that step can know: when its run was requested
and started (Dagster's run record), when the window's responses landed, and how long the step waited for the
warehouse; the enriched/velocity step adds its own wait to the row. Velocity's own freshness stays
``ready_seconds_after_close`` on video_velocity's materialisation.
"""

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, timedelta

import dagster as dg
import pytest
import yaml
from dagster._core.test_utils import create_run_for_test

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.videos.sensors import TICK_SECONDS, polling_sensor
from tiktok_pipeline.governance.telemetry import RunTiming, window_telemetry
from tiktok_pipeline.governance.window_figures import TELEMETRY_FIGURES
from tiktok_pipeline.windows import WINDOW, window_key

from .conftest import T0
from .test_assets import materialize_range, read
from .test_window_truth import per_window_metadata

CLOSE = T0 + WINDOW
TIMING = RunTiming(requested_at=CLOSE + timedelta(seconds=3), started_at=CLOSE + timedelta(seconds=7.5))


def test_a_collected_window_breaks_its_freshness_down():
    row = window_telemetry(
        T0, [], landed_at=CLOSE + timedelta(seconds=9), videos_polled=0, plan=None, run=TIMING, collected=True
    )
    assert row["requested_seconds_after_close"] == 3.0  # the sensor's tick after the close
    assert row["queue_seconds"] == 4.5  # waiting in the queue, and the run's process starting
    assert row["collect_seconds"] == 1.5  # the run's start until its responses landed
    assert row["landed_seconds_after_close"] == 9.0  # the sum


@pytest.mark.parametrize("run", [TIMING, None], ids=["reparsed", "no run record"])
def test_a_window_not_collected_by_the_run_has_no_breakdown(run):
    """A re-parsed window was collected by an earlier run: this run's request and start say nothing of it."""
    row = window_telemetry(
        T0, [], landed_at=CLOSE + timedelta(seconds=9), videos_polled=0, plan=None, run=run, collected=run is None
    )
    assert row["requested_seconds_after_close"] is None and row["queue_seconds"] is None
    assert row["collect_seconds"] is None and row["landed_seconds_after_close"] == 9.0


def test_the_run_timing_is_read_from_the_run_record(instance):
    run = create_run_for_test(instance, job_name="window_pipeline_job", status=dg.DagsterRunStatus.NOT_STARTED)
    timing = RunTiming.of_run(instance, run.run_id)
    record = instance.get_run_record_by_id(run.run_id)
    assert timing.requested_at == record.create_timestamp.astimezone(UTC) and timing.started_at is None  # not started


def test_the_window_run_records_the_breakdown_in_poll_telemetry_and_its_plots(settings, instance):
    assert materialize_range(settings, T0, T0 + WINDOW, instance=instance).success
    [record] = instance.get_run_records()
    telemetry = read(settings, "poll_telemetry")
    meta = per_window_metadata(instance, "poll_telemetry")
    assert telemetry.height == 2
    for row in telemetry.iter_rows(named=True):
        close = row["window_start"].replace(tzinfo=UTC) + WINDOW
        requested = (record.create_timestamp - close).total_seconds()
        queued = (record.start_time - record.create_timestamp.timestamp()) if record.start_time else None
        assert row["requested_seconds_after_close"] == pytest.approx(requested, abs=1e-3)
        assert row["queue_seconds"] == pytest.approx(queued, abs=1e-3) and row["queue_seconds"] >= 0
        landed = row["landed_seconds_after_close"]
        assert row["requested_seconds_after_close"] + row["queue_seconds"] + row["collect_seconds"] == pytest.approx(
            landed, abs=1e-3
        )
        figures = meta[window_key(row["window_start"])]
        for column in ("requested_seconds_after_close", "queue_seconds", "collect_seconds"):
            assert column in TELEMETRY_FIGURES and figures[column] == pytest.approx(row[column])

    # the same windows re-parsed by a second run: collected by the first, so no breakdown of the second's
    assert materialize_range(settings, T0, T0 + WINDOW, instance=instance).success
    assert read(settings, "poll_telemetry")["queue_seconds"].null_count() == 2
    assert "queue_seconds" not in per_window_metadata(instance, "poll_telemetry")[window_key(T0)]


def test_the_sensor_ticks_as_often_as_the_daemon_loops():
    """A closed window waits at most one tick for its run request; the daemon's sensor loop runs every 5 s."""
    from dagster._daemon.sensor import MIN_INTERVAL_LOOP_TIME

    assert polling_sensor.minimum_interval_seconds == TICK_SECONDS <= MIN_INTERVAL_LOOP_TIME


def test_the_embedded_instance_keeps_the_frequent_skipped_ticks_one_day(tmp_path):
    """Ticking every 5 s writes 17,280 skipped ticks a day: dagster.yaml purges them after a day (Dagster: 7)."""
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import TickStatus

    from tiktok_pipeline.settings import PROJECT_ROOT

    text = (PROJECT_ROOT / "dagster.yaml").read_text().replace("base_dir: data/dagster", f"base_dir: {tmp_path}")
    (tmp_path / "dagster.yaml").write_text(text)
    with dg.DagsterInstance.from_config(str(tmp_path)) as embedded:
        retention = embedded.get_tick_retention_settings(InstigatorType.SENSOR)
    assert retention[TickStatus.SKIPPED] == 1


def test_both_instances_pick_queued_runs_up_every_second(tmp_path, monkeypatch):
    """The daemon's run queue loop: 1 s, not Dagster's 5 s, on the embedded and the production instance."""
    from tiktok_pipeline.settings import PROJECT_ROOT

    text = (PROJECT_ROOT / "dagster.yaml").read_text().replace("base_dir: data/dagster", f"base_dir: {tmp_path}")
    (tmp_path / "dagster.yaml").write_text(text)
    with dg.DagsterInstance.from_config(str(tmp_path)) as embedded:
        assert embedded.run_coordinator.dequeue_interval_seconds == 1  # type: ignore[attr-defined]
    production = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    assert production["run_coordinator"]["config"] == {"dequeue_interval_seconds": 1}


HOLDER = textwrap.dedent(
    """
    import sys
    from tiktok_pipeline.warehouse.lock import warehouse_lock
    with warehouse_lock(sys.argv[1], timeout=60, purpose="another run's step"):
        print("held", flush=True)
        sys.stdin.readline()  # until the test lets go
    """
)


class _Holder:
    """Another process holding the warehouse lock until the run under test has waited ``hold`` seconds for it (the
    run says it waits, through its log), then letting go: the run waited at least ``hold`` seconds, whatever the
    machine's speed."""

    def __init__(self, warehouse, hold: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(warehouse)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "held"
        self.waiting = threading.Event()
        self.held_for = 0.0
        handler = logging.Handler()
        handler.emit = lambda record: self.waiting.set() if "waiting up to" in record.getMessage() else None  # type: ignore[method-assign]
        self.handler, self.logger = handler, logging.getLogger("dagster")
        self.logger.addHandler(handler)
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._release_after, args=(hold,), daemon=True)
        self.thread.start()

    def _release_after(self, hold: float) -> None:
        self.waiting.wait(timeout=120)
        time.sleep(hold)
        self.held_for = time.monotonic() - self.started
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def close(self) -> None:
        self.thread.join(timeout=120)
        self.process.wait(timeout=60)
        self.logger.removeHandler(self.handler)


@pytest.mark.file_backend_only  # the warehouse lock is the DuckDB file's; a lake's waits are its commit backoffs
def test_a_run_waiting_for_the_warehouse_lock_shows_the_wait_in_its_windows_row(settings, instance):
    """Each step's wait for the lock (another process holds it) is in the window's poll_telemetry row, summed over
    the steps: the raw step's when it writes the row, the enriched/velocity step's added when it runs."""
    hold = 1.0
    holder = _Holder(settings.warehouse_path, hold)
    try:
        assert materialize_range(settings, T0, T0, instance=instance).success
    finally:
        holder.close()
    [row] = read(settings, "poll_telemetry").iter_rows(named=True)
    raw_wait = row["raw_warehouse_wait_seconds"]
    assert hold <= raw_wait <= holder.held_for  # the raw step waited; the process step found the lock free
    assert raw_wait <= row["warehouse_wait_seconds"] < raw_wait + hold
    assert per_window_metadata(instance, "poll_telemetry")[window_key(T0)]["raw_warehouse_wait_seconds"] == raw_wait

    # The enriched/velocity step alone, waiting in turn: its wait is added to the raw step's (not counted twice).
    holder = _Holder(settings.warehouse_path, hold)
    try:
        defs = build_definitions(settings)
        assert dg.materialize(
            list(defs.assets),
            selection=dg.AssetSelection.groups("process"),
            resources=dict(defs.resources),
            instance=instance,
            partition_key=window_key(T0),
        ).success
    finally:
        holder.close()
    [row] = read(settings, "poll_telemetry").iter_rows(named=True)
    assert row["raw_warehouse_wait_seconds"] == raw_wait
    assert raw_wait + hold <= row["warehouse_wait_seconds"] <= raw_wait + holder.held_for
    velocity = per_window_metadata(instance, "video_velocity")[window_key(T0)]
    assert velocity["warehouse_wait_seconds"] == pytest.approx(row["warehouse_wait_seconds"])
    assert velocity["ready_seconds_after_close"] > row["warehouse_wait_seconds"]


def test_a_window_run_on_a_free_warehouse_records_its_waits(settings, instance):
    """Nothing held the warehouse: the waits are recorded, and small (both backends: a lake's are commit backoffs)."""
    assert materialize_range(settings, T0, T0 + WINDOW, instance=instance).success
    telemetry = read(settings, "poll_telemetry")
    assert telemetry["raw_warehouse_wait_seconds"].null_count() == 0
    assert (telemetry["warehouse_wait_seconds"] >= telemetry["raw_warehouse_wait_seconds"]).all()
    assert telemetry["warehouse_wait_seconds"].max() < 5
    velocity = per_window_metadata(instance, "video_velocity")
    for row in telemetry.iter_rows(named=True):
        assert velocity[window_key(row["window_start"])]["warehouse_wait_seconds"] == pytest.approx(
            row["warehouse_wait_seconds"]
        )
