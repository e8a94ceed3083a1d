"""The exports sensor through ``build_sensor_context``: runs for new exports, waits for open windows, retries lost answers."""

import gzip
import json
import os
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from tiktok_pipeline.activation.conversions.orders import export_windows
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.conversions.sensors import conversion_exports_sensor, exports_tick
from tiktok_pipeline.settings import ConversionSettings
from tiktok_pipeline.windows import WINDOW

T = datetime(2026, 11, 20, 10, 41, 0, tzinfo=UTC)  # the 10:35 window has just closed


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def orders_dir(tmp_path):
    return tmp_path / "incoming"


@pytest.fixture
def clock():
    return Clock(T)


@pytest.fixture
def sensor(settings, orders_dir, clock):
    defs = build_definitions(settings.replace(conversions__conversions_dir=orders_dir))
    return defs.get_repository_def(), defs.resources["conversions"], clock


def tick(sensor, instance, cursor=None):
    repo, resource, clock = sensor
    context = dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repo)
    result = exports_tick(context, resource, clock())
    return result.run_requests or [], result.cursor


def export(orders_dir, name, *times, extra_lines=()):
    orders_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"order_id": f"o-{i}", "event_time": t.isoformat(), "value": 1, "currency": "USD"})
        for i, t in enumerate(times)
    ]
    path = orders_dir / name
    path.write_text("\n".join([*lines, *extra_lines]) + "\n")
    return path


def test_no_exports_no_runs(sensor, instance, orders_dir):
    requests, cursor = tick(sensor, instance)
    assert requests == []
    orders_dir.mkdir()
    assert tick(sensor, instance, cursor)[0] == []


def test_a_new_export_launches_one_run_over_its_windows(sensor, instance, orders_dir):
    path = export(
        orders_dir, "a.jsonl", T - timedelta(minutes=38), T - timedelta(minutes=21), T - timedelta(minutes=30)
    )
    (request,), cursor = tick(sensor, instance)
    assert request.tags["dagster/asset_partition_range_start"] == "2026-11-20-10:00"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-11-20-10:20"
    assert request.job_name in (None, "conversions_job")
    assert tick(sensor, instance, cursor)[0] == []  # nothing changed
    path.write_text(
        path.read_text()
        + json.dumps({"order_id": "late", "event_time": "2026-11-20T10:33:00Z", "value": 2, "currency": "USD"})
        + "\n"
    )
    (again,), cursor = tick(sensor, instance, cursor)
    assert again.tags["dagster/asset_partition_range_end"] == "2026-11-20-10:30" and again.run_key != request.run_key


def test_orders_in_a_window_still_open_wait_for_it_to_close(sensor, instance, orders_dir, clock):
    export(orders_dir, "a.jsonl", T - timedelta(minutes=10), T - timedelta(seconds=30))
    (request,), cursor = tick(sensor, instance)
    assert request.tags["dagster/asset_partition_range_end"] == "2026-11-20-10:30"
    assert tick(sensor, instance, cursor)[0] == []
    clock.now = T + WINDOW
    (deferred,), cursor = tick(sensor, instance, cursor)
    assert deferred.tags["dagster/asset_partition_range_start"] == "2026-11-20-10:40"
    assert deferred.tags["dagster/asset_partition_range_end"] == "2026-11-20-10:40"
    assert tick(sensor, instance, cursor)[0] == []


def touch(path, at: datetime):
    os.utime(path, (at.timestamp(), at.timestamp()))


