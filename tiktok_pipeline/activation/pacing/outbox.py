"""Budget changes sent exactly once: the ``budget_changes`` outbox, like the conversion outbox.

1. **Queue** (one transaction): each ``raise``/``lower`` recommendation not in the outbox yet becomes a
   ``queued`` row keyed by its recommendation id. A re-run or a backfill of the window produces the same ids, so
   nothing is queued twice, whatever the row's state.
2. **Claim** (one transaction, *before* the request): ``sent``, ``attempts`` + 1.
3. **Send** ``adgroup/budget/update`` once, never resent blindly by the client (no answer = ``ambiguous``).
4. **Record** (one transaction, right after the answer): ``answered`` (with TikTok's request_id), ``failed``
   (TikTok refused it: code and message kept), or back to ``queued`` (TikTok answered an error after retries
   ran out, so it processed nothing).

A row left ``sent`` (the process died after sending, or the answer was lost) is never resent without looking:
the next relay reads the budget back with ``adgroup/get``. Already at ``budget_after``: the change was applied,
the row becomes ``answered`` (``response_message`` says it was confirmed by read-back). Still at
``budget_before``: it was not, and it is sent again. Anything else: someone changed the budget meanwhile; the
row ``failed``, nothing is overwritten.

**Revert** (:func:`revert`, ``tiktok-pipeline pacing revert <change_id>``): a change ``answered`` and not yet
reverted gets one revert row ``revert-<change_id>`` (before and after swapped), relayed the same way; once
answered, the original's ``reverted_by`` names it. Reverting twice finds the revert row and sends nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from tiktok_pipeline.sources.business_api.adgroups import read_budgets, update_budget
from tiktok_pipeline.sources.business_api.client import BusinessApiClient, BusinessApiError
from tiktok_pipeline.warehouse.io import create_or_extend, read_frame, table_exists, write_transaction
from tiktok_pipeline.warehouse.tables import BUDGET_CHANGES
from tiktok_pipeline.windows import utc_naive

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]
"""Opens a warehouse connection: the relay holds one only per transaction, never during a request."""
READ_BACK = "confirmed by read-back (adgroup/get)"
TOLERANCE = 0.005


def _execute(connection: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> None:
    def body(connection: duckdb.DuckDBPyConnection) -> None:
        create_or_extend(connection, BUDGET_CHANGES)
        connection.execute(sql, params).fetchall()

    write_transaction(connection, body)


def enqueue(connection: duckdb.DuckDBPyConnection, recommendations: pl.DataFrame, now: datetime, run_id: str) -> int:
    """Queue the recommendations that change a budget and are not in the outbox yet; returns how many were new."""
    changes = recommendations.filter(pl.col("action").is_in(["raise", "lower"]))
    if changes.is_empty():
        return 0
    rows = BUDGET_CHANGES.conform(
        changes.select(
            pl.col("recommendation_id").alias("change_id"),
            "recommendation_id",
            "adgroup_id",
            "budget_before",
            "budget_after",
            pl.lit("queued").alias("state"),
            pl.lit(0, pl.Int64).alias("attempts"),
            pl.lit(utc_naive(now)).alias("queued_at"),
            pl.lit(run_id).alias("run_id"),
        )
    )
    return _insert_new(connection, rows)


def _insert_new(connection: duckdb.DuckDBPyConnection, rows: pl.DataFrame) -> int:
    arrow = rows.to_arrow()

    def body(connection: duckdb.DuckDBPyConnection) -> int:
        create_or_extend(connection, BUDGET_CHANGES)
        connection.register("_changes", arrow)
        try:
            result = connection.execute(
                f"""INSERT INTO {BUDGET_CHANGES.name} BY NAME SELECT * FROM _changes u
                    WHERE NOT EXISTS (SELECT 1 FROM {BUDGET_CHANGES.name} c WHERE c.change_id = u.change_id)"""
            ).fetchall()
        finally:
            connection.unregister("_changes")
        return int(result[0][0]) if result else 0

    return write_transaction(connection, body)


def pending(connection: duckdb.DuckDBPyConnection, change_ids: list[str] | None = None) -> pl.DataFrame:
    """Rows still to settle (``queued`` or ``sent``), oldest first; only ``change_ids`` when given."""
    frame = read_frame(
        connection,
        f"""SELECT change_id, adgroup_id, budget_before, budget_after, state FROM {BUDGET_CHANGES.name}
            WHERE state IN ('queued', 'sent') AND (? OR list_contains(?, change_id)) ORDER BY queued_at, change_id""",
        [change_ids is None, change_ids or []],
    )
    return frame


def _apply(connect: Connect, change_id: str, run_id: str, **values: Any) -> None:
    """Set ``values`` on one row (its own connection and transaction)."""
    with connect() as connection:
        _update(connection, change_id, run_id, **values)


def _update(connection: duckdb.DuckDBPyConnection, change_id: str, run_id: str, **values: Any) -> None:
    assignments = ", ".join(f"{name} = ?" for name in values)
    _execute(
        connection,
        f"UPDATE {BUDGET_CHANGES.name} SET {assignments}, run_id = ? WHERE change_id = ?",
        [*values.values(), run_id, change_id],
    )


def relay(
    connect: Connect,
    client: BusinessApiClient,
    advertiser_id: str,
    *,
    now: datetime,
    run_id: str,
    change_ids: list[str] | None = None,
) -> Counter[str]:
    """Settle every queued or sent change (only ``change_ids`` when given); returns counts by outcome."""
    outcomes: Counter[str] = Counter()
    with connect() as connection:
        rows = pending(connection, change_ids)
    if rows.is_empty():
        return outcomes
    unsure = rows.filter(pl.col("state") == "sent")["adgroup_id"].to_list()
    current = read_budgets(client, advertiser_id, unsure) if unsure else {}
    moment = utc_naive(now)
    for row in rows.iter_rows(named=True):
        change_id = row["change_id"]
        if row["state"] == "sent":
            found = current.get(row["adgroup_id"])
            budget = None if found is None else found.budget
            if budget is not None and abs(budget - row["budget_after"]) < TOLERANCE:
                _apply(connect, change_id, run_id, state="answered", applied_at=moment, response_message=READ_BACK)
                outcomes["confirmed_by_read_back"] += 1
                continue
            if budget is None or abs(budget - row["budget_before"]) >= TOLERANCE:
                message = f"budget is {budget} now, neither before nor after: changed outside pacing, not overwritten"
                _apply(connect, change_id, run_id, state="failed", response_message=message)
                outcomes["failed"] += 1
                continue
        with connect() as connection:  # claimed before the request leaves
            _execute(
                connection,
                f"UPDATE {BUDGET_CHANGES.name} SET state = 'sent', attempts = attempts + 1, run_id = ? WHERE change_id = ?",
                [run_id, change_id],
            )
        outcomes[_send(connect, client, advertiser_id, row, moment, run_id)] += 1
    return outcomes


def _send(
    connect: Connect,
    client: BusinessApiClient,
    advertiser_id: str,
    row: dict[str, Any],
    moment: datetime,
    run_id: str,
) -> str:
    change_id = row["change_id"]
    try:
        call = update_budget(client, advertiser_id, row["adgroup_id"], row["budget_after"])
    except BusinessApiError as error:
        if error.ambiguous:
            return "ambiguous"  # stays 'sent': the next relay reads the budget back before any resend
        if error.retryable:  # TikTok answered an error each time: nothing was applied
            _apply(connect, change_id, run_id, state="queued", response_code=error.code)
            return "requeued"
        _apply(
            connect,
            change_id,
            run_id,
            state="failed",
            response_code=error.code,
            response_message=(error.call.payload or {}).get("message")
            if isinstance(error.call.payload, dict)
            else None,
            request_id=error.request_id,
        )
        return "failed"
    _apply(
        connect,
        change_id,
        run_id,
        state="answered",
        response_code=call.code,
        request_id=call.request_id,
        applied_at=moment,
    )
    if change_id.startswith("revert-"):
        with connect() as connection:
            _execute(
                connection,
                f"UPDATE {BUDGET_CHANGES.name} SET reverted_by = ? WHERE change_id = ?",
                [change_id, change_id.removeprefix("revert-")],
            )
    return "answered"


def revert(
    connect: Connect,
    client: BusinessApiClient,
    advertiser_id: str,
    change_id: str,
    *,
    now: datetime,
    run_id: str = "cli",
) -> tuple[str, Counter[str]]:
    """Undo an answered change exactly once; returns the revert's change id and what relaying it did.

    ValueError when the change does not exist, was not applied, or is itself a revert."""
    with connect() as connection:
        if not table_exists(connection, BUDGET_CHANGES.name):  # pacing never queued a change here
            raise ValueError(f"budget_changes has no change {change_id!r} (no budget change was ever queued)")
        found = read_frame(connection, f"SELECT * FROM {BUDGET_CHANGES.name} WHERE change_id = ?", [change_id])
    if found.is_empty():
        raise ValueError(f"budget_changes has no change {change_id!r}")
    original = found.row(0, named=True)
    if change_id.startswith("revert-"):
        raise ValueError(f"{change_id} is a revert; revert the change it undid instead of reverting a revert")
    if original["state"] != "answered":
        raise ValueError(f"change {change_id} is {original['state']}, not applied: nothing to revert")
    revert_id = f"revert-{change_id}"
    row = BUDGET_CHANGES.conform(
        pl.DataFrame(
            [
                {
                    "change_id": revert_id,
                    "recommendation_id": original["recommendation_id"],
                    "adgroup_id": original["adgroup_id"],
                    "budget_before": original["budget_after"],
                    "budget_after": original["budget_before"],
                    "state": "queued",
                    "attempts": 0,
                    "queued_at": utc_naive(now),
                    "run_id": run_id,
                }
            ],
            infer_schema_length=None,
        )
    )
    with connect() as connection:
        _insert_new(connection, row)
    return revert_id, relay(connect, client, advertiser_id, now=now, run_id=run_id, change_ids=[revert_id])
