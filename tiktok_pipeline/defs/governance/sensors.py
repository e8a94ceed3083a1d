"""``dead_run_sensor``: runs whose process died are marked failed instead of staying STARTED for ever."""

import socket

import dagster as dg

from tiktok_pipeline.governance.workers import fail_dead_runs


@dg.sensor(
    name="dead_run_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Every 30 s, fails the STARTED runs whose process died without reporting its end (SIGKILL, OOM, a reboot): "
        "each run records its orchestrating process (host, pid, start time) in the tag tiktok/worker when its first "
        "step starts; a run of this host whose process is gone is marked failed with the reason, which frees its "
        "place in the run queue, alerts it as a failed run and lets the polling sensor retry its window. Runs of "
        "other hosts are left to their launcher's own health checks."
    ),
)
def dead_run_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Fail the runs of this host whose process is gone."""
    failed = fail_dead_runs(context.instance, socket.gethostname())
    for run_id, why in failed:
        context.log.warning(f"run {run_id} marked failed: {why}")
    if not failed:
        return dg.SkipReason("no run of this host lost its process")
    return dg.SkipReason(f"marked {len(failed)} run(s) failed whose process died: " + ", ".join(r for r, _ in failed))
