"""Urgent waiters first (issue 13, "Freshness"): a live window's connection goes before other waiters on the lock.

Real processes, like ``test_warehouse_lock.py``: the lock is an OS lock between processes. Nothing is timed: each
waiter says when it waits, and the order in which they got the lock is what they wrote under it.
"""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tiktok_pipeline.warehouse.lock import urgent_path, urgent_waiting, warehouse_lock

WAITER = textwrap.dedent(
    """
    import sys, time
    from tiktok_pipeline.warehouse.lock import warehouse_lock
    warehouse, name, urgent, log = sys.argv[1], sys.argv[2], sys.argv[3] == "urgent", sys.argv[4]
    def waiting(message):
        print("waiting", flush=True)
    with warehouse_lock(warehouse, timeout=120, purpose=name, on_wait=waiting, urgent=urgent):
        print("held", flush=True)
        with open(log, "a") as out:
            out.write(name + "\\n")
        time.sleep(0.1)
    """
)


def _waiter(warehouse: Path, name: str, urgent: bool, log: Path) -> subprocess.Popen:
    """A process waiting for the lock (returns once it says it waits: an urgent one has announced itself)."""
    how = "urgent" if urgent else "normal"
    process = subprocess.Popen(
        [sys.executable, "-c", WAITER, str(warehouse), name, how, str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "waiting", process.stderr.read() if process.stderr else ""
    return process


def test_urgent_waiters_get_the_lock_before_waiters_that_came_first(tmp_path):
    for round in range(3):  # without priority, who polls first after a release is chance: about 1 in 6 a round
        warehouse, log = tmp_path / "warehouse.duckdb", tmp_path / f"order-{round}.txt"
        with warehouse_lock(warehouse, timeout=1, purpose="a backfill's long step"):
            waiters = [_waiter(warehouse, f"backfill-{n}", False, log) for n in range(5)]
            waiters += [_waiter(warehouse, f"live-{n}", True, log) for n in range(3)]
        for waiter in waiters:
            _, err = waiter.communicate(timeout=120)
            assert waiter.returncode == 0, err
        order = log.read_text().split()
        assert len(order) == 8
        # Every live window went before every backfill step that was waiting before it came.
        assert sorted(order[:3]) == ["live-0", "live-1", "live-2"], order


def test_a_killed_urgent_waiter_blocks_nobody(tmp_path):
    warehouse, log = tmp_path / "warehouse.duckdb", tmp_path / "order.txt"
    with warehouse_lock(warehouse, timeout=1):
        urgent = _waiter(warehouse, "live", True, log)
        os.kill(urgent.pid, signal.SIGKILL)  # while it waits, announced
        urgent.wait()
    # The kernel dropped its announcement with it: a normal waiter is not held back by a dead urgent one.
    with warehouse_lock(warehouse, timeout=5) as waited:
        assert waited < 5
    assert urgent_path(warehouse).exists() and not log.exists()


def test_an_urgent_waiter_still_waits_for_the_holder(tmp_path):
    warehouse, log = tmp_path / "warehouse.duckdb", tmp_path / "order.txt"
    with warehouse_lock(warehouse, timeout=1, purpose="the holder"):
        urgent = _waiter(warehouse, "live", True, log)
        assert urgent.poll() is None and not log.exists()  # no pre-emption: the holder's write finishes first
    urgent.communicate(timeout=60)
    assert log.read_text().split() == ["live"]


def test_an_urgent_waiter_is_seen_waiting_until_it_is_served(tmp_path):
    """What a range step asks between its turns (``warehouse.turns``): does a live window wait for the warehouse?"""
    warehouse, log = tmp_path / "warehouse.duckdb", tmp_path / "order.txt"
    with warehouse_lock(warehouse, timeout=1, purpose="a range step's turn"):
        assert not urgent_waiting(warehouse)
        normal = _waiter(warehouse, "backfill", False, log)
        assert not urgent_waiting(warehouse)  # a waiter that is not urgent does not count
        urgent = _waiter(warehouse, "live", True, log)
        assert urgent_waiting(warehouse)
    for waiter in (urgent, normal):
        waiter.communicate(timeout=60)
    assert not urgent_waiting(warehouse) and log.read_text().split() == ["live", "backfill"]
