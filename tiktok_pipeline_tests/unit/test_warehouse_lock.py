"""The warehouse lock (issue 11, items 7, 9, 10): one process at a time, freed at once when its holder dies.

Every test uses real processes: the lock is an OS lock between processes, which threads cannot show.
"""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from tiktok_pipeline.warehouse.io import connect
from tiktok_pipeline.warehouse.lock import LOCK_TIMEOUT_SETTING, WarehouseBusyError, lock_path, warehouse_lock

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tiktok_pipeline.warehouse.io import connect
    with connect(Path(sys.argv[1]), purpose="test holder") as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS t (i INTEGER)")
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tiktok_pipeline.warehouse.io import connect
    for round in range(int(sys.argv[3])):
        with connect(Path(sys.argv[1])) as connection:
            began = time.time()
            connection.execute("CREATE TABLE IF NOT EXISTS spans (writer INTEGER, began DOUBLE, ended DOUBLE)")
            time.sleep(0.01)
            connection.execute("INSERT INTO spans VALUES (?, ?, ?)", [int(sys.argv[2]), began, time.time()])
    """
)


def _holder(warehouse: Path, seconds: float) -> subprocess.Popen:
    """A process that opens the warehouse and keeps it open for ``seconds`` (returns once it holds it)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(warehouse), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_process_waits_then_fails_naming_the_holder_and_the_setting(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    holder = _holder(warehouse, 60)
    try:
        told: list[str] = []
        with pytest.raises(WarehouseBusyError) as failure, connect(warehouse, lock_timeout=0.5, on_wait=told.append):
            pass
        message = str(failure.value)
        assert f"pid {holder.pid}" in message and "test holder" in message and LOCK_TIMEOUT_SETTING in message
        assert told and f"pid {holder.pid}" in told[0]
    finally:
        holder.kill()
        holder.wait()


def test_a_holder_killed_with_sigkill_frees_the_warehouse_at_once(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    holder = _holder(warehouse, 600)
    with pytest.raises(WarehouseBusyError), connect(warehouse, lock_timeout=0.2):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    # Nobody released anything: the kernel dropped the lock with the process, and DuckDB's own file lock too.
    with connect(warehouse, lock_timeout=30) as connection:
        assert connection.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_connections_of_many_processes_never_overlap(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(warehouse), str(n), "15"], stderr=subprocess.PIPE)
        for n in range(4)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        spans = connection.execute("SELECT began, ended, writer FROM spans ORDER BY began").fetchall()
    assert len(spans) == 60
    for (_, ended, a), (began, _, b) in zip(spans, spans[1:], strict=False):
        assert ended <= began, f"writer {a} and writer {b} held the warehouse at the same time"


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    with connect(warehouse, lock_timeout=1) as outer, connect(warehouse, lock_timeout=1) as inner:
        outer.execute("CREATE TABLE t (i INTEGER)")
        inner.execute("INSERT INTO t VALUES (1)")
    with warehouse_lock(warehouse, timeout=1), warehouse_lock(warehouse, timeout=1):
        pass
    assert lock_path(warehouse).exists()  # the lock file stays: deleting it would split waiters across inodes


def test_a_duckdb_session_outside_the_pipeline_is_waited_for_within_the_same_bound(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    outside = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True); "
            "time.sleep(float(sys.argv[2]))",
            str(warehouse),
            "60",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert outside.stdout is not None and outside.stdout.readline().strip() == "open"
        told: list[str] = []
        with (
            pytest.raises(WarehouseBusyError, match=LOCK_TIMEOUT_SETTING),
            connect(warehouse, lock_timeout=0.6, on_wait=told.append),
        ):
            pass
        assert told and "outside the pipeline" in told[0]
    finally:
        outside.kill()
        outside.wait()
    with connect(warehouse, lock_timeout=30) as connection:  # once it is gone, the same call goes through
        connection.execute("SELECT 1")