def test_a_half_written_export_is_retried_once_complete(sensor, instance, orders_dir, clock):
    """A gzip still being copied (truncated, modified seconds ago) asks for nothing and is not marked as seen, so
    the tick after the copy completes launches the run for its windows; the good export beside it goes at once."""
    export(orders_dir, "a.jsonl", T - timedelta(minutes=38))
    complete = gzip.compress(export(orders_dir, "b.jsonl", T - timedelta(minutes=21)).read_bytes())
    (orders_dir / "b.jsonl").unlink()
    half = orders_dir / "b.jsonl.gz"
    half.write_bytes(complete[: len(complete) // 2])
    touch(half, T - timedelta(seconds=10))
    (request,), cursor = tick(sensor, instance)
    assert request.tags["dagster/asset_partition_range_end"] == "2026-11-20-10:00"  # a.jsonl only
    assert "b.jsonl.gz" not in json.loads(cursor)["files"]
    clock.now = T + timedelta(seconds=30)
    assert tick(sensor, instance, cursor)[0] == []  # still half written: still waiting, no run
    half.write_bytes(complete)
    touch(half, T + timedelta(seconds=40))
    clock.now = T + timedelta(seconds=60)
    (retried,), cursor = tick(sensor, instance, cursor)
    assert retried.tags["dagster/asset_partition_range_start"] == "2026-11-20-10:20"
    assert retried.tags["dagster/asset_partition_range_end"] == "2026-11-20-10:20"
    assert "b.jsonl.gz" in json.loads(cursor)["files"] and tick(sensor, instance, cursor)[0] == []


def test_a_copy_that_never_completes_is_quarantined_once_settled(sensor, instance, orders_dir, clock):
    """Once older than the settle time, a file that still cannot be read is final: one run over the window of its
    modification time quarantines it, and it is not asked for again."""
    orders_dir.mkdir()
    half = orders_dir / "b.jsonl.gz"
    half.write_bytes(gzip.compress(b'{"order_id": "x"}\n' * 100)[:50])
    touch(half, T - timedelta(minutes=3))
    requests, cursor = tick(sensor, instance)
    assert requests == [] and json.loads(cursor)["files"] == {}
    clock.now = T - timedelta(minutes=3) + timedelta(seconds=ConversionSettings().conversions_settle_seconds + 1)
    (request,), cursor = tick(sensor, instance, cursor)
    assert request.tags["dagster/asset_partition_range_start"] == "2026-11-20-10:35"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-11-20-10:35"
    assert tick(sensor, instance, cursor)[0] == []


def test_materialisations_with_ambiguous_events_are_retried_once(sensor, instance):
    def materialised(ambiguous):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "conversion_outbox", partition="2026-11-20-10:30", metadata={"ambiguous": ambiguous}
            )
        )

    materialised(3)
    (retry,), cursor = tick(sensor, instance)
    assert retry.partition_key == "2026-11-20-10:35" and retry.run_key.startswith("retry:")
    assert tick(sensor, instance, cursor)[0] == []
    materialised(0)
    assert tick(sensor, instance, cursor)[0] == []


def test_export_windows_reads_times_only(orders_dir):
    path = export(
        orders_dir,
        "a.jsonl",
        T - timedelta(minutes=38),
        extra_lines=['{"order_id": "x", "event_time": "soon"}', "not json", ""],
    )
    mtime = datetime(2026, 11, 21, 8, 7, tzinfo=UTC).timestamp()
    os.utime(path, (mtime, mtime))
    assert export_windows(path) == {datetime(2026, 11, 20, 10, 0, tzinfo=UTC), datetime(2026, 11, 21, 8, 5, tzinfo=UTC)}
    clean = export(orders_dir, "b.jsonl", T - timedelta(minutes=38))
    assert export_windows(clean) == {datetime(2026, 11, 20, 10, 0, tzinfo=UTC)}


def test_the_module_level_sensor_evaluates_with_its_resource(settings, instance, orders_dir):
    """The sensor itself, as the daemon runs it: on by default (the simulator's pixel), a run for a new export."""
    defs = build_definitions(settings.replace(conversions__conversions_dir=orders_dir))
    assert defs.get_repository_def().get_sensor_def(conversion_exports_sensor.name).default_status == (
        dg.DefaultSensorStatus.RUNNING
    )
    export(orders_dir, "a.jsonl", T - timedelta(hours=1))
    context = dg.build_sensor_context(
        instance=instance,
        repository_def=defs.get_repository_def(),
        resources={"conversions": defs.resources["conversions"]},
    )
    assert len(conversion_exports_sensor.evaluate_tick(context).run_requests) == 1
