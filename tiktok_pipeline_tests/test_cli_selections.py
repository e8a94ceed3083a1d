"""Selections a user types run through the real CLI: one asset alone, an asset with its upstream, and
README's own backfill command(s), read from README.md so the text and the test cannot drift apart.

Each command runs in a subprocess with a temporary DAGSTER_HOME (holding the shipped dagster.yaml, as
``DAGSTER_HOME=$PWD`` does) and every TIKTOK_* path in a temporary folder.
"""

import contextlib
import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tiktok_pipeline.settings import PROJECT_ROOT
from tiktok_pipeline_tests.pipeline_env import pipeline_env

pytestmark = pytest.mark.heavy(43)  # seconds of a core, measured alone: started first under pytest-xdist

DAGSTER = str(Path(sys.executable).with_name("dagster"))
WINDOW = "2026-11-20-10:00"
WINDOW_START = datetime(2026, 11, 20, 10, 0)


def readme_commands(section: str) -> list[list[str]]:
    """The shell commands in the ```bash blocks of README.md's ``section`` (a ### heading)."""
    text = (PROJECT_ROOT / "README.md").read_text()
    body = text.split(f"### {section}\n", 1)[1]
    body = re.split(r"\n##+ ", body, maxsplit=1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", body, flags=re.S)
    return [shlex.split(line) for block in blocks for line in block.replace("\\\n", " ").splitlines() if line.strip()]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME like the project folder: the shipped dagster.yaml (relative paths resolve inside it)."""
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    return tmp_path


def run_cli(argv: list[str], home: Path) -> subprocess.CompletedProcess:
    """``argv`` as README writes it (``VAR=value`` prefixes, ``.venv/bin/dagster``), in ``home`` as $PWD."""
    assignments = {}
    while argv and re.fullmatch(r"[A-Z_]+=.*", argv[0]):
        name, _, value = argv.pop(0).partition("=")
        assignments[name] = value.replace("$PWD", str(home))
    assert Path(argv[0]).name == "dagster", argv
    env = pipeline_env(home)
    env.update(DAGSTER_HOME=str(home))  # pipeline_env's PYTHONPATH: this project first (after the test hooks)
    env.update(assignments)
    assert env["DAGSTER_HOME"] == str(home)
    return subprocess.run([DAGSTER, *argv[1:]], cwd=home, env=env, capture_output=True, text=True, timeout=600)


def latest_run(home: Path) -> dg.DagsterRun:
    with (
        contextlib.chdir(home),
        dg.DagsterInstance.from_config(str(home)) as instance,
    ):  # dagster.yaml's paths are relative
        return instance.get_runs(limit=1)[0]


def windows_in(home: Path, table: str) -> set[str]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(f"SELECT DISTINCT strftime(window_start, '%Y-%m-%d-%H:%M') FROM {table}").fetchall()
    return {r[0] for r in rows}


def materialize(home: Path, *args: str) -> dg.DagsterRun:
    done = run_cli(
        ["DAGSTER_HOME=$PWD", DAGSTER, "asset", "materialize", "-m", "tiktok_pipeline.definitions", *args], home
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = latest_run(home)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    return run


def test_one_asset_alone_and_an_asset_with_its_upstream(home):
    alone = materialize(home, "--select", "raw_creator_snapshots", "--partition", WINDOW)
    assert alone.asset_selection == {dg.AssetKey("raw_creator_snapshots")}
    assert windows_in(home, "raw_creator_snapshots") == {WINDOW}
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:  # nothing else was written
        tables = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        calls = con.execute("SELECT count(*) FROM api_call_log WHERE window_start = ?", [WINDOW_START]).fetchone()
    # api_call_log is no asset's table: every step that calls out appends its calls there (README "Every call is
    # logged"); the collection this selection made is in it; schema_versions records the tables created
    assert tables == {"raw_creator_snapshots", "api_call_log", "schema_versions"}
    assert calls is not None and calls[0] > 0

    upstream = materialize(home, "--select", "*video_velocity", "--partition", WINDOW)
    assert upstream.asset_selection == {
        dg.AssetKey(k) for k in ("raw_video_snapshots", "enriched_video_metrics", "video_velocity")
    }
    assert windows_in(home, "video_velocity") == {WINDOW}


def test_readme_backfill_commands_run():
    commands = readme_commands("Backfilling")
    assert commands, "README's Backfilling section has no command"


@pytest.mark.parametrize("index", range(len(readme_commands("Backfilling"))))
def test_readme_backfill_command(home, index):
    argv = readme_commands("Backfilling")[index]
    first, last = argv[argv.index("--partition-range") + 1].split("...")
    done = run_cli(argv, home)
    assert done.returncode == 0, done.stderr[-3000:]
    run = latest_run(home)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]) == (
        first,
        last,
    )
    assert min(windows_in(home, "video_velocity")) == first and max(windows_in(home, "video_velocity")) == last
    assert windows_in(home, "poll_telemetry") == windows_in(home, "raw_video_snapshots")
