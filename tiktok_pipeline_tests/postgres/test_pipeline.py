"""The pipeline on the production instance: runs, materialisations, check evaluations and sensor reads in PostgreSQL.

Each test reads its results back twice: through the instance API (what the UI and the sensors use)
and with plain SQL on the database, proving that the rows really are in PostgreSQL.
"""

from datetime import timedelta

import dagster as dg
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from tiktok_pipeline.activation.alerts.triggers import AlertCursor
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.videos.sensors import PollCursor
from tiktok_pipeline.windows import WINDOW
from tiktok_pipeline_tests.alerts.test_alert_job import AlertSensorAt
from tiktok_pipeline_tests.conftest import T0, open_warehouse
from tiktok_pipeline_tests.conftest import alerts_resource as plain_alerts_resource
from tiktok_pipeline_tests.test_assets import materialize_range
from tiktok_pipeline_tests.test_polling_sensor import Clock, make_sensor, plan_of, tick
from tiktok_pipeline_tests.test_quality import edit_landing, first_video_record

pytestmark = pytest.mark.heavy(17)  # seconds of a core, measured alone: started first under pytest-xdist

RAW_CHECKS = 7  # raw_video_snapshots' checks
DOWNSTREAM_CHECKS = 3  # enriched_video_metrics' two (structure, plausible engagement) and video_velocity's one
COMPLETED = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}
# Dagster 1.13 plans a check of a partitioned asset per partition (rows left PLANNED) but records the
# project's unpartitioned check results on a row of their own: only the evaluated rows are compared.
EVALUATED = "execution_status <> 'PLANNED'"


def materialize_window(settings, window, instance, run_config=None) -> dg.ExecuteInProcessResult:
    """One window as a partitioned run (tag dagster/partition), like the polling sensor's runs."""
    defs = build_definitions(settings)
    return dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.groups("collect", "process"),
        resources=dict(defs.resources),
        partition_key=window.strftime("%Y-%m-%d-%H:%M"),
        instance=instance,
        run_config=run_config,
        raise_on_error=False,
    )


def test_windows_materialised_on_postgres_are_read_back_from_it(settings, pg_instance, pg_database):
    ranged = materialize_range(settings, T0, T0 + 2 * WINDOW, instance=pg_instance)  # 10:00..10:10, one run
    single = materialize_window(settings, T0 + 3 * WINDOW, pg_instance)  # 10:15
    assert ranged.success and single.success
    run_ids = [ranged.run_id, single.run_id]

    # through the instance API
    records = pg_instance.get_run_records(dg.RunsFilter(run_ids=run_ids))
    assert {r.dagster_run.run_id: r.dagster_run.status for r in records} == dict.fromkeys(
        run_ids, dg.DagsterRunStatus.SUCCESS
    )
    velocity = pg_instance.fetch_materializations(dg.AssetKey("video_velocity"), limit=10).records
    assert {r.run_id for r in velocity} == set(run_ids)
    assert [r.asset_materialization.partition for r in velocity if r.run_id == single.run_id] == ["2026-11-20-10:15"]
    schema_check = dg.AssetCheckKey(dg.AssetKey("raw_video_snapshots"), "raw_video_schema")
    history = pg_instance.event_log_storage.get_asset_check_execution_history(schema_check, limit=10, status=COMPLETED)
    # one evaluation per window, each naming its window, also for the range run
    windows = {
        ranged.run_id: ["2026-11-20-10:00", "2026-11-20-10:05", "2026-11-20-10:10"],
        single.run_id: ["2026-11-20-10:15"],
    }
    expected = [(run_id, key, "SUCCEEDED") for run_id, keys in windows.items() for key in keys]
    assert sorted((h.run_id, h.partition, h.status.value) for h in history) == sorted(expected)

    # the same rows, straight from PostgreSQL
    assert sorted(pg_database.query("SELECT run_id, status FROM runs WHERE run_id = ANY(%s)", (run_ids,))) == sorted(
        (run_id, "SUCCESS") for run_id in run_ids
    )
    rows = pg_database.query(
        """SELECT id, run_id, partition FROM event_logs
           WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key = %s ORDER BY id DESC""",
        (dg.AssetKey("video_velocity").to_string(),),
    )
    assert [row[0] for row in rows] == [r.storage_id for r in velocity]
    assert (single.run_id, "2026-11-20-10:15") in {(run_id, partition) for _, run_id, partition in rows}
    checks = pg_database.query(
        f"""SELECT run_id, asset_key, check_name, execution_status FROM asset_check_executions
            WHERE run_id = ANY(%s) AND {EVALUATED}""",
        (run_ids,),
    )
    assert len(checks) == (3 + 1) * (
        RAW_CHECKS + DOWNSTREAM_CHECKS
    )  # every check once per window: 3 (ranged) + 1 (single)
    assert {status for *_, status in checks} == {"SUCCEEDED"}
    assert {(asset, name) for _, asset, name, _ in checks} >= {
        (dg.AssetKey("raw_video_snapshots").to_string(), "raw_video_schema"),
        (dg.AssetKey("video_velocity").to_string(), "velocity_schema"),
    }
    [(partition_tag,)] = pg_database.query(
        "SELECT value FROM run_tags WHERE run_id = %s AND key = 'dagster/partition'", (single.run_id,)
    )
    assert partition_tag == "2026-11-20-10:15"
    # and the data itself is in the warehouse, not in PostgreSQL
    with open_warehouse(settings) as con:
        assert con.execute("SELECT count(DISTINCT window_start) FROM video_velocity").fetchone() == (4,)


