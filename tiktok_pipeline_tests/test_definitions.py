"""The Definitions load, and every asset, job and schedule is documented for the UI."""

import os
import subprocess
import sys
from datetime import timedelta

import dagster as dg
import pytest

from tiktok_pipeline.definitions import build_definitions, defs
from tiktok_pipeline.settings import DisplaySettings, Settings, SettingsError

UNPARTITIONED = {"alerts", "creator_consent", "governance_report", "quarantined_records", "video_current_state"}
"""The govern group's tables (one row per alert, the view over every source's quarantine table) and the now group's
(one row per tracked video)."""


def test_defs_load_and_are_documented():
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw_video_snapshots", "raw_creator_snapshots", "enriched_video_metrics", "video_velocity"} <= keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, f"{key} has no description"
        schema = node.metadata.get("dagster/column_schema")
        assert schema is not None and all(c.description for c in schema.columns), key
        assert (node.partitions_def is None) == (key.to_user_string() in UNPARTITIONED), key
    for job_name in ("window_pipeline_job", "alert_job"):
        assert repo.get_job(job_name).description
    assert repo.get_sensor_def("alert_sensor").description
    sensor = repo.get_sensor_def("polling_sensor")
    assert sensor.description and sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_real_host_without_client_secret_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TIKTOK_CLIENT_SECRET", raising=False)
    with pytest.raises(
        SettingsError, match="TIKTOK_API_BASE_URL is 'https://open.tiktokapis.com' but TIKTOK_CLIENT_SECRET"
    ):
        build_definitions(Settings(display=DisplaySettings(api_base_url="https://open.tiktokapis.com")))


def test_client_secret_travels_as_env_var(monkeypatch):
    monkeypatch.setenv("TIKTOK_CLIENT_SECRET", "s3cret-value")
    built = build_definitions(Settings(display=DisplaySettings(api_base_url="https://open.tiktokapis.com")))
    resource = built.resources["display_api"]
    assert isinstance(resource.client_secret, dg.EnvVar) or "s3cret-value" not in repr(resource)


def test_every_job_sensor_schedule_and_check_is_documented():
    repo = defs.get_repository_def()
    for job in repo.get_all_jobs():
        if not job.name.startswith("__"):  # Dagster's implicit asset job
            assert job.description, f"job {job.name} has no description"
    for sensor in repo.sensor_defs:
        assert sensor.description, f"sensor {sensor.name} has no description"
    for schedule in repo.schedule_defs:
        assert schedule.description, f"schedule {schedule.name} has no description"
    for check_key in repo.asset_graph.asset_check_keys:
        assert repo.asset_graph.get_check_spec(check_key).description, f"check {check_key} has no description"


