"""Landing zone, token store, rate limiter, partitions and warehouse replacement."""

import os
import stat
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from pydantic import SecretStr

from tiktok_pipeline.ingest.land import WindowNotObservableError, observation_instant
from tiktok_pipeline.ingest.landing import landing_path, read_landing, write_landing
from tiktok_pipeline.sources.display_api.tokens import TokenSet, TokenStore
from tiktok_pipeline.sources.http import SlidingWindowLimiter
from tiktok_pipeline.warehouse.io import Write, connect, read_frame, replace_windows, transaction
from tiktok_pipeline.warehouse.tables import RAW_CREATOR_SNAPSHOTS
from tiktok_pipeline.windows import window_from_key, window_key, window_starts

W = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_landing_round_trip_is_atomic(tmp_path):
    path = landing_path(tmp_path, "display_api", W)
    assert path == tmp_path / "display_api" / "2026-11-24" / "1200.jsonl.gz"
    assert write_landing(path, [{"a": 1}, {"b": [1, 2]}]) == 2
    assert read_landing(path) == [{"a": 1}, {"b": [1, 2]}]
    assert not list(path.parent.glob("*.partial"))


def test_token_store_persists_secrets_privately_and_hides_them(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    tokens = TokenSet(
        open_id="o1",
        access_token=SecretStr("act.secret"),
        access_expires_at=W,
        refresh_token=SecretStr("rft.secret"),
        refresh_expires_at=W + timedelta(days=1),
    )
    store.put("alice", tokens)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    loaded = store.get("alice")
    assert loaded.refresh_token.get_secret_value() == "rft.secret"
    assert "rft.secret" not in repr(loaded) and "act.secret" not in str(loaded)
    assert store.get("bob") is None and store.usernames() == ["alice"]
    assert loaded.needs_refresh(W - timedelta(minutes=4)) and not loaded.needs_refresh(W - timedelta(minutes=6))


def test_sliding_window_limiter_blocks_until_a_slot_frees():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = SlidingWindowLimiter(2, 60, clock=lambda: now[0], sleep=sleep)
    assert limiter.acquire("video/query") == 0
    now[0] = 10
    assert limiter.acquire("video/query") == 0
    assert limiter.acquire("video/list") == 0  # endpoints are limited separately
    assert limiter.acquire("video/query") == pytest.approx(50)  # waits until t=60, when the first slot frees
    assert limiter.wait_time("video/query") == pytest.approx(10)


def test_partition_keys_and_window_ranges():
    assert window_key(W) == "2026-11-24-12:00"
    assert window_from_key("2026-11-24-12:00") == W
    with pytest.raises(ValueError, match="YYYY-MM-DD-HH:MM"):
        window_from_key("2026-11-24T12:00")
    assert len(list(window_starts(W, W + timedelta(hours=1)))) == 12
    with pytest.raises(ValueError, match="5-minute boundary"):
        list(window_starts(W + timedelta(minutes=1), W + timedelta(hours=1)))


def test_observation_instant_rules():
    end = W + timedelta(minutes=5)
    age = timedelta(minutes=15)
    assert observation_instant(W, end + timedelta(days=3), at_window_end=True, max_age=age) == end
    now = end + timedelta(minutes=2)
    assert observation_instant(W, now, at_window_end=False, max_age=age) == now
    with pytest.raises(WindowNotObservableError, match="long|longer than"):
        observation_instant(W, end + timedelta(hours=2), at_window_end=False, max_age=age)
    with pytest.raises(WindowNotObservableError, match="before it has closed"):
        observation_instant(W, W + timedelta(minutes=4), at_window_end=True, max_age=age)


def _creators(window: datetime, n: int) -> pl.DataFrame:
    naive = window.replace(tzinfo=None)
    return pl.DataFrame(
        {"window_start": [naive] * n, "observed_at": [naive] * n, "creator_username": [f"c{i}" for i in range(n)]}
    )


def test_replace_windows_replaces_only_its_range_and_rolls_back(tmp_path):
    db = tmp_path / "w.duckdb"
    later = W + timedelta(minutes=5)
    with connect(db) as con:
        replace_windows(
            con,
            W,
            later + timedelta(minutes=5),
            Write(RAW_CREATOR_SNAPSHOTS, pl.concat([_creators(W, 2), _creators(later, 3)])),
        )
        replace_windows(con, W, later, Write(RAW_CREATOR_SNAPSHOTS, _creators(W, 1)))
        counts = read_frame(con, "SELECT window_start, count(*) AS n FROM raw_creator_snapshots GROUP BY 1 ORDER BY 1")
        assert counts["n"].to_list() == [1, 3]
        with pytest.raises(ValueError, match="outside"):
            replace_windows(con, W, later, Write(RAW_CREATOR_SNAPSHOTS, _creators(later, 1)))
        bad = _creators(W, 1).with_columns(pl.lit("not a number").alias("follower_count"))
        with pytest.raises(Exception):
            replace_windows(con, W, later, Write(RAW_CREATOR_SNAPSHOTS, bad))
        assert read_frame(con, "SELECT count(*) AS n FROM raw_creator_snapshots")["n"][0] == 4


def test_transaction_commits_together_or_rolls_back_and_reraises(tmp_path):
    with connect(tmp_path / "w.duckdb") as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
        with transaction(connection):
            connection.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(RuntimeError, match="boom"), transaction(connection):
            connection.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("boom")
        assert connection.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_a_table_created_before_new_columns_gains_them_on_the_next_write(tmp_path):
    """A warehouse from before poll_telemetry counted pagination stops still takes its windows' rows."""
    from tiktok_pipeline.warehouse.tables import POLL_TELEMETRY

    old = [c for c in POLL_TELEMETRY.columns if not c.name.startswith(("pagination_stop", "retry_budget"))]
    with connect(tmp_path / "w.duckdb") as con:
        con.execute(f"CREATE TABLE poll_telemetry ({', '.join(f'{c.name} {c.type}' for c in old)})")
        row = pl.DataFrame({"window_start": [W.replace(tzinfo=None)], "requests": [3], "pagination_stop_horizon": [2]})
        replace_windows(con, W, W + timedelta(minutes=5), Write(POLL_TELEMETRY, row))
        written = read_frame(con, "SELECT * FROM poll_telemetry")
    assert sorted(written.columns) == sorted(POLL_TELEMETRY.column_names)
    assert written.select("requests", "pagination_stop_horizon").rows() == [(3, 2)]
