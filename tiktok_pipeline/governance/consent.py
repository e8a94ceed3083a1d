"""The ``creator_consent`` table from the consent records (plain functions: Polars in, Arrow into the warehouse)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from tiktok_pipeline.sources.display_api.consent import ConsentRecord
from tiktok_pipeline.warehouse.io import create_or_extend, write_transaction
from tiktok_pipeline.warehouse.tables import CREATOR_CONSENT
from tiktok_pipeline.windows import utc_naive


def consent_frame(records: list[ConsentRecord], now: datetime) -> pl.DataFrame:
    """One row per record, in ``creator_consent``'s columns (UTC timestamps without zone, as the warehouse keeps)."""
    rows = [
        {
            **record.model_dump(),
            **{
                name: utc_naive(value) if value is not None else None
                for name in ("granted_at", "refresh_expires_at", "revoked_at", "purged_at")
                for value in (getattr(record, name),)
            },
            "refreshed_at": utc_naive(now),
        }
        for record in records
    ]
    frame = pl.DataFrame(rows, schema=CREATOR_CONSENT.polars_schema) if rows else pl.DataFrame()
    return CREATOR_CONSENT.conform(frame)


def replace_consent(connection: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> None:
    """Replace ``creator_consent``'s rows with ``frame`` in one transaction (from Arrow)."""
    arrow = CREATOR_CONSENT.conform(frame).to_arrow()

    def write(connection: duckdb.DuckDBPyConnection) -> None:
        create_or_extend(connection, CREATOR_CONSENT)
        connection.execute(f'DELETE FROM "{CREATOR_CONSENT.name}"').fetchall()
        connection.register("_consent", arrow)
        connection.execute(f'INSERT INTO "{CREATOR_CONSENT.name}" BY NAME SELECT * FROM _consent').fetchall()
        connection.unregister("_consent")

    write_transaction(connection, write)


def status_counts(frame: pl.DataFrame) -> dict[str, int]:
    """Creators per status (every status named, zero included)."""
    counts = dict(frame.group_by("status").len().iter_rows()) if frame.height else {}
    return {status: int(counts.get(status, 0)) for status in ("active", "revoked", "reauthorize-needed")}
