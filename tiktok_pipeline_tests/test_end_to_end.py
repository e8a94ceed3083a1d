"""End to end over real HTTP: a served simulator, the window job, and the warehouse it fills."""

import pytest

from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.world import WorldConfig
from tiktok_pipeline.windows import WINDOW
from tiktok_pipeline_tests.conftest import open_warehouse

from .conftest import T0
from .test_assets import materialize_range


@pytest.mark.both_backends
def test_window_job_over_real_http(settings):
    sim = Simulator(WorldConfig(seed=settings.sim_seed))
    with serve_in_thread(sim) as url:
        served = settings.replace(display__api_base_url=url, display__api_is_simulator=True)
        result = materialize_range(served, T0, T0 + 6 * WINDOW)
    assert result.success
    assert sim.stats["requests /v2/video/list/"] > 0 and sim.stats["oauth authorization_code"] == 6
    with open_warehouse(settings) as con:
        windows, rows, with_delta = con.execute(
            "SELECT count(DISTINCT window_start), count(*), count(view_delta_30m) FROM video_velocity"
        ).fetchone()
    assert windows == 7 and rows > 0 and with_delta > 0
    assert settings.token_store_path.exists()


@pytest.mark.both_backends
def test_faulty_api_loses_nothing(settings):
    """Throttling, server errors and malformed records: retried, quarantined, every record accounted for."""
    from tiktok_pipeline.ingest.landing import read_landing
    from tiktok_pipeline.simulator.faults import FaultConfig

    faults = FaultConfig(rate_429=0.1, rate_5xx=0.1, rate_malformed=0.2, send_retry_after=False, seed=11)
    sim = Simulator(WorldConfig(seed=settings.sim_seed), faults)
    with serve_in_thread(sim) as url:
        served = settings.replace(display__api_base_url=url, display__api_is_simulator=True, display__max_attempts=8)
        result = materialize_range(served, T0, T0 + WINDOW)
    assert result.success
    assert sim.stats["fault 429"] + sim.stats["fault 5xx"] > 0 and sim.stats["fault malformed"] > 0
    received = sum(
        len(record["payload"]["data"]["videos"])
        for path in settings.landing_dir.rglob("*.jsonl.gz")
        for record in read_landing(path)
        if record["endpoint"] in ("video/list", "video/query") and not record["error"]
    )
    with open_warehouse(settings) as con:
        parsed = con.execute("SELECT count(*) FROM raw_video_snapshots").fetchone()[0]
        quarantined = con.execute("SELECT count(*), count(DISTINCT reason) FROM display_api_quarantine").fetchone()
    assert quarantined[0] > 0 and parsed + quarantined[0] == received
    materialized = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
        for e in result.all_events
        if e.is_step_materialization
    }
    assert "display_api_quarantine" in materialized
    raw_meta = [
        e.step_materialization_data.materialization.metadata
        for e in result.all_events
        if e.is_step_materialization and e.asset_key.to_user_string() == "raw_video_snapshots"
    ]
    assert len(raw_meta) == 2  # one materialisation per window, each with its own figures
    assert sum(m["retries"].value for m in raw_meta) > 0
    assert sum(m["quarantined_records"].value for m in raw_meta) == quarantined[0]
    assert raw_meta[0]["range_quarantined_records"].value == quarantined[0]