def test_polling_sensor_plans_from_postgres(settings, pg_instance, pg_database):
    now = T0 + 8 * WINDOW + timedelta(seconds=12)  # the 10:35 window has just closed
    clock = Clock(now)
    first = tick(make_sensor(settings, clock, warm_up=True), pg_instance, None)
    [warm] = first.run_requests
    assert (warm.tags["dagster/asset_partition_range_start"], warm.tags["dagster/asset_partition_range_end"]) == (
        "2026-11-20-10:05",
        "2026-11-20-10:35",
    )
    claimed = PollCursor.parse(first.cursor)
    assert (claimed.last_window, claimed.telemetry_storage_id) == ("2026-11-20-10:35", None)
    assert claimed.followed[0] == "2026-11-20-10:05" and len(claimed.followed) == 7  # until their run settles them
    warm_run = materialize_range(
        settings, T0 + WINDOW, T0 + 7 * WINDOW, run_config=warm.run_config or None, instance=pg_instance
    )
    assert warm_run.success

    clock.now = now + WINDOW
    second = tick(make_sensor(settings, clock, warm_up=True), pg_instance, first.cursor)  # a restarted daemon
    [request] = second.run_requests
    assert request.run_key == request.partition_key == "2026-11-20-10:40"
    assert plan_of(request)["discover"] == [] and plan_of(request)["due_videos"] > 0
    cursor = PollCursor.parse(second.cursor)
    # the sensor followed poll_telemetry's latest materialisation, stored in PostgreSQL's event_logs
    [(telemetry_id, telemetry_run)] = pg_database.query(
        """SELECT id, run_id FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key = %s
           ORDER BY id DESC LIMIT 1""",
        (dg.AssetKey("poll_telemetry").to_string(),),
    )
    assert (cursor.last_window, cursor.telemetry_storage_id) == ("2026-11-20-10:40", telemetry_id)
    assert telemetry_run == warm_run.run_id

    planned = materialize_window(settings, clock.now - 2 * WINDOW, pg_instance, run_config=request.run_config)
    assert planned.success
    third = tick(make_sensor(settings, clock, warm_up=True), pg_instance, second.cursor)
    assert not third.run_requests and "already requested" in (third.skip_message or "")
    [(planned_status,)] = pg_database.query("SELECT status FROM runs WHERE run_id = %s", (planned.run_id,))
    assert planned_status == "SUCCESS"


def test_a_check_failure_in_postgres_is_alerted(settings, pg_instance, pg_database):
    sensor = AlertSensorAt(momentum_threshold=1000.0, now=T0)
    assert materialize_range(settings, T0, T0 + WINDOW, instance=pg_instance).success

    def duplicate(records):
        videos = first_video_record(records)
        videos.append(dict(videos[0]))

    edit_landing(settings, T0 + WINDOW, duplicate)
    failing = materialize_range(settings, T0 + WINDOW, T0 + WINDOW, instance=pg_instance)
    assert failing.success  # a WARN check failure does not fail the run

    [(evaluation_id, status)] = pg_database.query(
        """SELECT evaluation_event_storage_id, execution_status FROM asset_check_executions
           WHERE run_id = %s AND check_name = 'no_duplicate_observations' AND execution_status <> 'PLANNED'""",
        (failing.run_id,),
    )
    assert status == "FAILED"

    first = sensor.evaluate_tick(dg.build_sensor_context(instance=pg_instance))
    [request] = first.run_requests
    assert request.run_key == "check:raw_video_snapshots:no_duplicate_observations:2026-11-20-10:05:WARN"
    config = request.run_config["ops"]["compose_alert"]["config"]
    assert config["run_id"] == failing.run_id and config["failed_rows"] == 1
    [(last_evaluation,)] = pg_database.query(
        "SELECT max(id) FROM event_logs WHERE dagster_event_type = 'ASSET_CHECK_EVALUATION'"
    )
    assert AlertCursor.model_validate_json(first.cursor).checks_after == last_evaluation >= evaluation_id

    again = sensor.evaluate_tick(dg.build_sensor_context(instance=pg_instance, cursor=first.cursor))
    assert again.run_requests == []

    defs = build_definitions(settings)
    alert = defs.resolve_job_def("alert_job").execute_in_process(
        run_config=request.run_config,
        instance=pg_instance,
        resources={**defs.resources, "alerts": plain_alerts_resource()},
        tags=request.tags,
    )
    assert alert.success
    [record] = pg_instance.fetch_materializations(dg.AssetKey("alerts"), limit=5).records
    assert record.run_id == alert.run_id
    assert record.asset_materialization.metadata["alert_id"].value == request.run_key
    assert pg_database.query(
        "SELECT r.status, t.value FROM runs r JOIN run_tags t USING (run_id) WHERE r.run_id = %s AND t.key = 'tiktok/alert'",
        (alert.run_id,),
    ) == [("SUCCESS", "check")]
