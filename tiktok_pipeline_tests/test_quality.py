"""Quality checks end to end through ``materialize``: clean data passes, injected faults fail."""

import dagster as dg
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.ingest.landing import landing_path, read_landing, write_landing
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.faults import FaultConfig
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.world import WorldConfig
from tiktok_pipeline.windows import WINDOW, window_key
from tiktok_pipeline_tests.conftest import open_warehouse

from .conftest import T0
from .test_assets import materialize_range


def checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}


def test_every_check_passes_on_clean_simulator_data(settings):
    result = materialize_range(settings, T0, T0 + 6 * WINDOW)
    assert result.success
    evaluations = checks(result)
    assert len(evaluations) == 10
    assert all(e.passed for e in evaluations.values()), {
        n: e.description for n, e in evaluations.items() if not e.passed
    }


def edit_landing(settings, window, edit) -> None:
    """Rewrite a landed window file with ``edit(records)`` applied (re-materialising re-parses it)."""
    path = landing_path(settings.landing_dir, "display_api", window)
    records = read_landing(path)
    edit(records)
    write_landing(path, records)


def first_video_record(records):
    for record in records:
        if record["endpoint"] == "video/list" and record["payload"]["data"]["videos"]:
            return record["payload"]["data"]["videos"]
    raise AssertionError("no video records landed")


@pytest.mark.both_backends
def test_duplicates_malformed_and_decreasing_views_are_caught(settings):
    assert materialize_range(settings, T0, T0 + WINDOW).success
    previous_views = {}
    for record in read_landing(landing_path(settings.landing_dir, "display_api", T0)):
        if record["endpoint"] == "video/list":
            previous_views.update({v["id"]: v["view_count"] for v in record["payload"]["data"]["videos"]})

    def inject(records):
        videos = first_video_record(records)
        videos.append(dict(videos[0]))  # the API repeats a video
        videos.append({**videos[1], "like_count": -5})  # a negative count
        videos.append({"id": None, "view_count": "N/A"})  # malformed
        videos[2]["view_count"] = previous_views[videos[2]["id"]] - 10  # views went down

    edit_landing(settings, T0 + WINDOW, inject)
    result = materialize_range(settings, T0 + WINDOW, T0 + WINDOW)
    evaluations = checks(result)
    assert not evaluations["no_duplicate_observations"].passed
    assert not evaluations["counts_never_decrease"].passed
    assert evaluations["counts_never_decrease"].metadata["failed_rows"].value == 1
    assert evaluations["landed_matches_parsed"].passed  # nothing vanished: rows + quarantine = landed
    assert evaluations["raw_video_schema"].passed  # bad records never reach the table
    assert result.success  # WARN failures do not fail the run
    with open_warehouse(settings) as con:
        reasons = [r[0] for r in con.execute("SELECT reason FROM display_api_quarantine").fetchall()]
    assert len(reasons) == 3
    assert any("like_count" in r for r in reasons) and any("duplicate" in r for r in reasons)


def test_bad_record_share_over_the_threshold_fails_its_check(settings):
    sim = Simulator(WorldConfig(seed=settings.sim_seed), FaultConfig(rate_malformed=0.3, seed=2))
    with serve_in_thread(sim) as url:
        served = settings.replace(display__api_base_url=url, display__api_is_simulator=True)
        result = materialize_range(served, T0, T0)
    evaluations = checks(result)
    share = evaluations["bad_record_share"]
    assert not share.passed and share.severity == dg.AssetCheckSeverity.ERROR
    assert share.metadata["bad_record_share"].value > 0.05
    assert evaluations["landed_matches_parsed"].passed


@pytest.mark.both_backends
def test_structural_failure_blocks_downstream(settings):
    assert materialize_range(settings, T0, T0).success
    velocity_sql = "SELECT * FROM video_velocity ORDER BY ALL"
    with open_warehouse(settings, read_only=False) as con:  # a writer bug: negative views, a duplicate row
        velocity_before = con.execute(velocity_sql).fetchall()
        con.execute(
            "UPDATE raw_video_snapshots SET view_count = -1 WHERE video_id = (SELECT min(video_id) FROM raw_video_snapshots)"
        )
        con.execute("INSERT INTO raw_video_snapshots SELECT * FROM raw_video_snapshots LIMIT 1")
    defs = build_definitions(settings)
    result = dg.materialize(
        list(defs.assets),
        resources=dict(defs.resources),
        selection=["enriched_video_metrics", "video_velocity"],
        partition_key=window_key(T0),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    evaluations = checks(result)
    schema = evaluations["enriched_schema"]
    assert not schema.passed and schema.metadata["failed_rows"].value >= 2
    assert "velocity_schema" not in evaluations  # the blocking check stopped video_velocity
    assert not result.success
    materialized = {e.asset_key.to_user_string() for e in result.all_events if e.is_step_materialization}
    assert "video_velocity" not in materialized
    with open_warehouse(settings) as con:  # computed beside the checks, but never written: the first run's rows stay
        assert velocity_before and con.execute(velocity_sql).fetchall() == velocity_before


def test_more_interactions_than_views_warns_its_window_and_every_window_gets_velocity(settings):
    """TikTok's counters update separately: a young video can briefly show more likes than views. One such record
    (within the parser's bounds) flags its window with a WARN check; it blocks nothing, so no window of the
    range loses its velocity."""
    first, last = T0, T0 + 3 * WINDOW
    assert materialize_range(settings, first, last).success
    odd = T0 + WINDOW
    injected = {}

    def inject(records):
        video = first_video_record(records)[0]
        video.update(view_count=10, like_count=400, comment_count=30, share_count=20)  # 45× the views
        injected.update(video)

    edit_landing(settings, odd, inject)
    result = materialize_range(settings, first, last)  # the range again, re-parsed from the landing zone
    assert result.success
    materialized = {(e.asset_key.to_user_string(), e.partition) for e in result.all_events if e.is_step_materialization}
    keys = [window_key(first + i * WINDOW) for i in range(4)]
    assert {("video_velocity", key) for key in keys} <= materialized
    by_window = {
        (e.partition, e.asset_check_key.name): e
        for e in result.get_asset_check_evaluations()
        if e.asset_check_key.asset_key == dg.AssetKey("enriched_video_metrics")
    }
    assert all(by_window[(key, "enriched_schema")].passed for key in keys)  # structure is fine
    plausible = {key: by_window[(key, "engagement_rate_plausible")] for key in keys}
    assert [key for key, e in plausible.items() if not e.passed] == [window_key(odd)]
    warning = plausible[window_key(odd)]
    assert warning.severity == dg.AssetCheckSeverity.WARN and warning.metadata["failed_rows"].value == 1
    assert injected["id"] in warning.metadata["failing_rows_sample"].value
    with open_warehouse(settings) as con:
        rate = con.execute(
            "SELECT engagement_rate FROM video_velocity WHERE video_id = ? AND window_start = ?",
            [injected["id"], odd.replace(tzinfo=None)],
        ).fetchone()
    assert rate == (45.0,)  # kept as TikTok reported it, velocity computed
