"""Schema versions: a warehouse written by the previous release is migrated forward (by the command, and before a
run's first write) and written on; every kind of step on both backends; a failed migration changes nothing; a
warehouse ahead of the code is refused; two processes migrating at once migrate once."""

import multiprocessing
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from tiktok_pipeline.governance.owners import DATA_PLATFORM
from tiktok_pipeline.settings import Settings
from tiktok_pipeline.warehouse import migrate
from tiktok_pipeline.warehouse.io import transaction, write_transaction
from tiktok_pipeline.warehouse.migrate_command import MIGRATION_TAG, migrate_all, run
from tiktok_pipeline.warehouse.tables import Column, Retention, TableSpec
from tiktok_pipeline.warehouse.tables.versions import AddColumn, CastColumn, DropColumn, Migration, RenameColumn, Sql
from tiktok_pipeline_tests.conftest import T0, open_warehouse
from tiktok_pipeline_tests.test_assets import materialize_range

PREVIOUS_RELEASE = Path(__file__).parent / "fixtures" / "warehouse_before_schema_versions.sql"
"""The tables as the release before schema versions created them (its TableSpec.ddl), with a few rows."""
FIXTURE_TABLES = {"raw_video_snapshots", "raw_creator_snapshots", "poll_telemetry", "api_call_log"}


def load_previous_release(settings: Settings) -> None:
    with open_warehouse(settings, read_only=False) as con, transaction(con):
        con.execute(PREVIOUS_RELEASE.read_text())


def rows(settings: Settings, sql: str) -> pl.DataFrame:
    with open_warehouse(settings) as con:
        return pl.from_arrow(con.execute(sql).to_arrow_table())  # type: ignore[return-value]


def versions(settings: Settings) -> dict[str, int]:
    frame = rows(settings, "SELECT table_name, max(version) AS v FROM schema_versions GROUP BY 1")
    return dict(zip(frame["table_name"], frame["v"], strict=True))


@pytest.mark.both_backends
def test_a_warehouse_of_the_previous_release_is_migrated_before_a_run_writes_on_it(settings, instance, capsys):
    load_previous_release(settings)
    assert run(check=True, settings=settings) == 1
    out = capsys.readouterr().out
    assert (
        "would change" in out
        and "raw_video_snapshots: version 1 -> 3: add column response_schema_version = 1" in out
        and "add column source = 'display_api'" in out
    )
    assert "schema_versions" not in {t for (t,) in rows(settings, "SHOW TABLES").iter_rows()}  # --check wrote nothing

    result = materialize_range(settings, T0, T0, instance=instance)
    assert result.success, result.all_events

    migrated = instance.get_run_by_id(result.run_id).tags[MIGRATION_TAG]
    assert "raw_video_snapshots 1 -> 3" in migrated and "poll_telemetry 1 -> 2" in migrated
    logged = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("warehouse schema migrated: raw_video_snapshots: version 1 -> 3" in m for m in logged)
    raw = rows(settings, "FROM raw_video_snapshots ORDER BY window_start, video_id")
    old = raw.filter(pl.col("creator_username") == "old_creator")
    assert old["title"].to_list() == ["landed by the previous release", None]  # the old rows are kept, backfilled
    assert old["response_schema_version"].to_list() == [1, 1]
    assert old["source"].to_list() == ["display_api", "display_api"]  # rows before sources were recorded
    new = raw.filter(pl.col("window_start") == T0.replace(tzinfo=None))
    assert new.height > 0 and new["response_schema_version"].to_list() == [1] * new.height
    assert new["source"].to_list() == ["display_api"] * new.height
    creators = rows(settings, "FROM raw_creator_snapshots ORDER BY window_start, creator_username")
    old_creator = creators.filter(pl.col("creator_username") == "old_creator")
    assert old_creator.select("open_id", "follower_count", "source").rows() == [("open-old", 500, "display_api")]
    assert set(creators["source"]) == {"display_api"}  # the run's own rows too
    recorded = versions(settings)
    assert recorded["raw_video_snapshots"] == 3 and recorded["poll_telemetry"] == 2
    assert recorded["raw_creator_snapshots"] == 2 and recorded["daily_creator_metrics"] == 2
    assert recorded["daily_video_metrics"] == 2
    assert {
        recorded[t] for t in FIXTURE_TABLES - {"raw_video_snapshots", "poll_telemetry", "raw_creator_snapshots"}
    } == {1}
    waits = rows(
        settings, "SELECT warehouse_wait_seconds FROM poll_telemetry WHERE window_start = '2026-11-20 09:00:00'"
    )
    assert waits.height > 0 and waits["warehouse_wait_seconds"].null_count() == waits.height  # not measured then
    history = rows(settings, "FROM schema_versions WHERE table_name = 'raw_video_snapshots' AND version = 3")
    assert history.height == 1 and history["from_version"][0] == 1 and history["release"][0] == migrate.RELEASE
    assert run(check=True, settings=settings) == 0
    assert "every table is at its declared schema version" in capsys.readouterr().out


