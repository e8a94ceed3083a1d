"""The Definitions load, and every asset, job and schedule is documented for the UI."""

import dagster as dg

from tiktok_pipeline.definitions import build_definitions, defs
from tiktok_pipeline.settings import Settings


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
        assert (node.partitions_def is None) == (key.to_user_string() == "alerts"), key
    for job_name in ("window_pipeline_job", "alert_job"):
        assert repo.get_job(job_name).description
    assert repo.get_sensor_def("alert_sensor").description
    sensor = repo.get_sensor_def("polling_sensor")
    assert sensor.description and sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_real_host_without_client_secret_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TIKTOK_CLIENT_SECRET", raising=False)
    try:
        build_definitions(Settings(api_base_url="https://open.tiktokapis.com"))
    except RuntimeError as exc:
        assert "TIKTOK_CLIENT_SECRET" in str(exc)
    else:
        raise AssertionError("expected a RuntimeError naming TIKTOK_CLIENT_SECRET")


def test_client_secret_travels_as_env_var(monkeypatch):
    monkeypatch.setenv("TIKTOK_CLIENT_SECRET", "s3cret-value")
    built = build_definitions(Settings(api_base_url="https://open.tiktokapis.com"))
    resource = built.resources["display_api"]
    assert isinstance(resource.client_secret, dg.EnvVar) or "s3cret-value" not in repr(resource)
