"""The provider is off unless switched on: nothing of it is loaded then; on, its asset is in the window job upstream of
enriched metrics; its password is a secret the resources require against a real host; its limit is the declared one."""

import dagster as dg
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.provider.resources import AnalyticsProviderResource
from tiktok_pipeline.settings import SettingsError

PROVIDER_KEYS = {dg.AssetKey("provider_video_snapshots"), dg.AssetKey("analytics_provider_quarantine")}


@pytest.mark.file_backend_only  # no warehouse is touched: nothing to run again on a DuckLake
def test_off_nothing_of_it_is_loaded_and_on_it_feeds_enriched_metrics(settings):
    off = build_definitions(settings).resolve_asset_graph()
    assert not PROVIDER_KEYS & set(off.get_all_asset_keys())
    assert off.get(dg.AssetKey("enriched_video_metrics")).parent_keys == {dg.AssetKey("raw_video_snapshots")}

    defs = build_definitions(settings.replace(provider__enabled=True))
    graph = defs.resolve_asset_graph()
    assert set(graph.get_all_asset_keys()) >= PROVIDER_KEYS
    assert dg.AssetKey("provider_video_snapshots") in graph.get(dg.AssetKey("enriched_video_metrics")).parent_keys
    assert "provider_snapshots" in {node.name for node in defs.resolve_job_def("window_pipeline_job").nodes}
    tags = graph.get(dg.AssetKey("provider_video_snapshots")).tags
    assert tags["tiktok/source"] == "analytics_provider" and tags["tiktok/source_terms"] == "approved_provider"


@pytest.mark.file_backend_only
def test_a_real_host_needs_the_password_and_the_limit_stays_within_the_declaration(settings, monkeypatch):
    monkeypatch.delenv("TIKTOK_PROVIDER_PASSWORD", raising=False)
    real = settings.replace(provider__enabled=True, provider__base_url="https://open.echotik.live")
    with pytest.raises(SettingsError, match="TIKTOK_PROVIDER_PASSWORD is not set"):
        AnalyticsProviderResource.from_settings(real)
    monkeypatch.setenv("TIKTOK_PROVIDER_PASSWORD", "a-secret")
    resource = AnalyticsProviderResource.from_settings(real)
    assert resource.requests_per_minute == 100 and not resource.simulator
    assert isinstance(resource.password, dg.EnvVar)  # resolved only when the run starts: never in run config
    with pytest.raises(SettingsError, match="TIKTOK_PROVIDER_REQUESTS_PER_MINUTE=500 is above the declared"):
        AnalyticsProviderResource.from_settings(real.replace(provider__requests_per_minute=500))
