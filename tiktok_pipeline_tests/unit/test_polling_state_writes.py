"""Runs finishing together write the polling state at once (on a DuckLake nothing serialises them): none fails.

benchmarks/backends.py found 1 of 8 concurrent window runs failing with FileNotFoundError when every writer used
the same temporary file name; each write now has a temporary file of its own, renamed over the state.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import polars as pl

from tiktok_pipeline.ingest.polling.plan import CREATOR_STATE_SCHEMA, VIDEO_STATE_SCHEMA
from tiktok_pipeline.ingest.polling.state import (
    FOLD_SCHEMA,
    Fold,
    PollingState,
    read_fold,
    read_polling_state,
    write_polling_state,
)


def state(n: int) -> PollingState:
    """A state of ``n`` videos with a fold (so all four files are written)."""
    ids = {"video_id": [f"v{i}" for i in range(n)]}

    def frame(schema: dict) -> pl.DataFrame:
        return (
            pl.DataFrame(ids)
            .with_columns([pl.lit(None, dtype).alias(name) for name, dtype in schema.items() if name != "video_id"])
            .cast(pl.Schema(schema))
        )

    moment = datetime(2026, 11, 20, 10)
    fold = Fold(frame(FOLD_SCHEMA), newest=moment, raw_through=moment, velocity_through=moment)
    return PollingState(frame(VIDEO_STATE_SCHEMA), pl.DataFrame(schema=CREATOR_STATE_SCHEMA), fold)


def test_writers_finishing_together_never_fail_and_leave_a_whole_state(tmp_path: Path):
    states = [state(n) for n in (500, 1000, 1500, 2000)]

    def write(i: int) -> None:
        write_polling_state(states[i % len(states)], tmp_path)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(200)))  # raises the first writer's error, if any
    assert read_polling_state(tmp_path).videos.height in {500, 1000, 1500, 2000}
    assert read_fold(tmp_path) is not None
    assert not list(tmp_path.glob("*.partial")), "no temporary file is left behind"
