"""Dagster's event batching, switched on in every process that runs the pipeline's steps.

A step that covers many windows (a backfill run) records one materialisation per window and asset. With
``DAGSTER_EVENT_BATCH_SIZE`` set, Dagster 1.13 hands the materialisations of one output to the event log
storage as one batch (``store_event_batch``): PostgreSQL (deploy/) inserts them in one statement and updates
the asset's index once; SQLite (the local instance) stores them one by one as before. Only materialisations
and observations are batched that way (check evaluations and planned events are stored one by one), and only
where the step runs, so the variable must be set in the processes that execute steps: every one of them
imports ``tiktok_pipeline.definitions`` (code server, run worker, step processes, ``dagster asset materialize``,
``tiktok-pipeline dev``), which calls :func:`enable_event_batching`.
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
