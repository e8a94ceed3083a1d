"""The DuckLake backend (``ducklake:postgres:``) on the real PostgreSQL: the same rows as the DuckDB file, partition
replacement, writers of different windows at once, readers that never block them, the URL's checks, and the
signed extensions loaded from their wheels."""

import multiprocessing
import re
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tiktok_pipeline.settings import Settings, SettingsError, load_settings
from tiktok_pipeline.settings.warehouse import WarehouseTarget
from tiktok_pipeline.warehouse import backends
from tiktok_pipeline.warehouse.io import Write, connect, read_frame, replace_windows, write_transaction
from tiktok_pipeline.warehouse.lock import WarehouseBusyError
from tiktok_pipeline.warehouse.snapshot import QueryFailed, query_lake
from tiktok_pipeline.warehouse.tables import DISPLAY_API_QUARANTINE
from tiktok_pipeline.windows import WINDOW
from tiktok_pipeline_tests.conftest import T0, lake_settings
from tiktok_pipeline_tests.pg import Lake
from tiktok_pipeline_tests.test_assets import TABLES, materialize_range

pytestmark = pytest.mark.heavy(14)  # seconds of a core, measured alone: started first under pytest-xdist

W0 = T0.replace(tzinfo=None)
PER_RUN = ("log_id", "landing_file")
"""Columns that name the run's own responses (TikTok's log_id, the landing file): they differ between any two runs."""


def _rows(window: datetime, tag: str, n: int = 3) -> pl.DataFrame:
    """``n`` quarantine rows of ``window`` whose reason carries ``tag`` (a small table every writer can use)."""
    return pl.DataFrame(
        {
            "window_start": [window] * n,
            "source": [f"s{i}" for i in range(n)],
            "log_id": ["l"] * n,
            "reason": [tag] * n,
            "payload": ["{}"] * n,
            "asset": ["raw_video_snapshots"] * n,
        }
    )


def _replace(target: WarehouseTarget, window: datetime, tag: str) -> None:
    with connect(target) as connection:
        replace_windows(connection, window, window + WINDOW, Write(DISPLAY_API_QUARANTINE, _rows(window, tag)))


def _table(target: WarehouseTarget, table: str) -> pl.DataFrame:
    with connect(target, read_only=True) as connection:
        return read_frame(connection, f'SELECT * FROM "{table}"').sort(pl.all())


@pytest.mark.file_backend_only  # it materialises on a file and on a lake of its own and compares them
def test_window_materialisation_gives_the_file_backends_rows(tmp_path: Path, settings: Settings, lake: Lake) -> None:
    """raw → enriched → velocity for seven windows (velocity has 30-minute baselines): row for row the file's."""
    on_lake = lake_settings(tmp_path / "on_lake", lake)
    assert on_lake.warehouse.is_lake and not settings.warehouse.is_lake
    last = T0 + 6 * WINDOW
    assert materialize_range(settings, T0, last).success
    assert materialize_range(on_lake, T0, last).success
    for table in TABLES:
        on_file, lake_rows = (_table(s.warehouse, table).drop(PER_RUN, strict=False) for s in (settings, on_lake))
        assert on_file.height > 0, table
        assert lake_rows.sort(pl.all()).equals(on_file.sort(pl.all())), table
    velocity = _table(on_lake.warehouse, "video_velocity")
    assert velocity["view_delta_30m"].drop_nulls().len() > 0
    assert not list((tmp_path / "on_lake").glob("*.duckdb")), "nothing written to a DuckDB file"
    assert list(lake.data_path.rglob("*.parquet")), "the lake's data is Parquet under TIKTOK_LAKE_DATA_PATH"


def test_partition_replacement_is_idempotent(tmp_path: Path, lake: Lake) -> None:
    target = lake_settings(tmp_path, lake).warehouse
    for _ in range(3):
        _replace(target, W0, "first")
    _replace(target, W0 + WINDOW, "other window")
    _replace(target, W0, "second")
    rows = _table(target, DISPLAY_API_QUARANTINE.name)
    assert rows.group_by("window_start", "reason").len().sort("window_start").rows() == [
        (W0, "second", 3),
        (W0 + WINDOW, "other window", 3),
    ]


