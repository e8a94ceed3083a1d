"""What counts as a step's wait for the warehouse (``warehouse.waits``; poll_telemetry's ``warehouse_wait_seconds``)."""

import duckdb
import pytest

from tiktok_pipeline.warehouse import waits
from tiktok_pipeline.warehouse.io import write_transaction
from tiktok_pipeline.warehouse.waits import metering


def test_a_conflicting_commits_backoff_is_a_wait():
    """On a DuckLake there is no lock: the backoff before re-running a commit that lost to another writer's is the
    wait (DuckDB in memory stands in for the lake; the conflict is raised as DuckLake raises it)."""
    connection, slept, attempts = duckdb.connect(), [], []

    def body(con):
        attempts.append(1)
        if len(attempts) < 3:
            raise duckdb.TransactionException("Transaction conflict: cannot delete from table that was changed")
        return "committed"

    with metering() as outer, metering() as inner:
        assert write_transaction(connection, body, sleep=slept.append) == "committed"
    assert len(slept) == 2 and inner.seconds == pytest.approx(sum(slept)) and outer.seconds == inner.seconds


def test_waits_outside_a_meter_go_nowhere_and_meters_end_with_their_block():
    waits.record(3.0)  # no meter running: nothing to do, no error
    with metering() as meter:
        waits.record(0.5)
    waits.record(2.0)
    assert meter.seconds == 0.5
