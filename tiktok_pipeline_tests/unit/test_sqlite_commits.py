"""The embedded instance's SQLite event log commits cheaply in a pipeline process (``governance.sqlite_commits``).

A real pipeline process (it imports ``tiktok_pipeline.definitions``, as a run worker does) stores events in a
SQLite instance like dagster.yaml's; nothing is timed: what it observes is SQLite's own state. Without the policy
every commit is ``synchronous=FULL`` and closing Dagster's per-write connection checkpoints the WAL away.
"""

import json
import os
import sqlite3
import subprocess
import sys
import textwrap

from tiktok_pipeline_tests.pipeline_env import pipeline_env
from tiktok_pipeline_tests.sqlite_no_fsync import NO_FSYNC_ENV

PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import dagster as dg
    from sqlalchemy import text
    import tiktok_pipeline.definitions  # noqa: F401  (a pipeline process)

    home = Path(sys.argv[1])
    (home / "dagster.yaml").write_text(
        "event_log_storage:\\n  module: dagster._core.storage.event_log\\n"
        "  class: ConsolidatedSqliteEventLogStorage\\n"
        f"  config:\\n    base_dir: {home / 'events'}\\ntelemetry:\\n  enabled: false\\n"
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for n in range(20):
            instance.report_runless_asset_event(dg.AssetMaterialization("probe", metadata={"n": n}))
        stored = len(instance.fetch_materializations(dg.AssetKey("probe"), limit=100).records)
        with instance.event_log_storage.index_connection() as connection:
            level = connection.execute(text("PRAGMA synchronous")).scalar()
        wal = home / "events" / "event_log.db-wal"
        print(json.dumps({"stored": stored, "synchronous": level, "wal_bytes": wal.stat().st_size if wal.exists() else 0}))
    """
)


def test_a_pipeline_process_commits_dagster_events_without_an_fsync_and_a_checkpoint_each(tmp_path):
    env = pipeline_env(tmp_path)
    env.pop(NO_FSYNC_ENV)  # the tests' own shortcut (synchronous=OFF) would hide what the pipeline does
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["stored"] == 20  # every event is stored and read back
    assert got["synchronous"] == 1  # NORMAL, not FULL (2): no fsync at each commit in WAL mode
    assert got["wal_bytes"] > 0  # closing a per-write connection no longer checkpointed the WAL into the database


def test_a_rollback_journal_and_a_lower_level_are_left_alone(tmp_path):
    """Called on raw connections (this test process's own hook sets every SQLAlchemy connection OFF)."""
    from tiktok_pipeline.governance import sqlite_commits

    journal = sqlite3.connect(tmp_path / "journal.db")  # rollback journal: NORMAL could corrupt it on a power loss
    sqlite_commits._on_connect(journal, None)
    assert journal.execute("PRAGMA synchronous").fetchone() == (2,)
    wal = sqlite3.connect(tmp_path / "wal.db")
    wal.execute("PRAGMA journal_mode=WAL")
    wal.execute("PRAGMA synchronous=OFF")
    sqlite_commits._on_connect(wal, None)
    assert wal.execute("PRAGMA synchronous").fetchone() == (0,)  # lower than NORMAL: kept
    full = sqlite3.connect(tmp_path / "wal.db")
    sqlite_commits._on_connect(full, None)
    assert full.execute("PRAGMA synchronous").fetchone() == (1,)
    kept = [path for (pid, path) in sqlite_commits._keepers if pid == os.getpid()]
    assert str(tmp_path / "wal.db") in kept and str(tmp_path / "journal.db") not in kept
