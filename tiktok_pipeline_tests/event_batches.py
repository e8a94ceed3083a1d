"""A batch of every kind of event a range run stores, to store through an event log class and compare with Dagster's
own class storing the same events one at a time (``unit/test_event_log_storage.py``, ``postgres/test_event_log_pool.py``)."""

import dagster as dg

WINDOWS_3 = dg.StaticPartitionsDefinition(["w1", "w2", "w3"])


@dg.multi_asset(
    specs=[dg.AssetSpec("left"), dg.AssetSpec("right", deps=["left"])],
    check_specs=[dg.AssetCheckSpec("sane", asset="left"), dg.AssetCheckSpec("sane", asset="right")],
    partitions_def=WINDOWS_3,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def pair(context: dg.AssetExecutionContext):
    """Two assets over a range: per-partition metadata, an observation and a check evaluation per partition."""
    outputs = {spec.asset_key: name for name, spec in context.assets_def.check_specs_by_output_name.items()}
    for key in (dg.AssetKey("left"), dg.AssetKey("right")):
        for partition in context.partition_keys:
            context.add_asset_metadata({"rows": len(partition)}, asset_key=key, partition_key=partition)
        yield dg.MaterializeResult(asset_key=key)
        yield dg.Output(None, output_name=outputs[key])  # what the pipeline's window_check_events does
        for partition in context.partition_keys:
            yield dg.AssetObservation(asset_key=key, partition=partition, tags={"dagster/data_version": partition})
            yield dg.AssetCheckEvaluation(
                asset_key=key, check_name="sane", passed=partition != "w2", partition=partition
            )


HOURS = dg.HourlyPartitionsDefinition(start_date="2026-11-20-00:00")
GROUPED_CHECKS = ("sane", "fresh")


@dg.multi_asset(
    specs=[dg.AssetSpec("grouped")],
    check_specs=[dg.AssetCheckSpec(name, asset="grouped") for name in GROUPED_CHECKS],
    partitions_def=HOURS,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def grouped(context: dg.AssetExecutionContext):
    """A range's materialisation, then each check's evaluation for every window (the third fails), as the
    pipeline's steps yield them (``window_check_events``). Time windows: Dagster plans a range run's check executions
    window by window (for :func:`pair`'s static partitions it plans one, of no partition)."""
    from tiktok_pipeline.defs.metadata import window_check_events
    from tiktok_pipeline.quality.checks import CheckOutcome

    keys = context.partition_keys
    yield dg.MaterializeResult(asset_key="grouped")
    outcomes = {w: {name: CheckOutcome(passed=w != keys[2]) for name in GROUPED_CHECKS} for w in keys}
    severities = dict.fromkeys(GROUPED_CHECKS, dg.AssetCheckSeverity.WARN)
    yield from window_check_events(context, "grouped", outcomes, severities)


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags of a run over the partitions ``first``..``last``."""
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def a_runs_events(asset=pair, tags: dict[str, str] | None = None) -> list:
    """Every event a real range run of ``asset`` (default :func:`pair` over its three windows) stored (planned
    events, run and step events, materialisations, observations, check evaluations), in order, as they would reach
    a storage."""
    with dg.instance_for_test() as scratch:
        result = dg.materialize([asset], instance=scratch, tags=tags or range_tags("w1", "w3"))
        assert result.success
        return stored_events(scratch, result.run_id)


def stored_events(instance: dg.DagsterInstance, run_id: str) -> list:
    """Every event ``instance`` stored for the run, in order."""
    return [r.event_log_entry for r in instance.get_records_for_run(run_id, limit=10_000).records]


PLANNING_SHAPES = ["planned-per-window", "planned-without-window"]
"""How Dagster plans a range run's check executions: window by window (time partitions), or once without a window
(static partitions)."""


def a_runs_events_planned(shape: str) -> list:
    """A range run's events whose check executions Dagster planned as ``shape`` says (:data:`PLANNING_SHAPES`):
    :func:`grouped` over five hours, or :func:`pair` over its three windows."""
    if shape == "planned-per-window":
        keys = HOURS.get_partition_keys()[:5]
        return a_runs_events(grouped, range_tags(keys[0], keys[-1]))
    return a_runs_events()


def evaluations(events: list) -> list:
    """The check evaluations of ``events``, in order."""
    return [e for e in events if e.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]


EVERY_KIND = {
    dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_OBSERVATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.STEP_START,
}
"""Kinds :func:`a_runs_events` holds, among others."""


def only_asset_events(events: list) -> list:
    """The materialisations, observations and planned materialisations of ``events``, in order: one run of several
    kinds and assets, stored in bulk."""
    bulk = {
        dg.DagsterEventType.ASSET_MATERIALIZATION,
        dg.DagsterEventType.ASSET_OBSERVATION,
        dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    }
    return [e for e in events if e.dagster_event and e.dagster_event_type in bulk]


WALL_CLOCK_COLUMNS = {"create_timestamp", "update_timestamp", "updated_timestamp", "migration_completed"}
"""Columns the database fills with its own clock when a row is written (not from the event)."""


def a_batch_with_failures() -> list:
    """A batch holding failures to materialise (an asset's windows that failed), among a run's planned events: the
    planned events of a range run of :func:`pair`, then a failure for each of its windows of ``left`` (built here:
    Dagster 1.13's open-source executor records none for a failed step)."""
    from dagster._core.definitions.events import (
        AssetMaterializationFailure,
        AssetMaterializationFailureReason,
        AssetMaterializationFailureType,
    )
    from dagster._core.events import DagsterEvent
    from dagster._core.events.log import EventLogEntry

    planned = [e for e in a_runs_events() if e.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED]
    failures = [
        EventLogEntry(
            error_info=None,
            level=40,
            user_message="",
            run_id=planned[0].run_id,
            timestamp=planned[-1].timestamp + 1 + i,
            step_key="pair",
            job_name=planned[0].job_name,
            dagster_event=DagsterEvent.build_asset_failed_to_materialize_event(
                planned[0].job_name or "job",
                "pair",
                AssetMaterializationFailure(
                    "left",
                    AssetMaterializationFailureType.FAILED,
                    AssetMaterializationFailureReason.FAILED_TO_MATERIALIZE,
                    partition=window,
                ),
            ),
        )
        for i, window in enumerate(WINDOWS_3.get_partition_keys())
    ]
    return [*planned, *failures]
