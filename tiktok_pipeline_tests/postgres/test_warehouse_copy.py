"""``tiktok-pipeline warehouse copy`` on the real PostgreSQL: a warehouse the pipeline built on the DuckDB file, copied
into a fresh DuckLake, reads back identical (every table and view); a non-empty lake table is refused; ``--replace``
re-runs idempotently; ``--check`` finds a tampered table; a bad option is named; the conninfo's password is never
printed."""

import re
from pathlib import Path

import polars as pl
import pytest

from tiktok_pipeline.cli import main
from tiktok_pipeline.settings import Settings
from tiktok_pipeline.warehouse.io import connect, read_frame
from tiktok_pipeline.warehouse.tables import DISPLAY_API_QUARANTINE
from tiktok_pipeline.windows import WINDOW
from tiktok_pipeline_tests.conftest import SHIPPED_REGISTRY, T0, lake_settings
from tiktok_pipeline_tests.pg import Lake
from tiktok_pipeline_tests.postgres.test_ducklake_backend import W0, _replace
from tiktok_pipeline_tests.test_assets import materialize_range

pytestmark = pytest.mark.heavy(17)  # seconds of a core, measured alone: started first under pytest-xdist

PASSWORD = "hunter22"
"""Put in the lake's conninfo (the server trusts local connections, so it is never checked): it must never be printed."""


def _file_warehouse(tmp_path: Path) -> Settings:
    """A DuckDB-file warehouse the pipeline built: seven windows raw → enriched → velocity (with their quarantine
    tables and the quarantined_records view), whatever TIKTOK_TEST_WAREHOUSE says."""
    settings = Settings(
        warehouse_path=tmp_path / "file" / "warehouse.duckdb",
        landing_dir=tmp_path / "file" / "landing",
        token_store_path=tmp_path / "file" / "tokens.json",
        registry_path=SHIPPED_REGISTRY,
        polling_state_dir=tmp_path / "file" / "polling_state",
    )
    assert materialize_range(settings, T0, T0 + 6 * WINDOW).success
    return settings


def _relations(target, kind: str) -> list[str]:
    """The warehouse's tables (``kind`` "table") or views, by name."""
    sql = {
        "table": "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1",
        "view": "SELECT view_name FROM duckdb_views() WHERE NOT internal AND database_name = current_database() "
        "ORDER BY 1",
    }[kind]
    with connect(target, read_only=True) as connection:
        return [name for (name,) in connection.execute(sql).fetchall()]


def _rows(target, relation: str) -> pl.DataFrame:
    with connect(target, read_only=True) as connection:
        return read_frame(connection, f'SELECT * FROM "{relation}"').sort(pl.all())


