"""The window job (and the ads job) run their steps in the run's own process: no process start per step.

Issue 13, "Freshness": four process starts took about 12 s of a quiet window's ~17 s. The jobs are executed as a
launched run executes them (``execute_job`` of the reconstructable job, the job's own executor), so the test sees
which process ran each step, and that ``dead_run_sensor``'s worker tag still names the run's process.
"""

import os

import dagster as dg
import pytest

from tiktok_pipeline.defs.ads.jobs import AD_JOB_NAME
from tiktok_pipeline.defs.videos.jobs import WINDOW_JOB_NAME
from tiktok_pipeline.governance.workers import WORKER_TAG, Worker
from tiktok_pipeline.windows import window_key

from .conftest import SHIPPED_REGISTRY, T0


def window_job() -> dg.JobDefinition:
    """The window job of the definitions the environment gives (reconstructable: module level)."""
    from tiktok_pipeline.definitions import build_definitions

    return build_definitions().resolve_job_def(WINDOW_JOB_NAME)


def ad_job() -> dg.JobDefinition:
    """The ads job of the definitions the environment gives (reconstructable: module level)."""
    from tiktok_pipeline.definitions import build_definitions

    return build_definitions().resolve_job_def(AD_JOB_NAME)


@pytest.mark.parametrize("job", [window_job, ad_job], ids=["window_pipeline_job", "ad_metrics_job"])
def test_a_run_executes_every_step_in_its_own_process_and_records_it(job, tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("TIKTOK_")]:
        monkeypatch.delenv(name)
    for name, value in {
        "TIKTOK_WAREHOUSE_PATH": tmp_path / "warehouse.duckdb",
        "TIKTOK_LANDING_DIR": tmp_path / "landing",
        "TIKTOK_TOKEN_STORE_PATH": tmp_path / "tokens.json",
        "TIKTOK_POLLING_STATE_DIR": tmp_path / "polling_state",
        "TIKTOK_REGISTRY_PATH": SHIPPED_REGISTRY,
        "TIKTOK_PARTITIONS_START": "2026-11-20T00:00:00Z",
    }.items():
        monkeypatch.setenv(name, str(value))
    (tmp_path / "home").mkdir()
    tags = {"dagster/partition": window_key(T0)}
    with (
        dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance,
        dg.execute_job(dg.reconstructable(job), instance, tags=tags) as result,
    ):
        assert result.success
        steps = result.get_step_success_events()
        run = instance.get_run_by_id(result.run_id)
    assert steps and {event.pid for event in steps} == {os.getpid()}  # not a process per step
    assert run is not None and Worker.parse(run.tags.get(WORKER_TAG)).pid == os.getpid()  # type: ignore[union-attr]