def test_partitions_start_comes_from_the_environment():
    # the window partitions are module-level (the defs-folder layout): read once, when the code location loads
    env = {**os.environ, "TIKTOK_PARTITIONS_START": "2026-11-20T10:00:00Z"}
    probe = (
        "import dagster as dg; from tiktok_pipeline.definitions import defs; "
        "print(defs.get_repository_def().asset_graph.get(dg.AssetKey('video_velocity')).partitions_def"
        ".get_first_partition_key())"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "2026-11-20-10:00"


WINDOW_TABLES = (
    "raw_video_snapshots",
    "raw_creator_snapshots",
    "display_api_quarantine",
    "poll_telemetry",
    "enriched_video_metrics",
    "video_velocity",
)


def test_window_tables_carry_freshness_policies_and_parsed_ones_the_parser_version():
    from tiktok_pipeline.ingest.parse.display import PARSER_VERSION

    graph = defs.get_repository_def().asset_graph
    for name in WINDOW_TABLES:
        node = graph.get(dg.AssetKey(name))
        policy = node.freshness_policy
        assert policy is not None, name
        # a 5-minute pipeline 20 minutes behind is stale (failing), 10 minutes behind warns
        assert policy.fail_window.to_timedelta() <= timedelta(minutes=20) and policy.warn_window is not None, name
    for name in WINDOW_TABLES[:4]:  # what parsing the landed responses produces
        assert graph.get(dg.AssetKey(name)).code_version == PARSER_VERSION, name
    from tiktok_pipeline.ingest.parse.ads import PARSER_VERSION as ADS_PARSER_VERSION

    assert graph.get(dg.AssetKey("raw_ad_metrics")).code_version == ADS_PARSER_VERSION
    for name in ("raw_ad_metrics", "ad_velocity"):  # the ads' window tables are as fresh as the videos'
        assert graph.get(dg.AssetKey(name)).freshness_policy is not None, name


def test_the_defs_folder_loader_sees_each_video_definition_once():
    from tiktok_pipeline.definitions import load_defs_folder

    loaded = load_defs_folder()
    keys = [
        key.to_user_string()
        for assets_def in loaded.assets or []
        if isinstance(assets_def, dg.AssetsDefinition)
        for key in assets_def.keys
    ]
    for name in WINDOW_TABLES:
        assert keys.count(name) == 1, name
    assert [j.name for j in loaded.jobs or []].count("window_pipeline_job") == 1
    assert [s.name for s in loaded.sensors or []].count("polling_sensor") == 1


def test_quarantined_records_is_a_governance_view_over_each_source_quarantine():
    graph = defs.get_repository_def().asset_graph
    node = graph.get(dg.AssetKey("quarantined_records"))
    assert node.group_name == "govern" and not node.pools  # writes take the warehouse lock, not a Dagster pool
    assert node.metadata["dagster/table_name"] == "quarantined_records"
    assert {k.to_user_string() for k in node.parent_keys} == {
        "display_api_quarantine",
        "raw_ad_metrics",
        "conversion_outbox",
        "raw_shop_orders",
    }
    assert node.automation_condition is not None
    sensor = defs.get_repository_def().get_sensor_def("automation_condition_sensor")
    assert dg.AssetKey("quarantined_records") in sensor.asset_selection.resolve(graph)
    for owner, table in (
        ("raw_ad_metrics", "ad_report_quarantine"),
        ("conversion_outbox", "conversion_quarantine"),
        ("raw_shop_orders", "shop_order_quarantine"),
    ):
        owning = graph.get(dg.AssetKey(owner))
        assert owning.metadata["quarantine_table"] == table and table in (owning.description or ""), owner


def test_no_step_claims_a_dagster_pool():
    """Writes take turns on the warehouse lock, never on a Dagster pool (issue 11, items 8-10): a pool's row is created
    lazily by every process at once under a burst of CLI runs, and a run killed with SIGKILL keeps its slot for ever."""
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    pooled = {key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).pools}
    assert pooled == set()
    for job in repo.get_all_jobs():
        for node in job.graph.iterate_op_defs():
            assert node.pool is None, (job.name, node.name)


def test_video_current_state_is_the_now_group_beside_the_window_tables():
    graph = defs.get_repository_def().asset_graph
    node = graph.get(dg.AssetKey("video_current_state"))
    assert node.group_name == "now" and node.automation_condition is not None and node.owners
    assert {dg.AssetKey("video_velocity"), dg.AssetKey("enriched_video_metrics")} <= set(node.parent_keys)
    names = {c.name for c in node.metadata["dagster/column_schema"].columns}
    assert {"window_start", "observed_at", "staleness_seconds", "momentum", "campaign_ids", "product_skus"} <= names
    assert "as of the refresh" in node.description and "top_movers_last_hour" in node.description


def test_every_job_runs_its_steps_in_the_runs_own_process():
    """The UI's materialisations and backfills (Dagster's implicit asset job) included: no process start per step."""
    repository = defs.get_repository_def()
    executors = {job.name: job.executor_def.name for job in repository.get_all_jobs()}
    assert "__ASSET_JOB" in executors
    assert set(executors.values()) == {dg.in_process_executor.name}, executors