@pytest.mark.both_backends
def test_the_command_migrates_once_and_says_what_it_changed(settings, capsys):
    load_previous_release(settings)
    with open_warehouse(settings, read_only=False) as con:  # a day rolled up by the previous release
        con.execute(
            "INSERT INTO daily_video_metrics (window_start, video_id, observations, views_gained)"
            " VALUES ('2026-11-19 00:00:00', '7300000000000000001', 12, 340)"
        )
    assert run(check=False, settings=settings) == 0
    out = capsys.readouterr().out
    assert "daily_video_metrics: version 1 -> 2: add column source = 'display_api'" in out
    assert rows(settings, "SELECT source, views_gained FROM daily_video_metrics").rows() == [("display_api", 340)]
    assert "migrated" in out and "raw_video_snapshots: version 1 -> 3" in out
    assert "poll_telemetry: version 1 -> 2: add column warehouse_wait_seconds" in out
    assert "raw_creator_snapshots: version 1 -> 2: add column source = 'display_api'" in out
    assert "daily_creator_metrics: version 1 -> 2: add column source = 'display_api'" in out
    assert "api_call_log: version 1 recorded" in out
    assert rows(settings, "SELECT response_schema_version FROM raw_video_snapshots")[
        "response_schema_version"
    ].to_list() == [1, 1]
    assert rows(settings, "SELECT source FROM raw_creator_snapshots")["source"].to_list() == ["display_api"]
    assert run(check=False, settings=settings) == 0
    assert "every table is at its declared schema version" in capsys.readouterr().out


def _things(version: int, *migrations: Migration, columns: tuple[Column, ...] | None = None) -> TableSpec:
    v1 = (
        Column("id", "BIGINT", ""),
        Column("label", "VARCHAR", ""),
        Column("amount", "VARCHAR", ""),
        Column("legacy", "VARCHAR", ""),
    )
    return TableSpec(
        "things", columns or v1, "test", DATA_PLATFORM, (), Retention.KEPT, version=version, migrations=migrations
    )


THINGS_V4 = _things(
    4,
    Migration(
        2, (RenameColumn("label", "name"), AddColumn("added", backfill="id * 1.5"), AddColumn("tier", default="7"))
    ),
    Migration(3, (CastColumn("amount"), DropColumn("legacy"))),  # VARCHAR -> BIGINT: DuckLake's ALTER refuses it
    Migration(4, (Sql("UPDATE things SET name = upper(name)", why="names upper-cased"),)),
    columns=(
        Column("id", "BIGINT", ""),
        Column("name", "VARCHAR", ""),
        Column("amount", "BIGINT", ""),
        Column("added", "DOUBLE", ""),
        Column("tier", "INTEGER", ""),
    ),
)


def _apply(settings: Settings, *specs: TableSpec, create: bool = False) -> list[migrate.Change]:
    with open_warehouse(settings, read_only=False) as con:
        return write_transaction(con, lambda c: migrate.apply(c, specs, create=create))


def _with_things_v1(settings: Settings) -> None:
    assert [c.describe() for c in _apply(settings, _things(1), create=True)] == [
        "schema_versions: created at version 1",
        "things: created at version 1",
    ]
    with open_warehouse(settings, read_only=False) as con:
        con.execute("INSERT INTO things VALUES (1, 'a', '12', 'x'), (2, 'b', 'oops', 'y')")


