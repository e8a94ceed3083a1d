"""``tiktok-pipeline sql``: queries a consistent in-memory snapshot of the warehouse without blocking writers."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from tiktok_pipeline.cli import main
from tiktok_pipeline.warehouse.snapshot import QueryFailed, WarehouseBusy, WarehouseMissing, query_snapshot

# Opens the warehouse read-write, says so, holds the connection (and DuckDB's file lock) for HOLD seconds.
HOLD_WRITER = textwrap.dedent(
    """
    import sys, time, duckdb
    connection = duckdb.connect(sys.argv[1])
    connection.execute("INSERT INTO video_velocity VALUES ('v9', 9.0)")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    connection.close()
    """
)
# Opens the warehouse read-write once and appends a row: exits 1 with DuckDB's lock error if it cannot.
WRITE_ONCE = (
    "import sys, duckdb; c = duckdb.connect(sys.argv[1]); c.execute(\"INSERT INTO alerts VALUES ('x')\"); c.close()"
)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE video_velocity (video_id VARCHAR, momentum DOUBLE)")
        connection.execute("INSERT INTO video_velocity VALUES ('v1', 0.5), ('v2', 3.0), ('v3', 1.5), ('v4', NULL)")
        connection.execute("CREATE TABLE alerts (alert_key VARCHAR)")
        connection.execute("CREATE TABLE big AS SELECT range AS i FROM range(100000)")
    return path


def test_a_view_is_recreated_over_copies_of_its_tables_only(warehouse):
    # quarantined_records is a view over the per-source quarantine tables (tiktok_pipeline.warehouse.quarantine)
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("CREATE TABLE display_api_quarantine AS SELECT 'video' AS reason")
        connection.execute("CREATE TABLE ad_report_quarantine AS SELECT 'ad' AS reason")
        connection.execute(
            "CREATE VIEW quarantined_records AS SELECT * FROM display_api_quarantine "
            "UNION ALL BY NAME SELECT * FROM ad_report_quarantine"
        )
    result = query_snapshot(warehouse, "SELECT reason FROM quarantined_records ORDER BY reason")
    assert result.table.to_pylist() == [{"reason": "ad"}, {"reason": "video"}]
    assert sorted(result.copied_tables) == ["ad_report_quarantine", "display_api_quarantine"]  # not `big`
    assert query_snapshot(warehouse, "FROM video_velocity").copied_tables == ("video_velocity",)
    joined = query_snapshot(warehouse, "SELECT count(*) AS n FROM quarantined_records, video_velocity")
    assert joined.table.to_pylist() == [{"n": 8}]


def _hold_writer(path: Path, seconds: float) -> subprocess.Popen[str]:
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "locked"
    return writer


def test_a_query_returns_the_right_rows_and_copies_only_what_it_reads(warehouse):
    result = query_snapshot(
        warehouse, "SELECT video_id, momentum FROM video_velocity ORDER BY momentum DESC NULLS LAST"
    )
    assert result.table.to_pylist() == [
        {"video_id": "v2", "momentum": 3.0},
        {"video_id": "v3", "momentum": 1.5},
        {"video_id": "v1", "momentum": 0.5},
        {"video_id": "v4", "momentum": None},
    ]
    assert result.copied_tables == ("video_velocity",) and not result.truncated

    limited = query_snapshot(warehouse, "FROM video_velocity ORDER BY video_id", limit=2)
    assert [row["video_id"] for row in limited.table.to_pylist()] == ["v1", "v2"] and limited.truncated

    # a catalog query names no table: the whole database is copied, so it sees every table
    tables = query_snapshot(warehouse, "SHOW TABLES").table.column("name").to_pylist()
    assert tables == ["alerts", "big", "video_velocity"]
    # statements run on the copy only
    query_snapshot(warehouse, "DELETE FROM video_velocity")
    assert query_snapshot(warehouse, "SELECT count(*) AS n FROM video_velocity").table.to_pylist() == [{"n": 4}]


def test_a_writer_opens_the_file_while_the_command_is_still_printing(warehouse, monkeypatch):
    writes: list[subprocess.CompletedProcess[str]] = []

    class SlowTerminal(io.StringIO):
        """Standard output that, on the first line printed, has another process write the warehouse."""

        def write(self, text: str) -> int:
            if not writes:
                writes.append(
                    subprocess.run([sys.executable, "-c", WRITE_ONCE, str(warehouse)], capture_output=True, text=True)
                )
            return super().write(text)

    out = SlowTerminal()
    monkeypatch.setattr("sys.stdout", out)
    assert main(["sql", "--warehouse", str(warehouse), "--format", "csv", "FROM big"]) == 0
    assert writes and writes[0].returncode == 0, writes[0].stderr
    assert out.getvalue().splitlines()[:3] == ["i", "0", "1"] and len(out.getvalue().splitlines()) == 100_001
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM alerts").fetchone() == (1,)


def test_a_writer_holding_the_lock_makes_it_wait_then_it_succeeds(warehouse):
    writer = _hold_writer(warehouse, 1.0)
    started = time.monotonic()
    try:
        result = query_snapshot(warehouse, "SELECT count(*) AS n FROM video_velocity", wait_seconds=20)
    finally:
        writer.wait(timeout=30)
    assert time.monotonic() - started >= 0.5, "the writer held the lock for a second"
    assert result.table.to_pylist() == [{"n": 5}]  # the writer's committed row is in the snapshot


def test_a_writer_holding_the_lock_too_long_gives_a_clear_error(warehouse, capsys):
    writer = _hold_writer(warehouse, 4.0)
    try:
        with pytest.raises(WarehouseBusy, match="locked by a writer"):
            query_snapshot(warehouse, "FROM video_velocity", wait_seconds=0.3)
        assert main(["sql", "--warehouse", str(warehouse), "--wait", "0.3", "FROM video_velocity"]) == 1
    finally:
        writer.wait(timeout=30)
    err = capsys.readouterr().err
    assert str(warehouse) in err and "--wait" in err


def test_bad_sql_gives_duckdbs_message_and_exit_code_1(warehouse, capsys):
    with pytest.raises(QueryFailed, match="syntax error"):
        query_snapshot(warehouse, "SELEC 1")
    assert main(["sql", "--warehouse", str(warehouse), "SELEC 1"]) == 1
    assert "query failed: Parser Error: syntax error" in capsys.readouterr().err
    assert main(["sql", "--warehouse", str(warehouse), "FROM no_such_table"]) == 1
    err = capsys.readouterr().err
    assert "no_such_table does not exist" in err and "alerts, big, video_velocity" in err


def test_a_missing_warehouse_names_the_path_and_the_setting(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "nowhere" / "warehouse.duckdb"
    with pytest.raises(WarehouseMissing):
        query_snapshot(missing, "SELECT 1")
    monkeypatch.setenv("TIKTOK_WAREHOUSE_PATH", str(missing))
    assert main(["sql", "SELECT 1"]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "TIKTOK_WAREHOUSE_PATH" in err
    assert not missing.parent.exists(), "a query never creates the warehouse"

    not_duckdb = tmp_path / "notes.txt"
    not_duckdb.write_text("not a database\n")
    assert main(["sql", "--warehouse", str(not_duckdb), "SELECT 1"]) == 1
    assert f"could not open the warehouse {not_duckdb}" in capsys.readouterr().err


def test_formats(warehouse, capsys):
    query = "SELECT video_id, momentum, INTERVAL 5 MINUTE AS every, [1, 2] AS l FROM video_velocity ORDER BY video_id"
    assert main(["sql", "--warehouse", str(warehouse), "--format", "json", "--limit", "2", query]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [
        {"video_id": "v1", "momentum": 0.5, "every": "00:05:00", "l": [1, 2]},
        {"video_id": "v2", "momentum": 3.0, "every": "00:05:00", "l": [1, 2]},
    ]
    assert "first 2 rows" in captured.err
    assert main(["sql", "--warehouse", str(warehouse), "--format", "csv", query]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == ["video_id,momentum,every,l", 'v1,0.5,00:05:00,"[1, 2]"']
    assert main(["sql", "--warehouse", str(warehouse), query]) == 0
    table = capsys.readouterr().out
    assert "v4" in table and "00:05:00" in table and table.rstrip().endswith("(4 rows)")


def test_importing_the_cli_imports_no_dagster_polars_or_duckdb():
    code = (
        "import sys, tiktok_pipeline.cli; "
        "print(sorted(m for m in ('dagster', 'polars', 'duckdb', 'pandera', 'pyarrow') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    # and a query with --warehouse needs no Dagster either (TIKTOK_WAREHOUSE_PATH goes through the settings)
    code = (
        "import sys; from tiktok_pipeline.cli import main; "
        "from tiktok_pipeline.warehouse import snapshot; "
        "assert 'dagster' not in sys.modules, 'snapshot imports dagster'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