def _copy(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what ran before (the runs' logs) is not the command's output
    code = main(["warehouse", "copy", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _lake_args(lake: Lake) -> list[str]:
    return ["--to", f"{lake.url} password={PASSWORD}", "--data-path", str(lake.data_path)]


def test_a_file_warehouse_copies_into_a_lake_identically(
    tmp_path: Path, lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every table and view of the file reads back identical from the lake; the output names each table with its
    rows; a second copy without --replace is refused and changes nothing; with --replace it is idempotent."""
    file = _file_warehouse(tmp_path).warehouse
    on_lake = lake_settings(tmp_path / "lake_run", lake).warehouse
    tables, views = _relations(file, "table"), _relations(file, "view")
    assert {"raw_video_snapshots", "video_velocity", "display_api_quarantine"} <= set(tables)
    assert "quarantined_records" in views
    source = ["--from", f"duckdb:{file.path}"]

    code, out, err = _copy(capsys, *source, *_lake_args(lake))
    assert code == 0, err
    assert PASSWORD not in out + err
    for table in tables:
        rows = _rows(file, table).height
        assert re.search(rf"^{table}\s+{rows:,}\s+\d+\.\d\d\s+ok$", out, re.MULTILINE), (table, out)
    assert "views re-created: quarantined_records" in out and "every table verified equal" in out
    assert _relations(on_lake, "table") == tables and _relations(on_lake, "view") == views
    for relation in tables + views:
        expected = _rows(file, relation)
        assert _rows(on_lake, relation).equals(expected), relation
    assert list(lake.data_path.rglob("*.parquet")), "the lake's data is Parquet under --data-path"

    code, out, err = _copy(capsys, *source, *_lake_args(lake))
    assert code == 1 and err.startswith("refused: ") and "--replace" in err and PASSWORD not in out + err
    assert "raw_video_snapshots (" in err
    code, out, err = _copy(capsys, *source, *_lake_args(lake), "--replace")
    assert code == 0, err
    for relation in tables + views:
        assert _rows(on_lake, relation).equals(_rows(file, relation)), relation
    code, out, err = _copy(capsys, *source, *_lake_args(lake), "--check")
    assert code == 0 and "every table verified equal" in out, out + err


def test_a_non_empty_lake_table_is_refused_and_nothing_is_copied(
    tmp_path: Path, lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    file = _file_warehouse(tmp_path).warehouse
    on_lake = lake_settings(tmp_path / "lake_run", lake).warehouse
    _replace(on_lake, W0, "written on the lake")  # the pipeline already wrote one table of the lake
    before = _rows(on_lake, DISPLAY_API_QUARANTINE.name)
    code, out, err = _copy(capsys, "--from", f"duckdb:{file.path}", *_lake_args(lake))
    assert code == 1
    assert err.startswith(  # schema_versions: the pipeline's write recorded the versions of what it created
        "refused: the lake's tables display_api_quarantine (3 rows), schema_versions (2 rows) are not empty;"
        " nothing was copied"
    )
    assert _relations(on_lake, "table") == [DISPLAY_API_QUARANTINE.name, "schema_versions"], "nothing created"
    assert _rows(on_lake, DISPLAY_API_QUARANTINE.name).equals(before)


def test_a_failed_table_leaves_the_tables_before_it_copied_and_itself_as_it_was(
    tmp_path: Path, lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    """One transaction per table: a table that cannot be copied (its lake column has another type) is rolled back
    whole, the tables copied before it stay copied, and once the cause is removed a re-run with --replace
    finishes the copy."""
    file = _file_warehouse(tmp_path).warehouse
    on_lake = lake_settings(tmp_path / "lake_run", lake).warehouse
    with connect(on_lake) as connection:  # the last table in the copy's order, empty, with a column of another type
        connection.execute("CREATE TABLE video_velocity (window_start TIMESTAMP, view_count VARCHAR)")
    args = ["--from", f"duckdb:{file.path}", *_lake_args(lake)]
    code, out, err = _copy(capsys, *args)
    assert code == 1
    assert "video_velocity.view_count is BIGINT in the file but VARCHAR in the lake" in err and "--replace" in err
    tables = _relations(file, "table")
    assert tables[-1] == "video_velocity"
    for table in tables[:-1]:
        assert _rows(on_lake, table).equals(_rows(file, table)), table
    assert _rows(on_lake, "video_velocity").height == 0
    with connect(on_lake) as connection:
        connection.execute("DROP TABLE video_velocity")
    code, out, err = _copy(capsys, *args, "--replace")
    assert code == 0, err
    for table in tables:
        assert _rows(on_lake, table).equals(_rows(file, table)), table


def test_check_finds_a_table_that_differs(tmp_path: Path, lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    """--check compares without copying: a row deleted, or a value changed (same row count), makes it exit 1 naming
    the table; the checksum is what tells the second case."""
    file = _file_warehouse(tmp_path).warehouse
    on_lake = lake_settings(tmp_path / "lake_run", lake).warehouse
    args = ["--from", f"duckdb:{file.path}", *_lake_args(lake)]
    code, out, err = _copy(capsys, *args, "--check")  # nothing copied yet
    assert code == 1 and re.search(r"^video_velocity\s.*MISMATCH: the lake has no such table", out, re.MULTILINE)
    assert _relations(on_lake, "table") == [], "--check copies nothing"
    assert _copy(capsys, *args)[0] == 0
    with connect(on_lake) as connection:
        changed = connection.execute(
            "UPDATE video_velocity SET view_count = view_count + 1 "
            "WHERE (video_id, window_start) = (SELECT (video_id, window_start) FROM video_velocity "
            "ORDER BY window_start, video_id LIMIT 1)"
        ).fetchall()
    assert changed == [(1,)]
    code, out, err = _copy(capsys, *args, "--check")
    assert code == 1 and "video_velocity" in err
    assert re.search(r"^video_velocity\s.*MISMATCH: same row count, different checksum$", out, re.MULTILINE), out
    with connect(on_lake) as connection:
        deleted = connection.execute(
            "DELETE FROM raw_creator_snapshots WHERE observed_at = (SELECT min(observed_at) FROM raw_creator_snapshots)"
        ).fetchall()
    assert deleted[0][0] >= 1
    code, out, err = _copy(capsys, *args, "--check")
    assert code == 1 and re.search(r"^raw_creator_snapshots\s.*MISMATCH: the lake has [\d,]+ rows", out, re.MULTILINE)
    assert _copy(capsys, *args, "--replace")[0] == 0
    assert _copy(capsys, *args, "--check")[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "duckdb:w.duckdb", "--to", f"mysql://u:{PASSWORD}@db/x", "--data-path", "/l"],
            "--to has the scheme 'mysql'",
        ),
        (
            [
                "--from",
                f"ducklake:postgres:dbname=x password={PASSWORD}",
                "--to",
                "ducklake:postgres:dbname=y",
                "--data-path",
                "/l",
            ],
            "--from must be a DuckDB file",
        ),
        (
            ["--from", "sqlite:w.db", "--to", "ducklake:postgres:dbname=y", "--data-path", "/l"],
            "--from has the scheme 'sqlite'",
        ),
        (["--from", "duckdb:w.duckdb", "--to", "duckdb:other.duckdb", "--data-path", "/l"], "--to must be a DuckLake"),
        (
            ["--from", "duckdb:w.duckdb", "--to", "ducklake:postgres:", "--data-path", "/l"],
            "--to 'ducklake:postgres:' needs a libpq conninfo",
        ),
        (
            ["--from", "duckdb:w.duckdb", "--to", f"ducklake:postgres:dbname=y password={PASSWORD}"],
            "--data-path is missing",
        ),
    ],
)
def test_a_bad_option_is_named(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIKTOK_LAKE_DATA_PATH", raising=False)
    code, out, err = _copy(capsys, *args)
    assert code == 2 and message in err and PASSWORD not in out + err


def test_the_lake_defaults_to_the_settings(
    tmp_path: Path, lake: Lake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --to and --data-path the lake is TIKTOK_WAREHOUSE_URL's, with TIKTOK_LAKE_DATA_PATH; a file
    warehouse's URL is not a lake: --to is asked for."""
    file = _file_warehouse(tmp_path).warehouse
    monkeypatch.setenv("TIKTOK_WAREHOUSE_URL", f"{lake.url} password={PASSWORD}")
    monkeypatch.setenv("TIKTOK_LAKE_DATA_PATH", str(lake.data_path))
    code, out, err = _copy(capsys, "--from", f"duckdb:{file.path}")
    assert code == 0 and f"DuckLake with data at {lake.data_path}" in out and PASSWORD not in out + err
    monkeypatch.setenv("TIKTOK_WAREHOUSE_URL", f"duckdb:{file.path}")
    monkeypatch.delenv("TIKTOK_LAKE_DATA_PATH")
    code, out, err = _copy(capsys)
    assert code == 2 and "--to is missing" in err