@pytest.mark.both_backends
def test_every_kind_of_step_migrates_on_both_backends(settings):
    _with_things_v1(settings)
    (change,) = _apply(settings, THINGS_V4)
    assert change.describe() == (
        "things: version 1 -> 4: rename column label to name; add column added = id * 1.5; add column tier = 7;"
        " change column amount's"
        " type; drop column legacy; names upper-cased"
    )
    with open_warehouse(settings) as con:
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM duckdb_columns()"
                " WHERE table_name = 'things' AND database_name = current_database()"
            ).fetchall()
        )
    assert types == {"id": "BIGINT", "name": "VARCHAR", "amount": "BIGINT", "added": "DOUBLE", "tier": "INTEGER"}
    assert rows(settings, "SELECT id, name, amount, added, tier FROM things ORDER BY id").rows() == [
        (1, "A", 12, 1.5, 7),
        (2, "B", None, 3.0, 7),
    ]
    with open_warehouse(settings, read_only=False) as con:  # the default filled the old rows only
        con.execute("INSERT INTO things (id) VALUES (3)")
    assert rows(settings, "SELECT tier FROM things WHERE id = 3")["tier"].to_list() == [None]
    assert versions(settings)["things"] == 4
    assert _apply(settings, THINGS_V4) == []  # current: nothing to do


@pytest.mark.both_backends
def test_a_failing_migration_leaves_the_old_version_intact(settings):
    _with_things_v1(settings)
    broken = _things(
        2, Migration(2, (AddColumn("added", type="DOUBLE"), Sql("SELECT * FROM no_such_table", why="boom")))
    )
    with pytest.raises(duckdb.Error, match="no_such_table"):
        _apply(settings, broken)
    assert "added" not in rows(settings, "FROM things").columns
    assert versions(settings) == {"schema_versions": 1, "things": 1}


@pytest.mark.both_backends
def test_a_warehouse_ahead_of_the_code_is_refused_naming_the_table_and_both_versions(settings, instance, capsys):
    load_previous_release(settings)
    assert run(check=False, settings=settings) == 0
    with open_warehouse(settings, read_only=False) as con:
        con.execute(
            "INSERT INTO schema_versions (table_name, version, release) VALUES ('raw_video_snapshots', 4, '9.9')"
        )
    capsys.readouterr()
    assert run(check=True, settings=settings) == 1
    err = capsys.readouterr().err
    assert "raw_video_snapshots is at schema version 4, newer than version 3" in err

    result = materialize_range(settings, T0, T0, instance=instance)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "raw_video_snapshots is at schema version 4, newer than version 3" in str(failure.step_failure_data.error)
    assert rows(settings, "SELECT count(*) AS n FROM raw_video_snapshots")["n"][0] == 2  # nothing written


def _migrate_in_a_process(settings: Settings) -> int:
    from tiktok_pipeline.warehouse.io import connect

    with connect(settings.warehouse, lock_timeout=60) as con:
        return len(migrate_all(con, settings.warehouse, lock_timeout=60))


@pytest.mark.both_backends
def test_two_processes_migrating_at_once_migrate_once(settings):
    load_previous_release(settings)
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(2)
    try:
        changed = sorted(pool.map(_migrate_in_a_process, [settings, settings]))
    finally:  # close and join, never terminate: a worker that inherited SIGTERM ignored (under pytest-xdist) would
        pool.close()  # outlive terminate() and hang the test
        pool.join()
    assert changed[0] == 0 and changed[1] > 0  # the second found the tables current
    history = rows(settings, "FROM schema_versions WHERE table_name = 'raw_video_snapshots'")
    assert history["version"].to_list() == [3]


def test_the_cli_command_checks_then_migrates_the_configured_warehouse(tmp_path, monkeypatch, capsys):
    from tiktok_pipeline.cli import main

    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("TIKTOK_WAREHOUSE_PATH", str(path))
    monkeypatch.delenv("TIKTOK_WAREHOUSE_URL", raising=False)
    assert main(["warehouse", "migrate", "--check"]) == 0
    assert "nothing to migrate" in capsys.readouterr().out
    with duckdb.connect(str(path)) as con:
        con.execute(PREVIOUS_RELEASE.read_text())
    assert main(["warehouse", "migrate", "--check"]) == 1
    assert "raw_video_snapshots: version 1 -> 3" in capsys.readouterr().out
    assert main(["warehouse", "migrate"]) == 0
    assert main(["warehouse", "migrate", "--check"]) == 0
    assert "every table is at its declared schema version" in capsys.readouterr().out.splitlines()[-1]