def _concurrent_writer(url: str, data_path: str, window: datetime, barrier, calls) -> None:
    """In its own process: replace ``window``'s rows, the first attempt waiting inside its transaction for the other
    writer, so that both commit at the same time and one of them loses (and is retried)."""
    target = Settings(warehouse_url=url, lake_data_path=data_path).warehouse
    rows = Write(DISPLAY_API_QUARANTINE, _rows(window, "concurrent"))
    from tiktok_pipeline.warehouse.io import prepare_window_writes

    replace = prepare_window_writes(window, window + WINDOW, rows)

    def body(connection: duckdb.DuckDBPyConnection) -> None:
        with calls.get_lock():
            calls.value += 1
            first = calls.value <= 2
        replace(connection)
        if first:
            barrier.wait(timeout=60)

    with connect(target) as connection:
        write_transaction(connection, body)


def test_concurrent_writers_of_different_windows_both_commit(tmp_path: Path, lake: Lake) -> None:
    """Two processes replace two windows of one table at once: DuckLake refuses one commit (both delete from the
    table); the loser's whole transaction is re-run and commits. No lock, no lost window."""
    target = lake_settings(tmp_path, lake).warehouse
    windows = [W0, W0 + WINDOW]
    for window in windows:
        _replace(target, window, "before")  # rows to delete: each writer deletes from the same table
    context = multiprocessing.get_context("spawn")
    barrier, calls = context.Barrier(2), context.Value("i", 0)
    writers = [
        context.Process(target=_concurrent_writer, args=(lake.url, str(lake.data_path), window, barrier, calls))
        for window in windows
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert [writer.exitcode for writer in writers] == [0, 0]
    assert calls.value >= 3, "one writer's transaction was re-run after the conflict"
    rows = _table(target, DISPLAY_API_QUARANTINE.name)
    assert rows.group_by("window_start", "reason").len().sort("window_start").rows() == [
        (W0, "concurrent", 3),
        (W0 + WINDOW, "concurrent", 3),
    ]


def test_write_transaction_gives_up_after_its_attempts(tmp_path: Path, lake: Lake) -> None:
    """A conflict on every attempt: the body ran ``attempts`` times, then the conflict is raised (never swallowed)."""
    target = lake_settings(tmp_path, lake).warehouse
    _replace(target, W0, "before")
    ran = []

    def body(connection: duckdb.DuckDBPyConnection) -> None:
        ran.append(1)
        connection.execute("DELETE FROM display_api_quarantine WHERE window_start = ?", [W0])
        _replace(target, W0 + WINDOW, f"rival {len(ran)}")  # another connection deletes and commits first

    with connect(target) as connection, pytest.raises(duckdb.TransactionException, match="conflict"):
        write_transaction(connection, body, attempts=3, sleep=lambda _: None)
    assert len(ran) == 3
    assert _table(target, DISPLAY_API_QUARANTINE.name).filter(pl.col("window_start") == W0).height == 3


def test_a_reader_open_while_a_writer_commits(tmp_path: Path, lake: Lake) -> None:
    """An analyst's session holds a read transaction: the pipeline's writes commit meanwhile (nothing waits), the
    session keeps its snapshot, a new one sees the rows, and an earlier snapshot stays readable by version."""
    target = lake_settings(tmp_path, lake).warehouse
    _replace(target, W0, "v1")
    with backends.lake_reader(target) as analyst:
        analyst.execute("BEGIN TRANSACTION")
        assert analyst.execute("SELECT count(*) FROM display_api_quarantine").fetchone() == (3,)
        _replace(target, W0 + WINDOW, "v2")
        _replace(target, W0, "v3")
        assert analyst.execute("SELECT DISTINCT reason FROM display_api_quarantine").fetchall() == [("v1",)]
        analyst.execute("COMMIT")
        assert analyst.execute("SELECT count(*) FROM display_api_quarantine").fetchone() == (6,)
        versions = [v for (v,) in analyst.execute("SELECT snapshot_id FROM lake.snapshots() ORDER BY 1").fetchall()]
        old = analyst.execute(
            f"SELECT DISTINCT reason FROM display_api_quarantine AT (VERSION => {versions[-3]})"
        ).fetchall()
        assert old == [("v1",)]
    assert query_lake(target, "SELECT count(*) AS n FROM display_api_quarantine").table.to_pylist() == [{"n": 6}]
    with pytest.raises(QueryFailed, match="read-only|read only"):
        query_lake(target, "DELETE FROM display_api_quarantine")


def test_serialised_blocks_use_an_advisory_lock_on_the_catalog(tmp_path: Path, lake: Lake) -> None:
    target = lake_settings(tmp_path, lake).warehouse
    told: list[str] = []
    with backends.advisory_lock(target, "alert-delivery", timeout=5):
        with (
            pytest.raises(WarehouseBusyError, match="alert-delivery"),
            backends.advisory_lock(target, "alert-delivery", timeout=0.5, on_wait=told.append),
        ):
            pass
        with backends.advisory_lock(target, "conversion-relay", timeout=0.5):  # another name: not blocked
            pass
    assert len(told) == 1
    with backends.advisory_lock(target, "alert-delivery", timeout=0.5):  # released with the block
        pass


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TIKTOK_WAREHOUSE_URL": "mysql://u:hunter22@db/x"}, "scheme 'mysql'"),
        ({"TIKTOK_WAREHOUSE_URL": "ducklake:postgres:"}, "needs a libpq conninfo"),
        ({"TIKTOK_WAREHOUSE_URL": "duckdb:"}, "needs a file path"),
        ({"TIKTOK_WAREHOUSE_URL": "ducklake:postgres:dbname=x password=hunter22"}, "set TIKTOK_LAKE_DATA_PATH"),
        (
            {"TIKTOK_WAREHOUSE_URL": "duckdb:/a/w.duckdb", "TIKTOK_WAREHOUSE_PATH": "/b/w.duckdb"},
            "TIKTOK_WAREHOUSE_URL names the DuckDB file /a/w.duckdb but TIKTOK_WAREHOUSE_PATH names /b/w.duckdb",
        ),
        (
            {
                "TIKTOK_WAREHOUSE_URL": "ducklake:postgres:dbname=x password=hunter22",
                "TIKTOK_LAKE_DATA_PATH": "/l",
                "TIKTOK_WAREHOUSE_PATH": "/b/w.duckdb",
            },
            "TIKTOK_WAREHOUSE_PATH (/b/w.duckdb) is also set",
        ),
        ({"TIKTOK_LAKE_DATA_PATH": "/l"}, "applies to DuckLake only"),
    ],
)
def test_warehouse_url_errors_name_the_variables(monkeypatch: pytest.MonkeyPatch, env: dict, message: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=re.escape(message)) as caught:
        load_settings()
    assert "hunter22" not in str(caught.value)


