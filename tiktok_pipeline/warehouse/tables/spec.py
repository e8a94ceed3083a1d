"""How a warehouse table is described once (DDL, Polars casts, the UI's column descriptions, the data dictionary's
owner, sources and retention), and the columns tables share."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import dagster as dg
import polars as pl
from polars._typing import PolarsDataType

if TYPE_CHECKING:
    from tiktok_pipeline.warehouse.tables.versions import Migration

_POLARS: dict[str, PolarsDataType] = {
    "TIMESTAMP": pl.Datetime("us"),
    "VARCHAR": pl.String,
    "BIGINT": pl.Int64,
    "INTEGER": pl.Int32,
    "DOUBLE": pl.Float64,
    "VARCHAR[]": pl.List(pl.String),
    "DECIMAL(18,2)": pl.Decimal(18, 2),
}


class Identifies(StrEnum):
    """What of a creator a column holds: ``tiktok-pipeline creators purge`` deletes the rows naming the creator in
    any such column (:attr:`TableSpec.creator_columns`)."""

    HANDLE = "handle"
    OPEN_ID = "open_id"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    identifies: Identifies | None = None
    """Set when the column names a creator (their handle or open_id); a column named ``creator_username`` is a
    handle without saying so. ``test_creator_columns`` fails on a creator-like column declared neither way."""


class Retention(StrEnum):
    """Which retention rule a table falls under; the rules themselves (and their settings) are in
    :mod:`tiktok_pipeline.governance.retention`, which checks every declaration against them."""

    WINDOW_ROWS = "window_rows"
    """Pruned a whole day at a time once rolled up (one of ``PRUNED_TABLES``)."""
    ROLLUP = "rollup"
    """A daily rollup: kept, it holds what retention deletes from its window tables."""
    KEPT = "kept"
    """Never deleted by retention."""
    AGED = "aged"
    """Rows deleted once older than a setting's days (one of ``HELD_TABLES``: call log, quarantine tables)."""
    LATEST = "latest"
    """Only the latest state: rows are replaced at each refresh, retention deletes nothing."""
    VIEW = "view"
    """A view: stores no rows, shows what the tables it reads still hold."""


@dataclass(frozen=True)
class TableSpec:
    """A warehouse table (or view) declared once: its columns, and for the data dictionary what it is, who answers
    for it (``owner``: the owner of the asset that writes it), the ``sources`` its rows come from (names of declared
    sources or local inputs) and the ``retention`` rule it falls under.

    Schema versions (:mod:`tiktok_pipeline.warehouse.migrate`): ``version`` is the table's schema version and
    ``migrations`` the steps leading to it from version 1, one :class:`~.versions.Migration` per later version
    (2, 3, ... in order). A warehouse's tables are migrated forward before a run's first write and by
    ``tiktok-pipeline warehouse migrate``.

    - A NEW table starts at version 1 with no migrations (the default): it is created as declared.
    - A column added to an existing table: add the :class:`Column`, bump ``version`` and append
      ``Migration(<version>, (AddColumn("<column>", default=<constant>),), why=...)`` (or ``backfill=<SQL>``,
      or neither: null in earlier rows).
    - A rename, a drop or a type change: ``RenameColumn``, ``DropColumn``, ``CastColumn`` likewise (the columns
      above always describe the latest version); ``Sql`` only when none of them says it.
    - Never edit a released migration: a warehouse that ran it keeps what it did. Views are not versioned (their
      writers re-create them).
    """

    name: str
    columns: tuple[Column, ...]
    description: str
    owner: str
    sources: tuple[str, ...]
    retention: Retention
    view: bool = False
    version: int = 1
    migrations: tuple[Migration, ...] = ()

    def __post_init__(self) -> None:
        expected = list(range(2, self.version + 1))
        if [m.version for m in self.migrations] != expected:
            raise ValueError(
                f"table {self.name} is at version {self.version}: it needs one migration per version {expected}"
                f" in order, not {[m.version for m in self.migrations]}"
            )

    creator_column: str | None = None
    """The column naming the creator (handle) a row is about, when it is not ``creator_username``: what
    ``tiktok-pipeline creators purge`` deletes by (see :attr:`creator_key`)."""

    @property
    def creator_key(self) -> str | None:
        """The column holding the creator's handle in this table (None: no creator data, or a view):
        ``creator_column``, else ``creator_username``, else the first handle of :attr:`creator_columns`."""
        handles = [name for name, kind in self.creator_columns if kind == Identifies.HANDLE]
        return (
            CREATOR_COLUMN_NAME
            if CREATOR_COLUMN_NAME in handles and not self.creator_column
            else next(iter(handles), None)
        )

    @property
    def creator_columns(self) -> tuple[tuple[str, Identifies], ...]:
        """Every column naming a creator, with what it holds: ``creator_column``, ``creator_username`` and each
        column declared with ``identifies`` (none for a view: it stores nothing)."""
        if self.view:
            return ()
        found: dict[str, Identifies] = {}
        if self.creator_column:
            found[self.creator_column] = Identifies.HANDLE
        for column in self.columns:
            if column.identifies is not None:
                found.setdefault(column.name, column.identifies)
            elif column.name == CREATOR_COLUMN_NAME:
                found.setdefault(column.name, Identifies.HANDLE)
        return tuple(found.items())

    @property
    def ddl(self) -> str:
        cols = ", ".join(f'"{c.name}" {c.type}' for c in self.columns)
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" ({cols})'

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema({c.name: _POLARS[c.type] for c in self.columns})

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def table_schema(self) -> dg.TableSchema:
        return dg.TableSchema(columns=[dg.TableColumn(c.name, c.type, description=c.description) for c in self.columns])

    @property
    def asset_metadata(self) -> dict[str, Any]:
        """Definition metadata of the asset holding this table: its columns with descriptions, and its name."""
        return {"dagster/column_schema": self.table_schema, "dagster/table_name": self.name}

    def conform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with exactly this table's columns, in order and types (missing columns are null)."""
        return frame.select(
            [
                (pl.col(c.name) if c.name in frame.columns else pl.lit(None)).cast(_POLARS[c.type]).alias(c.name)
                for c in self.columns
            ]
        )

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema)


WINDOW_COLUMN = Column("window_start", "TIMESTAMP", "Start (UTC) of the 5-minute window the row belongs to.")
OBSERVED_COLUMN = Column(
    "observed_at",
    "TIMESTAMP",
    "UTC instant the counts are true for: the window's end against the simulator, the response time against TikTok;"
    " for rows of the analytics provider (source analytics_provider), the provider's updated_at (its last crawl),"
    " which may be before the window.",
)
SOURCE_COLUMN = Column(
    "source",
    "VARCHAR",
    "Declared source whose counts the row holds: display_api (TikTok's Display API) or analytics_provider (the"
    " approved analytics provider). A delta is only ever taken between rows of one source.",
)
VIDEO_COLUMN = Column("video_id", "VARCHAR", "TikTok video id (a string of digits).")
CREATOR_COLUMN_NAME = "creator_username"
CREATOR_COLUMN = Column(CREATOR_COLUMN_NAME, "VARCHAR", "Handle of the creator who owns the video.", Identifies.HANDLE)
CREATED_COLUMN = Column("create_time", "TIMESTAMP", "UTC time the video was published.")
COUNT_COLUMNS = (
    Column("view_count", "BIGINT", "Cumulative views at observed_at."),
    Column("like_count", "BIGINT", "Cumulative likes at observed_at."),
    Column("comment_count", "BIGINT", "Cumulative comments at observed_at."),
    Column("share_count", "BIGINT", "Cumulative shares at observed_at."),
)
