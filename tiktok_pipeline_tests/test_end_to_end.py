"""End to end over real HTTP: a served simulator, the window job, and the warehouse it fills."""

import duckdb

from tiktok_pipeline.partitions import WINDOW
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.world import WorldConfig

from .conftest import T0
from .test_assets import materialize_range


def test_window_job_over_real_http(settings):
    sim = Simulator(WorldConfig(seed=settings.sim_seed))
    with serve_in_thread(sim) as url:
        served = settings.model_copy(update={"api_base_url": url, "api_is_simulator": True})
        result = materialize_range(served, T0, T0 + 6 * WINDOW)
    assert result.success
    assert sim.stats["requests /v2/video/query/"] > 0 and sim.stats["oauth authorization_code"] == 6
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        windows, rows, with_delta = con.execute(
            "SELECT count(DISTINCT window_start), count(*), count(view_delta_30m) FROM video_velocity"
        ).fetchone()
    assert windows == 7 and rows > 0 and with_delta > 0
    assert settings.token_store_path.exists()