def test_warehouse_url_and_path_resolve_to_one_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOK_WAREHOUSE_PATH", "/b/w.duckdb")
    assert load_settings().warehouse == WarehouseTarget(backend="duckdb", path=Path("/b/w.duckdb"))
    monkeypatch.setenv("TIKTOK_WAREHOUSE_URL", "duckdb:/b/w.duckdb")  # both, agreeing
    assert load_settings().warehouse.path == Path("/b/w.duckdb")
    monkeypatch.delenv("TIKTOK_WAREHOUSE_PATH")
    monkeypatch.setenv("TIKTOK_WAREHOUSE_URL", "ducklake:postgres:host=db dbname=lake password=hunter22")
    monkeypatch.setenv("TIKTOK_LAKE_DATA_PATH", "s3://bucket/lake/")
    settings = load_settings()
    lake = settings.warehouse
    assert lake.is_lake and lake.data_path == "s3://bucket/lake/"
    assert lake.catalog is not None and lake.catalog.get_secret_value() == "host=db dbname=lake password=hunter22"
    assert "hunter22" not in repr(settings) + repr(lake) + lake.describe()


def test_a_bad_catalog_is_reported_without_its_password(tmp_path: Path) -> None:
    target = Settings(
        warehouse_url="ducklake:postgres:host=127.0.0.1 port=1 dbname=none user=u password=hunter22",
        lake_data_path=str(tmp_path / "lake"),
    ).warehouse
    with pytest.raises(backends.LakeError) as caught, connect(target):
        pass
    assert "hunter22" not in str(caught.value) and "could not open the DuckLake" in str(caught.value)


