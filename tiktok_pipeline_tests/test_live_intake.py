"""The LIVE intake (unofficial source ``live_events``): off by default, refused without a current risk acceptance,
and, once admitted, materialised from JSON lines files on a temporary warehouse, every row and label unofficial."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from tiktok_pipeline.activation.alerts.compose import run_failure_alert
from tiktok_pipeline.activation.alerts.triggers import AlertCursor, AlertTick, live_spike_requests
from tiktok_pipeline.activation.alerts.unofficial import labelled, run_terms, viewer_spike_alert
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.live.sensors import live_intake_tick
from tiktok_pipeline.governance.admission import SOURCE_TAG, TERMS_TAG
from tiktok_pipeline.governance.risk import SourceRefused
from tiktok_pipeline.settings import Settings
from tiktok_pipeline.warehouse.tables.live import LIVE_TABLES
from tiktok_pipeline.windows import WINDOW, latest_closed_window, window_key
from tiktok_pipeline_tests.conftest import open_warehouse
from tiktok_pipeline_tests.unit.test_live_events import event, line

LIVE_KEYS = {"live_events_raw", "live_stream_metrics"}


def acceptance(tmp_path: Path, **overrides) -> Path:
    record = {
        "source": "live_events",
        "accepted_by": "jane@example.com",
        "accepted_at": "2026-01-01T00:00:00Z",
        "expires_at": "2100-01-01T00:00:00Z",
        "scope": "LIVE events of our own creators' streams, for the live dashboard only",
        "contingency": "unset TIKTOK_LIVE_INTAKE_DIR; dashboards fall back to official data",
    } | overrides
    path = tmp_path / "risk_acceptances.json"
    path.write_text(json.dumps({"acceptances": [record]}), encoding="utf-8")
    return path


def live_on(settings: Settings, tmp_path: Path, **acceptance_overrides) -> Settings:
    """``settings`` with the LIVE intake configured and (unless ``accepted=False``) a current acceptance."""
    (tmp_path / "intake").mkdir(exist_ok=True)
    return settings.replace(
        live__intake_dir=tmp_path / "intake",
        risk_acceptances_path=acceptance(tmp_path, **acceptance_overrides),
    )


def asset_keys(defs: dg.Definitions) -> set[str]:
    return {key.to_user_string() for spec in defs.resolve_all_asset_specs() for key in [spec.key]}


def test_by_default_nothing_live_is_loaded_and_nothing_is_refused(settings, tmp_path):
    settings = settings.replace(risk_acceptances_path=tmp_path / "none.json")  # no acceptance recorded at all
    defs = build_definitions(settings)
    assert not LIVE_KEYS & asset_keys(defs)
    repo = defs.get_repository_def()
    assert "live_intake_job" not in {job.name for job in repo.get_all_jobs()}
    assert "live_intake_sensor" not in {sensor.name for sensor in repo.sensor_defs}
    assert "live_intake" not in defs.resources
    assert not [c for c in repo.asset_graph.asset_check_keys if c.asset_key.to_user_string() in LIVE_KEYS]


def test_switched_on_without_an_acceptance_the_load_is_refused_naming_source_file_and_switch(settings, tmp_path):
    settings = live_on(settings, tmp_path)
    (tmp_path / "risk_acceptances.json").unlink()
    with pytest.raises(SourceRefused) as caught:
        build_definitions(settings)
    message = str(caught.value)
    assert "'live_events' is unofficial" in message and "no risk acceptance is recorded" in message
    assert "TIKTOK_RISK_ACCEPTANCES_PATH" in message and "TIKTOK_LIVE_INTAKE_DIR" in message


def test_an_expired_acceptance_refuses_again(settings, tmp_path):
    settings = live_on(settings, tmp_path, accepted_at="2026-01-01T00:00:00Z", expires_at="2026-02-01T00:00:00Z")
    with pytest.raises(SourceRefused, match=r"expired on 2026-02-01"):
        build_definitions(settings)


def test_admitted_the_live_definitions_load_labelled_unofficial(settings, tmp_path):
    defs = build_definitions(live_on(settings, tmp_path))
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert set(specs) >= LIVE_KEYS
    for key in LIVE_KEYS:
        spec = specs[key]
        assert spec.tags[TERMS_TAG] == "unofficial" and spec.tags[SOURCE_TAG] == "live_events"
        assert "unofficial" in spec.kinds and spec.group_name == "live"
        assert (spec.description or "").startswith("**UNOFFICIAL SOURCE**")
        assert spec.metadata["source_terms"] == "unofficial"
        columns = {c.name: c.description for c in spec.metadata["dagster/column_schema"].columns}
        assert "unofficial" in columns["source_terms"]
    repo = defs.get_repository_def()
    job = repo.get_job("live_intake_job")
    assert job.tags[TERMS_TAG] == "unofficial"  # every run carries it, and alerts about the run show it
    assert repo.get_sensor_def("live_intake_sensor").tags[TERMS_TAG] == "unofficial"
    checks = {c.name for c in repo.asset_graph.asset_check_keys}
    assert {"live_events_raw_schema", "live_stream_metrics_schema"} <= checks
    live_checks = [k for k in repo.asset_graph.asset_check_keys if k.asset_key.to_user_string() in LIVE_KEYS]
    assert all(repo.asset_graph.get_check_spec(k).description for k in live_checks)
    assert job.description and repo.get_sensor_def("live_intake_sensor").description
    for spec in LIVE_TABLES:
        assert "UNOFFICIAL" in spec.description and "source_terms" in spec.column_names


def materialize_live(settings: Settings, key: str, instance: dg.DagsterInstance | None = None):
    defs = build_definitions(settings)
    return dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.groups("live"),
        resources=dict(defs.resources),
        instance=instance or dg.DagsterInstance.ephemeral(),
        partition_key=key,
        tags=dict(defs.get_repository_def().get_job("live_intake_job").tags),
        raise_on_error=False,
    )


def table(settings: Settings, sql: str) -> list[tuple]:
    with open_warehouse(settings) as connection:
        return connection.execute(sql).fetchall()


@pytest.mark.both_backends
def test_fixture_files_are_materialised_once_with_bad_lines_rejected_and_a_rerun_counts_nothing_twice(
    settings, tmp_path
):
    settings = live_on(settings, tmp_path)
    intake = tmp_path / "intake"
    (intake / "room_a.jsonl").write_bytes(
        line(event("comment"))
        + line(event("gift", repeat_count=2, diamond_count=5))
        + line(event("roomUser", viewer_count=1200))
        + b'{"type": "like", "room_id": "7301", "creator": "maker", "timestamp": 1764964800000, "like_count": true}\n'
        + b'{"type": "comment", "room_'  # still being written: waits
    )
    (intake / "nested").mkdir()
    (intake / "nested" / "room_b.jsonl").write_bytes(line(event("share", room_id="9")) + b"\xff\xfe\n")
    key = window_key(latest_closed_window(datetime.now(UTC)))
    first = materialize_live(settings, key)
    assert first.success
    raw = "SELECT event_type, room_id, source_terms FROM live_events_raw ORDER BY intake_file, line_start"
    events = table(settings, raw)
    assert [e[:2] for e in events] == [("share", "9"), ("comment", "7301"), ("gift", "7301"), ("viewer_count", "7301")]
    assert {e[2] for e in events} == {"unofficial"}
    rejected = table(settings, "SELECT source, reason, payload, source_terms FROM live_events_rejected ORDER BY source")
    assert [r[0] for r in rejected] == [
        "nested/room_b.jsonl:" + str(len(line(event("share", room_id="9")))),
        f"room_a.jsonl:{sum(len(line(e)) for e in (event('comment'), event('gift', repeat_count=2, diamond_count=5), event('roomUser', viewer_count=1200)))}",
    ]
    assert "not UTF-8" in rejected[0][1] and "like_count" in rejected[1][1] and '"like_count": true' in rejected[1][2]
    metrics = table(
        settings,
        "SELECT room_id, comments, gifts, gift_diamonds, peak_viewers, source_terms FROM live_stream_metrics ORDER BY 1",
    )
    assert metrics == [("7301", 1, 2, 10, 1200, "unofficial"), ("9", 0, 0, 0, None, "unofficial")]
    materialisation = next(
        e for e in first.get_asset_materialization_events() if e.asset_key.to_user_string() == "live_stream_metrics"
    )
    assert materialisation.materialization.metadata["peak_viewers"].value == 1200
    checks = first.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == {"live_events_raw_schema", "live_stream_metrics_schema"}
    assert all(c.passed for c in checks)

    with (intake / "room_a.jsonl").open("ab") as handle:  # more lines arrive after the window took its own
        handle.write(b'id": "7301", "creator": "maker", "timestamp": 1764964800000, "comment": "x"}\n')
    again = materialize_live(settings, key)
    assert again.success
    assert table(settings, raw) == events  # the window re-reads what it took: nothing twice, nothing new
    assert len(table(settings, "SELECT * FROM live_events_rejected")) == 2
    assert table(settings, "SELECT count(*) FROM live_stream_metrics") == [(2,)]
    landing = list((tmp_path / "landing" / "live_events").glob("*/*.jsonl.gz"))
    assert len(landing) == 1


def test_the_sensor_requests_the_latest_closed_window_once_while_lines_wait(settings, tmp_path):
    settings = live_on(settings, tmp_path)
    defs = build_definitions(settings)
    resource = defs.resources["live_intake"]
    instance = dg.DagsterInstance.ephemeral()
    now = datetime(2026, 12, 5, 20, 7, 30, tzinfo=UTC)
    context = dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def())
    empty = live_intake_tick(context, resource, now)
    assert isinstance(empty, dg.SkipReason) and "no LIVE lines waiting" in (empty.skip_message or "")
    (tmp_path / "intake" / "s.jsonl").write_bytes(line(event()))
    result = live_intake_tick(context, resource, now)
    assert isinstance(result, dg.SensorResult)
    [request] = result.run_requests or []
    assert request.partition_key == request.run_key == "2026-12-05-20:00"
    assert request.tags[TERMS_TAG] == "unofficial" and result.cursor == "2026-12-05-20:00"
    repeat = live_intake_tick(
        dg.build_sensor_context(instance=instance, cursor=result.cursor, repository_def=defs.get_repository_def()),
        resource,
        now + timedelta(minutes=1),
    )
    assert isinstance(repeat, dg.SkipReason) and "already requested" in (repeat.skip_message or "")
    from tiktok_pipeline.ingest.collect.live import land_live_window

    land_live_window(resource.intake, datetime(2026, 12, 5, 20, 0, tzinfo=UTC), now=now)
    taken = live_intake_tick(
        dg.build_sensor_context(instance=instance, cursor=result.cursor, repository_def=defs.get_repository_def()),
        resource,
        now + WINDOW,
    )
    assert isinstance(taken, dg.SkipReason) and "no LIVE lines waiting" in (taken.skip_message or "")


def test_alerts_from_live_data_say_unofficial_source():
    now = datetime.now(UTC)
    key = window_key(latest_closed_window(now))
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(
        dg.AssetMaterialization("live_stream_metrics", partition=key, metadata={"peak_viewers": 5000})
    )
    instance.report_runless_asset_event(
        dg.AssetMaterialization("live_stream_metrics", partition=key, metadata={"peak_viewers": 10})
    )
    tick = AlertTick(AlertCursor())
    live_spike_requests(instance, tick, now, 1000)
    assert [r.run_key for r in tick.requests] == [f"live:{key}"]
    config = tick.requests[0].run_config["ops"]["compose_alert"]["config"]
    assert config["kind"] == "live" and config["source_terms"] == "unofficial"
    import polars as pl

    streams = pl.DataFrame(
        {"room_id": ["7301"], "creator": ["maker"], "peak_viewers": [5000], "comments": [3], "gifts": [1], "likes": [9]}
    )
    spike = viewer_spike_alert(key, streams, 1000, "http://ui", now)
    assert spike is not None and "UNOFFICIAL SOURCE" in spike.title and "unofficial source" in spike.summary
    run = dg.DagsterRun(job_name="live_intake_job", tags={TERMS_TAG: "unofficial"})
    failed = labelled(
        run_failure_alert(
            run_id="r1", job_name="live_intake_job", window_key=key, step=None, reason="boom", ui_url="u", now=now
        ),
        run_terms(run),
    )
    assert (
        failed is not None and failed.title.startswith("[UNOFFICIAL SOURCE]") and "unofficial source" in failed.summary
    )
    official = run_failure_alert(
        run_id="r2", job_name="x", window_key=key, step=None, reason="boom", ui_url="u", now=now
    )
    assert labelled(official, run_terms(dg.DagsterRun(job_name="x"))) == official


def test_a_failed_check_of_a_live_run_is_alerted_as_unofficial(settings, tmp_path, monkeypatch):
    import pandera.polars as pa
    import polars as pl

    from tiktok_pipeline.activation.alerts.triggers import alert_tick
    from tiktok_pipeline.defs.live import assets as live_assets

    def impossible() -> pa.DataFrameSchema:  # a structure no event has: the blocking check fails
        return pa.DataFrameSchema({"event_type": pa.Column(pl.String, pa.Check.isin(["nothing"]))})

    monkeypatch.setattr(live_assets, "live_events_schema", impossible)
    settings = live_on(settings, tmp_path)
    (tmp_path / "intake" / "s.jsonl").write_bytes(line(event("comment")))
    instance = dg.DagsterInstance.ephemeral()
    result = materialize_live(settings, window_key(latest_closed_window(datetime.now(UTC))), instance)
    assert not result.success
    tick = alert_tick(instance, None, now=datetime.now(UTC), momentum_threshold=3.0)
    configs = [r.run_config["ops"]["compose_alert"]["config"] for r in tick.requests]
    failed = [c for c in configs if c["kind"] == "check" and c["check"] == "live_events_raw_schema"]
    assert failed and all(c["source_terms"] == "unofficial" for c in failed)
