"""Consent in the warehouse and purging a creator, on a materialised warehouse (both backends): ``creator_consent``
holds every creator's record and no token; a revoked creator is left out of the next polling tick;
``tiktok-pipeline creators purge`` deletes exactly that creator's rows (and landing records, polling state, tokens)
and prints table → rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg
import polars as pl
import pytest

from tiktok_pipeline import cli
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.videos.sensors import PollCursor, polling_sensor
from tiktok_pipeline.ingest.landing import landing_path, read_landing
from tiktok_pipeline.ingest.polling.policy import PollingPolicy
from tiktok_pipeline.ingest.polling.retry import WindowFollowing
from tiktok_pipeline.ingest.polling.tick import polling_tick
from tiktok_pipeline.ingest.registry import load_registry
from tiktok_pipeline.sources.display_api.consent import ConsentLedger, revoke
from tiktok_pipeline.sources.display_api.tokens import TokenStore
from tiktok_pipeline.warehouse.tables import ALL_TABLES
from tiktok_pipeline.windows import WINDOW, latest_closed_window, window_key
from tiktok_pipeline_tests.conftest import T0, open_warehouse
from tiktok_pipeline_tests.test_assets import materialize_range

CREATOR_TABLES = [spec for spec in ALL_TABLES if spec.creator_key]


def per_creator(settings) -> dict[str, dict[str, int]]:
    """table → creator → rows, for every table holding creator data."""
    found: dict[str, dict[str, int]] = {}
    with open_warehouse(settings) as connection:
        present = {row[0] for row in connection.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        for spec in CREATOR_TABLES:
            if spec.name in present:
                rows = connection.execute(
                    f'SELECT "{spec.creator_key}", count(*) FROM "{spec.name}" GROUP BY 1'
                ).fetchall()
                found[spec.name] = {str(name): int(count) for name, count in rows}
    return found


def landed_usernames(settings) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in (settings.landing_dir / "display_api").glob("*/*.jsonl.gz"):
        for record in read_landing(path):
            counts[record["username"]] = counts.get(record["username"], 0) + 1
    return counts


def next_tick_plan(defs: dg.Definitions) -> tuple[dg.RunRequest, dict]:
    """The polling sensor's tick (its own resources, the wall clock) once the previous window was requested: the
    live window's run request and its plan."""
    live = latest_closed_window(datetime.now(UTC))
    cursor = PollCursor(last_window=window_key(live - WINDOW)).model_dump_json()
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources=dict(defs.resources), cursor=cursor)
        [request] = polling_sensor(context).run_requests
    return request, request.run_config["ops"]["raw_snapshots"]["config"]["plan"]


def cli_env(settings, monkeypatch) -> None:
    monkeypatch.setenv("TIKTOK_LANDING_DIR", str(settings.landing_dir))
    monkeypatch.setenv("TIKTOK_TOKEN_STORE_PATH", str(settings.token_store_path))
    monkeypatch.setenv("TIKTOK_POLLING_STATE_DIR", str(settings.polling_state_dir))
    monkeypatch.setenv("TIKTOK_REGISTRY_PATH", str(settings.registry_path))
    if settings.warehouse.is_lake:
        monkeypatch.setenv("TIKTOK_WAREHOUSE_URL", settings.warehouse_url.get_secret_value())
        monkeypatch.setenv("TIKTOK_LAKE_DATA_PATH", str(settings.lake_data_path))
    else:
        monkeypatch.setenv("TIKTOK_WAREHOUSE_PATH", str(settings.warehouse_path))