def test_extensions_load_from_the_wheels_with_signatures_checked(tmp_path: Path, lake: Lake) -> None:
    """The lake's connection runs with unsigned extensions refused, its two extensions loaded from the wheels'
    files; a tampered copy of one is refused by DuckDB's signature check."""
    target = lake_settings(tmp_path, lake).warehouse
    with connect(target) as connection:
        assert connection.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone() == (False,)
        loaded = dict(
            connection.execute(
                "SELECT extension_name, loaded FROM duckdb_extensions() WHERE extension_name IN (?, ?)",
                list(backends.EXTENSIONS),
            ).fetchall()
        )
    assert loaded == {"ducklake": True, "postgres_scanner": True}
    for name, package in backends.EXTENSIONS.items():
        file = backends.extension_file(name)
        assert file.is_file() and package in file.parts and f"v{duckdb.__version__}" in file.parts
    tampered = tmp_path / "ducklake.duckdb_extension"
    shutil.copy(backends.extension_file("ducklake"), tampered)
    with tampered.open("r+b") as handle:
        handle.seek(4096)
        byte = handle.read(1)
        handle.seek(4096)
        handle.write(bytes([byte[0] ^ 0xFF]))
    fresh = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False})
    try:
        with pytest.raises(duckdb.Error, match="signature"):
            fresh.execute(f"LOAD '{tampered}'")
    finally:
        fresh.close()


def test_a_grown_table_spec_adds_its_columns_on_the_lake(tmp_path: Path, lake: Lake) -> None:
    """The tables' DDL (no keys, indexes or sequences) is valid DuckLake: a first write creates the table, a spec
    with a new column adds it (null for the old rows)."""
    from dataclasses import replace

    from tiktok_pipeline.warehouse.io import create_or_extend
    from tiktok_pipeline.warehouse.tables import Column

    target = lake_settings(tmp_path, lake).warehouse
    grown = replace(DISPLAY_API_QUARANTINE, columns=(*DISPLAY_API_QUARANTINE.columns, Column("extra", "BIGINT", "x")))
    _replace(target, W0, "one")
    with connect(target) as connection:
        create_or_extend(connection, grown)
    rows = _table(target, grown.name)
    assert rows.columns[-1] == "extra" and rows["extra"].null_count() == rows.height == 3


def test_the_sql_command_reads_the_lake_in_place(
    tmp_path: Path, lake: Lake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tiktok-pipeline sql`` on a lake: the rows, as CSV; a statement that writes is refused (exit 1), not run."""
    from tiktok_pipeline.cli import main

    target = lake_settings(tmp_path, lake).warehouse
    _replace(target, W0, "cli")
    monkeypatch.setenv("TIKTOK_WAREHOUSE_URL", lake.url)
    monkeypatch.setenv("TIKTOK_LAKE_DATA_PATH", str(lake.data_path))
    assert main(["sql", "--format", "csv", "SELECT reason, count(*) AS n FROM display_api_quarantine GROUP BY 1"]) == 0
    assert capsys.readouterr().out.splitlines() == ["reason,n", "cli,3"]
    assert main(["sql", "DELETE FROM display_api_quarantine"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("query failed:") and "read-only" in error.lower().replace("read only", "read-only")
    assert _table(target, DISPLAY_API_QUARANTINE.name).height == 3


def test_the_warehouse_resource_takes_a_lakes_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The conninfo (with its password) reaches the resource as ``EnvVar``: never in run config or its repr."""
    import dagster as dg

    from tiktok_pipeline.defs.resources import build_resources

    monkeypatch.setenv("TIKTOK_WAREHOUSE_URL", "ducklake:postgres:host=db dbname=lake password=hunter22")
    monkeypatch.setenv("TIKTOK_LAKE_DATA_PATH", "s3://bucket/lake/")
    resource = build_resources(load_settings())["warehouse"]
    assert isinstance(resource.url, dg.EnvVar) and "hunter22" not in repr(resource)
