"""Which process runs a run, whether it is still alive, and why a run failed (:func:`failure_reason`, read by the
alerts and by the polling sensor's gap marks): a run whose process died is failed, not left STARTED.

A run killed with SIGKILL (or OOM-killed, or lost in a reboot) never reports its end, and the default run launcher
cannot probe a run's process, so Dagster shows it STARTED for ever: it keeps a place among the queue's
``max_concurrent_runs`` and its window is never retried. Each run therefore records its orchestrating process in
the run tag ``tiktok/worker`` (``host:pid:start``, written when its first step opens the warehouse resource), and
``dead_run_sensor`` fails the STARTED runs whose recorded process no longer exists on the sensor's own host. Runs of
other hosts are left alone (their pids mean nothing here; container launchers probe those themselves).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

WORKER_TAG = "tiktok/worker"
MAX_REASON_CHARS = 1000
"""How much of a failure's text a reason keeps (alerts, gap marks)."""
SCAN_LIMIT = 200
"""STARTED runs looked at per tick (newest first): a tick stays cheap however many runs there are."""


@dataclass(frozen=True)
class Worker:
    """The process that orchestrates a run: its host, pid and start time (clock ticks after boot; "" if unknown)."""

    host: str
    pid: int
    started: str = ""

    def tag(self) -> str:
        return f"{self.host}:{self.pid}:{self.started}"

    @classmethod
    def parse(cls, value: str | None) -> Worker | None:
        """The worker a tag names, or None for a missing or malformed tag."""
        parts = (value or "").rsplit(":", 2)
        if len(parts) != 3 or not parts[0]:
            return None
        try:
            return cls(host=parts[0], pid=int(parts[1]), started=parts[2])
        except ValueError:
            return None


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), or None without such a process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rpartition(")")[2].split()


def process_start(pid: int) -> str:
    """When the process started (``/proc/<pid>/stat`` field 22), "" where /proc is not available."""
    fields = _stat(pid)
    return fields[19] if fields and len(fields) > 19 else ""


def orchestrator(engine_pids: Iterable[int], pid: int | None = None, parent: int | None = None) -> int | None:
    """Which of the pids a run's engine events name is this process or its parent (the run's orchestrator).

    A step runs in the orchestrating process (in-process executor) or in a child of it (multiprocess executor);
    any other pid belongs to another host or another run attempt and is not recorded.
    """
    mine = {os.getpid() if pid is None else pid, os.getppid() if parent is None else parent}
    return next((candidate for candidate in engine_pids if candidate in mine), None)


def this_worker(orchestrator_pid: int) -> Worker:
    return Worker(host=socket.gethostname(), pid=orchestrator_pid, started=process_start(orchestrator_pid))


def why_dead(worker: Worker, host: str) -> str | None:
    """Why the run of ``worker`` can no longer be running, or None (alive, or on another host: cannot tell)."""
    if worker.host != host:
        return None
    if not Path("/proc").is_dir():  # no /proc: only existence can be checked
        try:
            os.kill(worker.pid, 0)
        except ProcessLookupError:
            return f"its process {worker.pid} on {host} no longer exists"
        except PermissionError:
            return None
        return None
    fields = _stat(worker.pid)
    if fields is None:
        return f"its process {worker.pid} on {host} no longer exists"
    if fields[0] in {"Z", "X"}:
        return f"its process {worker.pid} on {host} has exited"
    if worker.started and len(fields) > 19 and fields[19] != worker.started:
        return f"its process {worker.pid} on {host} has exited (the pid now belongs to another process)"
    return None


def record_worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Tag ``run`` with the process orchestrating it, once per run (from its engine events' pids)."""
    if WORKER_TAG in run.tags:
        return
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=50).records
    pids = []
    for record in records:
        event = record.event_log_entry.dagster_event
        metadata = (getattr(event.event_specific_data, "metadata", None) if event else None) or {}
        if "pid" in metadata:
            try:
                pids.append(int(str(metadata["pid"].value)))
            except ValueError:
                continue
    pid = orchestrator(pids)
    if pid is not None:
        instance.add_run_tags(run.run_id, {WORKER_TAG: this_worker(pid).tag()})


def fail_dead_runs(instance: dg.DagsterInstance, host: str) -> list[tuple[str, str]]:
    """Mark failed every STARTED run whose recorded process on ``host`` is gone; returns (run id, why) of each."""
    records = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]), limit=SCAN_LIMIT)
    failed = []
    for record in records:
        run = record.dagster_run
        worker = Worker.parse(run.tags.get(WORKER_TAG))
        why = why_dead(worker, host) if worker else None
        if why is None:
            continue
        fresh = instance.get_run_by_id(run.run_id)
        if fresh is None or fresh.status != dg.DagsterRunStatus.STARTED:  # it ended meanwhile
            continue
        instance.report_run_failed(fresh, f"The run's process died without reporting its end: {why}.")
        failed.append((run.run_id, why))
    return failed


def failure_reason(event: dg.DagsterEvent) -> tuple[str | None, str]:
    """(failed step, reason) of a RUN_FAILURE event: the first step failure's description or error, else the run's."""
    data = event.event_specific_data
    step_event = getattr(data, "first_step_failure_event", None)
    if step_event is not None:
        step_data = step_event.event_specific_data
        user = getattr(step_data, "user_failure_data", None)
        error = getattr(step_data, "error", None)
        text = (user.description if user and user.description else None) or (error.message if error else "")
        return step_event.step_key, text.strip()[:MAX_REASON_CHARS]
    error = getattr(data, "error", None)
    reason = getattr(data, "failure_reason", None)
    text = error.message if error else (event.message or "")
    if reason is not None:
        text = f"{reason.value}: {text}" if text else reason.value
    return None, text.strip()[:MAX_REASON_CHARS]