@pytest.mark.both_backends
def test_purge_deletes_exactly_that_creators_rows_and_says_how_many(settings, monkeypatch, capsys):
    assert materialize_range(settings, T0, T0 + WINDOW).success
    defs = build_definitions(settings)
    assert dg.materialize(
        list(defs.assets), selection=dg.AssetSelection.assets("creator_consent"), resources=dict(defs.resources)
    ).success
    before, landed = per_creator(settings), landed_usernames(settings)
    tokens = TokenStore(settings.token_store_path).all()
    gone, kept = sorted(tokens)[0], sorted(tokens)[1:]
    assert {"raw_video_snapshots", "raw_creator_snapshots", "api_call_log", "creator_consent"} <= set(before)
    assert all(before[table].get(gone) for table in ("raw_video_snapshots", "video_velocity", "api_call_log"))
    cli_env(settings, monkeypatch)

    assert cli.main(["creators", "purge", tokens[gone].open_id, "--dry-run"]) == 0  # by open_id
    dry = capsys.readouterr().out
    assert f"dry run: creator {gone} (open_id {tokens[gone].open_id})" in dry and "would delete" in dry
    assert per_creator(settings) == before and landed_usernames(settings) == landed
    assert "tokens → 1 token set would delete" in dry
    assert cli.main(["creators", "purge", gone]) == 2  # an active grant: revoke it first
    assert f"{gone}'s grant is active" in capsys.readouterr().err and per_creator(settings) == before

    store = TokenStore(settings.token_store_path)  # the creator revokes: their tokens go, the ledger keeps them
    ledger = ConsentLedger.beside(store.path)
    reason = "the creator disconnected the app in TikTok (reason 1)"
    revoke(store, ledger, open_id=tokens[gone].open_id, revoked_at=datetime.now(UTC), reason=reason, via="webhook")
    assert cli.main(["creators", "purge", gone]) == 0  # found through the consent ledger
    out = capsys.readouterr().out
    for table, counts in before.items():
        assert f"  {table} → {counts.get(gone, 0)} rows deleted" in out, out
    assert f"{landed[gone]} records in" in out and "tokens → none deleted" in out
    assert ledger.revocations()[tokens[gone].open_id].purged_at is not None
    assert "still listed in the tracking registry" in out
    after = per_creator(settings)
    for table, counts in before.items():
        assert gone not in after[table], table
        assert after[table] == {c: n for c, n in counts.items() if c != gone}, table  # the others untouched
    assert landed_usernames(settings) == {c: n for c, n in landed.items() if c != gone}
    assert sorted(TokenStore(settings.token_store_path).all()) == kept
    state = pl.read_parquet(settings.polling_state_dir / "videos.parquet")
    assert gone not in state["creator_username"].to_list() and state.height
    assert dg.materialize(  # the consent record stays: revoked, purged (handle and open_id only)
        list(defs.assets), selection=dg.AssetSelection.assets("creator_consent"), resources=dict(defs.resources)
    ).success
    with open_warehouse(settings) as connection:
        [(status, purged_at)] = connection.execute(
            "SELECT status, purged_at FROM creator_consent WHERE creator_username = ?", [gone]
        ).fetchall()
    assert status == "revoked" and purged_at is not None

    assert cli.main(["creators", "purge", "nobody-at-all"]) == 2
    assert "no creator 'nobody-at-all'" in capsys.readouterr().err


@pytest.mark.both_backends
def test_creator_consent_shows_every_record_never_a_token_and_the_next_tick_skips_the_revoked(
    settings, monkeypatch, capsys
):
    assert materialize_range(settings, T0, T0).success
    store = TokenStore(settings.token_store_path)
    tokens = store.all()
    gone = sorted(tokens)[0]
    revoke(
        store,
        ConsentLedger.beside(store.path),
        open_id=tokens[gone].open_id,
        revoked_at=datetime.now(UTC),
        reason="the creator disconnected the app in TikTok (reason 1)",
        via="webhook",
    )
    defs = build_definitions(settings)
    result = dg.materialize(
        list(defs.assets), selection=dg.AssetSelection.assets("creator_consent"), resources=dict(defs.resources)
    )
    assert result.success
    metadata = result.asset_materializations_for_node("creator_consent")[0].metadata
    assert metadata["creators_revoked"].value == 1 and metadata["creators_active"].value == len(tokens) - 1
    with open_warehouse(settings) as connection:
        table = pl.from_arrow(connection.execute("SELECT * FROM creator_consent").to_arrow_table())
    assert isinstance(table, pl.DataFrame)
    rows = {r["creator_username"]: r for r in table.to_dicts()}
    assert set(rows) == set(tokens) and rows[gone]["status"] == "revoked" and rows[gone]["revoked_via"] == "webhook"
    assert rows[gone]["scopes"] and rows[gone]["granted_at"] is not None
    dumped = json.dumps(table.to_dicts(), default=str)
    for held in tokens.values():
        assert (
            held.access_token.get_secret_value() not in dumped and held.refresh_token.get_secret_value() not in dumped
        )

    cli_env(settings, monkeypatch)
    assert cli.main(["creators", "consent"]) == 0
    printed = capsys.readouterr().out
    assert {json.loads(line)["creator_username"]: json.loads(line)["status"] for line in printed.splitlines()} == {
        name: "revoked" if name == gone else "active" for name in tokens
    }
    assert all(t.refresh_token.get_secret_value() not in printed for t in tokens.values())
    _, plan = next_tick_plan(defs)
    assert gone not in plan["discover"] and gone not in plan["videos"]
    later = materialize_range(settings, T0 + WINDOW, T0 + WINDOW)  # without a plan (a backfill): not collected
    assert later.success
    landed = read_landing(landing_path(settings.landing_dir, "display_api", T0 + WINDOW))
    assert {r["username"] for r in landed} == set(tokens) - {gone}
    silence = [e for e in later.get_asset_check_evaluations() if e.check_name == "creators_reporting"]
    assert silence and all(gone not in str(e.metadata) for e in silence)
    assert set(plan["discover"]) | set(plan["videos"]) == set(tokens) - {gone}


def test_when_every_creator_is_paused_the_tick_skips_naming_them(settings):
    registry = load_registry(settings.registry_path)
    with dg.instance_for_test() as instance:
        result = polling_tick(
            instance,
            None,
            datetime(2026, 11, 20, 10, 40, 12, tzinfo=UTC),
            registry=registry,
            registry_path=str(settings.registry_path),
            policy=PollingPolicy(),
            state_dir=str(settings.polling_state_dir),
            partitions_start=settings.partitions_start,
            warm_up=False,
            following=WindowFollowing(
                "window_pipeline_job", at_window_end=True, max_age=WINDOW, landing_dir=settings.landing_dir
            ),
            paused=frozenset(registry.usernames),
        )
    assert isinstance(result, dg.SkipReason)
    assert "revoked the app" in (result.skip_message or "") and registry.usernames[0] in (result.skip_message or "")


