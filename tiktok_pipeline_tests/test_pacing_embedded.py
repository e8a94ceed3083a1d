"""Apply mode on the EMBEDDED simulator (no TIKTOK_API_BASE_URL): a budget applied by one run is what the next run's
``adgroup/get`` answers, ``tiktok-pipeline pacing revert`` restores it, and two processes recording changes at once
both land (the simulator's budget state file, ``simulator/business/budget_state.py``)."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime

import dagster as dg
import pytest

from tiktok_pipeline import cli
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.resources import BusinessApiResource, embedded_budget_state
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.ads import ADVERTISER_ID, AdAccount
from tiktok_pipeline.simulator.world import World
from tiktok_pipeline.sources.business_api.adgroups import read_budgets
from tiktok_pipeline.windows import window_key
from tiktok_pipeline_tests.test_pacing_assets import T0, seed, table


def embedded_run(settings) -> dg.ExecuteInProcessResult:
    defs = build_definitions(settings.replace(pacing__pacing_mode="apply"))
    return dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.assets("pacing_recommendations"),
        resources=dict(defs.resources),
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": window_key(T0),
            "dagster/asset_partition_range_end": window_key(T0),
        },
        raise_on_error=False,
    )


def budgets_now(settings) -> dict[str, float]:
    """What a NEW process's embedded simulator answers to adgroup/get (as of now: no window)."""
    resource = BusinessApiResource.from_settings(settings)
    assert resource.base_url is None
    with resource.client() as client:
        groups = read_budgets(client, ADVERTISER_ID)
    return {group_id: g.budget for group_id, g in groups.items()}


@pytest.mark.both_backends
def test_an_applied_change_is_seen_by_the_next_run_and_reverted_by_the_command(settings, monkeypatch, capsys):
    assert settings.business_base_url is None  # the embedded default
    surging, falling = seed(settings, Simulator())
    before = budgets_now(settings)
    assert embedded_run(settings).success
    log = {r["adgroup_id"]: r for r in table(settings, "budget_changes").iter_rows(named=True)}
    assert set(log) == {surging, falling} and {r["state"] for r in log.values()} == {"answered"}
    after = budgets_now(settings)  # a fresh in-process simulator, as the next run's
    assert after[surging] == log[surging]["budget_after"] > before[surging]
    assert after[falling] == log[falling]["budget_after"] < before[falling]
    assert embedded_budget_state(settings.landing_dir, settings.sim_seed).exists()

    monkeypatch.setenv("TIKTOK_LANDING_DIR", str(settings.landing_dir))
    monkeypatch.delenv("TIKTOK_API_BASE_URL", raising=False)
    if settings.warehouse.is_lake:
        monkeypatch.setenv("TIKTOK_WAREHOUSE_URL", settings.warehouse_url.get_secret_value())
        monkeypatch.setenv("TIKTOK_LAKE_DATA_PATH", str(settings.lake_data_path))
    else:
        monkeypatch.setenv("TIKTOK_WAREHOUSE_PATH", str(settings.warehouse_path))
    assert cli.main(["pacing", "revert", log[surging]["change_id"]]) == 0
    assert "answered: 1" in capsys.readouterr().out
    restored = budgets_now(settings)
    assert restored[surging] == before[surging] and restored[falling] == after[falling]


def _record(path: str, group: str, n: int) -> None:
    from pathlib import Path

    account = AdAccount(World(), budget_state=Path(path))
    for i in range(n):
        account.budgets.record(group, 100.0 + i, datetime(2026, 11, 20, tzinfo=UTC).timestamp() + i)


def test_two_processes_recording_at_once_both_land(tmp_path):
    path = tmp_path / "budgets.json"
    groups = [g.id for g in AdAccount(World()).budgets.adgroups()][:2]
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_record, args=(str(path), g, 15)) for g in groups]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    changes = AdAccount(World(), budget_state=path).budgets.changes
    assert sorted(c.serial for c in changes) == list(range(1, 31))
    assert {c.adgroup_id for c in changes} == set(groups)
    for group in groups:
        mine = [c for c in changes if c.adgroup_id == group]
        assert [c.after for c in mine] == [100.0 + i for i in range(15)]


def test_a_state_file_of_another_world_is_refused_naming_it(tmp_path):
    path = tmp_path / "budgets.json"
    group = AdAccount(World()).budgets.adgroups()[0].id
    AdAccount(World(), budget_state=path).budgets.record(group, 500.0, T0.timestamp())
    from tiktok_pipeline.simulator.world import WorldConfig

    with pytest.raises(ValueError, match="budgets.json"):
        AdAccount(World(WorldConfig(seed=8)), budget_state=path)
