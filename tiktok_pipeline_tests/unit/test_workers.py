"""Run liveness (issue 11, item 10): a run whose process died is told apart from a live one, on its own host only."""

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime

import dagster as dg

from tiktok_pipeline.governance.workers import (
    WORKER_TAG,
    Worker,
    fail_dead_runs,
    orchestrator,
    process_start,
    this_worker,
    why_dead,
)

HOST = socket.gethostname()


def _dead_pid() -> tuple[int, str]:
    """The pid and start time of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    started = process_start(child.pid)
    child.kill()
    child.wait()
    return child.pid, started


def test_the_tag_round_trips_and_malformed_tags_are_none():
    worker = Worker(host="node-1.example", pid=4242, started="123456")
    assert Worker.parse(worker.tag()) == worker
    assert Worker.parse(Worker(host="h", pid=1).tag()) == Worker(host="h", pid=1, started="")
    for bad in (None, "", "nonsense", "host:notapid:1", ":12:1"):
        assert Worker.parse(bad) is None, bad


def test_a_live_process_is_alive_and_a_reaped_one_is_dead():
    assert why_dead(this_worker(os.getpid()), HOST) is None
    pid, started = _dead_pid()
    assert "no longer exists" in (why_dead(Worker(host=HOST, pid=pid, started=started), HOST) or "")


def test_a_zombie_is_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    try:
        assert "has exited" in (why_dead(Worker(host=HOST, pid=child.pid), HOST) or "")
    finally:
        child.wait()


def test_a_reused_pid_is_dead_and_another_host_is_never_judged():
    mine = this_worker(os.getpid())
    assert "another process" in (why_dead(Worker(host=HOST, pid=mine.pid, started="1"), HOST) or "")
    pid, started = _dead_pid()
    assert why_dead(Worker(host="some-other-pod", pid=pid, started=started), HOST) is None


def test_the_orchestrator_is_this_process_or_its_parent():
    assert orchestrator([99, 7], pid=7, parent=1) == 7  # in-process executor
    assert orchestrator([5], pid=7, parent=5) == 5  # a step of the multiprocess executor
    assert orchestrator([99], pid=7, parent=5) is None  # another host's or attempt's process


def test_only_started_runs_of_this_host_whose_process_died_are_failed():
    pid, started = _dead_pid()
    with dg.instance_for_test() as instance:

        def run(tag: str | None, status: dg.DagsterRunStatus) -> str:
            created = instance.create_run_for_job(
                dg.GraphDefinition(name="g").to_job(), tags={WORKER_TAG: tag} if tag else {}
            )
            instance.handle_new_event(
                dg.EventLogEntry(
                    error_info=None,
                    level="INFO",
                    user_message="",
                    run_id=created.run_id,
                    timestamp=datetime.now(UTC).timestamp(),
                    dagster_event=dg.DagsterEvent(
                        event_type_value=dg.DagsterEventType.RUN_START.value, job_name="g", message="started"
                    ),
                )
            )
            if status == dg.DagsterRunStatus.SUCCESS:
                instance.report_run_failed(instance.get_run_by_id(created.run_id))  # any ended status
            return created.run_id

        dead = run(Worker(host=HOST, pid=pid, started=started).tag(), dg.DagsterRunStatus.STARTED)
        alive = run(this_worker(os.getpid()).tag(), dg.DagsterRunStatus.STARTED)
        remote = run(Worker(host="other-host", pid=pid, started=started).tag(), dg.DagsterRunStatus.STARTED)
        untagged = run(None, dg.DagsterRunStatus.STARTED)
        ended = run(Worker(host=HOST, pid=pid, started=started).tag(), dg.DagsterRunStatus.SUCCESS)

        failed = fail_dead_runs(instance, HOST)

        assert [run_id for run_id, _ in failed] == [dead]
        statuses = {r: instance.get_run_by_id(r).status for r in (dead, alive, remote, untagged, ended)}
        assert statuses[dead] == dg.DagsterRunStatus.FAILURE
        assert {statuses[r] for r in (alive, remote, untagged)} == {dg.DagsterRunStatus.STARTED}
        assert fail_dead_runs(instance, HOST) == []  # once only