def test_purge_on_a_new_installation_names_the_creator_and_creates_no_warehouse(tmp_path, monkeypatch, capsys):
    """No warehouse file yet (nothing ever ran): a clear refusal, not a DuckDB traceback, and no file created."""
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("TIKTOK_WAREHOUSE_PATH", str(warehouse))
    monkeypatch.setenv("TIKTOK_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("TIKTOK_TOKEN_STORE_PATH", str(tmp_path / "tokens.json"))
    monkeypatch.setenv("TIKTOK_POLLING_STATE_DIR", str(tmp_path / "state"))
    for dry_run in ([], ["--dry-run"]):
        assert cli.main(["creators", "purge", "nobody-at-all", *dry_run]) == 2
        assert "no creator 'nobody-at-all'" in capsys.readouterr().err
    assert not warehouse.exists()


def plant(connection, spec, rows: list[dict]) -> None:
    from tiktok_pipeline.warehouse.io import create_or_extend, write_transaction

    def body(connection) -> None:
        create_or_extend(connection, spec)
        connection.register("_planted", spec.conform(pl.DataFrame(rows)).to_arrow())
        connection.execute(f'INSERT INTO "{spec.name}" BY NAME SELECT * FROM _planted').fetchall()
        connection.unregister("_planted")

    write_transaction(connection, body)


@pytest.mark.both_backends
def test_purge_deletes_rows_naming_the_creator_in_any_creator_column(settings):
    """A swap whose FADING creative is the creator's (someone else's video boosted), LIVE rows (``creator``) and a
    consent row known only by open_id go too; rows naming only others stay. A SKU's sales row listing the creator
    among its promoters keeps its sales and loses only the creator's handle."""
    from tiktok_pipeline.governance.purge import purge_creator
    from tiktok_pipeline.warehouse.tables import (
        CREATIVE_SWAP_RECOMMENDATIONS,
        CREATOR_CONSENT,
        LIVE_STREAM_METRICS,
        RAW_CREATOR_SNAPSHOTS,
        SHOP_SKU_SALES,
    )

    gone, other, oid = "gone_creator_9", "other_creator_9", "oid-gone-9"
    w = datetime(2026, 11, 18, 12, 0)
    swap = {"window_start": w, "observed_at": w, "campaign_id": "cmp-1", "fading_video_id": "1", "boost_video_id": "2"}
    with open_warehouse(settings, read_only=False) as connection:
        plant(
            connection,
            CREATIVE_SWAP_RECOMMENDATIONS,
            [
                {**swap, "fading_creator_username": gone, "creator_username": other},
                {**swap, "campaign_id": "cmp-2", "fading_creator_username": other, "creator_username": gone},
                {**swap, "campaign_id": "cmp-3", "fading_creator_username": other, "creator_username": other},
            ],
        )
        plant(
            connection,
            LIVE_STREAM_METRICS,
            [{"window_start": w, "creator": gone}, {"window_start": w, "creator": other}],
        )
        plant(connection, RAW_CREATOR_SNAPSHOTS, [{"window_start": w, "creator_username": gone, "open_id": oid}])
        plant(connection, CREATOR_CONSENT, [{"creator_username": None, "open_id": oid}, {"creator_username": other}])
        sales = {"window_start": w, "units": 3}
        plant(
            connection,
            SHOP_SKU_SALES,
            [
                {**sales, "seller_sku": "SKU-A", "creators": [gone, other]},
                {**sales, "seller_sku": "SKU-B", "creators": [other]},
            ],
        )

    report = purge_creator(
        gone,
        target=settings.warehouse,
        token_store_path=settings.token_store_path,
        landing_dir=settings.landing_dir,
        state_dir=settings.polling_state_dir,
        dry_run=False,
    )
    assert report.open_id == oid
    assert {t: n for t, n in report.tables.items() if n} == {
        "creative_swap_recommendations": 2,
        "live_stream_metrics": 1,
        "raw_creator_snapshots": 1,
        "creator_consent": 1,
        "shop_sku_sales": 1,
    }
    with open_warehouse(settings) as connection:
        swaps = connection.execute(
            "SELECT campaign_id, fading_creator_username, creator_username FROM creative_swap_recommendations"
        ).fetchall()
        live = connection.execute("SELECT creator FROM live_stream_metrics").fetchall()
        consent = connection.execute("SELECT creator_username, open_id FROM creator_consent").fetchall()
        skus = connection.execute("SELECT seller_sku, units, creators FROM shop_sku_sales ORDER BY 1").fetchall()
    assert swaps == [("cmp-3", other, other)] and live == [(other,)] and consent == [(other, None)]
    assert skus == [("SKU-A", 3, [other]), ("SKU-B", 3, [other])]
