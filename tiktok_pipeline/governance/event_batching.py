"""Dagster's event batching, switched on in every process that runs the pipeline's steps or loads its instance.

A step that covers many windows (a backfill run) records one materialisation per window and asset, and the process
creating the run one planned event per window and asset. With ``DAGSTER_EVENT_BATCH_SIZE`` set, Dagster 1.13 hands
the materialisations of one output, and a new run's planned events, to the event log storage as one batch
(``store_event_batch``), which both instances' storages store in one transaction
(:mod:`tiktok_pipeline.governance.event_log_storage`). Check evaluations are never batched by Dagster (the steps
store theirs several to a transaction themselves: ``event_log_storage.stored_together``). The variable
is read where the events are written, so it must be set there: every process that executes steps imports
``tiktok_pipeline.definitions`` (code server, run worker, step processes, ``dagster asset materialize``,
``tiktok-pipeline dev``), which calls :func:`enable_event_batching`, and both storage classes call it when an instance
is loaded (the daemon and the webserver, which create runs, import no definitions).
"""

from __future__ import annotations

import os

EVENT_BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
EVENT_BATCH_SIZE = 1000
"""Events per batch: a day of 5-minute windows (288) is one batch per asset."""


def enable_event_batching() -> int:
    """Set ``DAGSTER_EVENT_BATCH_SIZE`` unless the environment already sets it (0 turns batching off); its value."""
    os.environ.setdefault(EVENT_BATCH_SIZE_ENV, str(EVENT_BATCH_SIZE))
    return int(os.environ[EVENT_BATCH_SIZE_ENV])
