"""Schema versions of the warehouse's tables: the migration steps a :class:`~.spec.TableSpec` declares, and the
``schema_versions`` table that records which version each table of a warehouse is at.

A step is declarative where it can be (:class:`AddColumn`, :class:`RenameColumn`, :class:`DropColumn`,
:class:`CastColumn`); :class:`Sql` is the escape hatch. Every step runs on both backends and is idempotent (it
looks at the table's columns first), so a table whose columns a writer of an earlier release already added is
still migrated correctly. :mod:`tiktok_pipeline.warehouse.migrate` applies them.

DuckLake's ALTER support differs from DuckDB's: it changes a column's type only when the new type widens the old
one (INTEGER → BIGINT, FLOAT → DOUBLE). :class:`CastColumn` therefore never uses ``ALTER ... SET DATA TYPE``: it
adds a column of the new type, fills it from the old one, drops the old one and renames the new one, which both
backends do (the column moves to the end of the table, which ``INSERT ... BY NAME`` does not mind).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tiktok_pipeline.governance.owners import DATA_PLATFORM
from tiktok_pipeline.warehouse.tables.spec import Column, Retention, TableSpec


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Alter:
    """How steps change a table inside the migrating transaction: ``execute`` runs a statement; ``lake`` says the
    warehouse is a DuckLake."""

    execute: Callable[[str], object]
    lake: bool

    def fill(self, table: str, column: str, kind: str, expression: str, *, only_nulls: bool) -> None:
        """Set ``column`` to ``expression`` (cast to ``kind``) in every row (``only_nulls``: where it is null).

        DuckLake: an UPDATE. The DuckDB file refuses to commit an ADD or DROP COLUMN that follows an UPDATE of the
        same table in one transaction, so there the table is rewritten instead (``CREATE OR REPLACE ... AS
        SELECT``), after which later steps may alter it; DuckLake cannot replace a table inside a transaction."""
        value = f"CAST(({expression}) AS {kind})"
        if self.lake:
            where = f" WHERE {_ident(column)} IS NULL" if only_nulls else ""
            self.execute(f"UPDATE {_ident(table)} SET {_ident(column)} = {value}{where}")
            return
        if only_nulls:
            value = f"COALESCE({_ident(column)}, {value})"
        name = _ident(table)
        self.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * REPLACE ({value} AS {_ident(column)}) FROM {name}")


@dataclass(frozen=True)
class AddColumn:
    """Add the declared column ``column`` (its type from the table's declaration, or ``type`` when a later version
    drops it again). What the rows already there hold: ``default``, a constant (an SQL literal of the column's type,
    e.g. ``1`` or ``'x'``: DuckLake refuses anything else; cheap, DuckLake keeps it in its catalog), or
    ``backfill``, an SQL expression over the row's other columns (each row rewritten), or null when neither is
    given. New rows get what their writer gives (no default stays on the column)."""

    column: str
    backfill: str | None = None
    type: str | None = None
    default: str | None = None

    def __post_init__(self) -> None:
        if self.default is not None and self.backfill is not None:
            raise ValueError(f"AddColumn({self.column!r}): a default or a backfill, not both")

    def describe(self) -> str:
        value = self.default if self.default is not None else self.backfill
        return f"add column {self.column}" + (f" = {value}" if value is not None else "")

    def apply(self, table: str, columns: dict[str, str], declared: dict[str, str], alter: Alter) -> None:
        kind = self.type or declared[self.column]
        if self.column not in columns:
            default = "" if self.default is None else f" DEFAULT {self.default}"  # DuckLake: a literal only
            alter.execute(f"ALTER TABLE {_ident(table)} ADD COLUMN {_ident(self.column)} {kind}{default}")
            if self.default is not None:
                alter.execute(f"ALTER TABLE {_ident(table)} ALTER COLUMN {_ident(self.column)} DROP DEFAULT")
            columns[self.column] = kind
        if self.backfill is not None:
            alter.fill(table, self.column, columns[self.column], self.backfill, only_nulls=True)


@dataclass(frozen=True)
class RenameColumn:
    """Rename ``old`` to ``new`` (kept rows keep their values)."""

    old: str
    new: str

    def describe(self) -> str:
        return f"rename column {self.old} to {self.new}"

    def apply(self, table: str, columns: dict[str, str], declared: dict[str, str], alter: Alter) -> None:
        if self.old in columns and self.new not in columns:
            alter.execute(f"ALTER TABLE {_ident(table)} RENAME COLUMN {_ident(self.old)} TO {_ident(self.new)}")
            columns[self.new] = columns.pop(self.old)


@dataclass(frozen=True)
class DropColumn:
    """Drop ``column`` and its values."""

    column: str

    def describe(self) -> str:
        return f"drop column {self.column}"

    def apply(self, table: str, columns: dict[str, str], declared: dict[str, str], alter: Alter) -> None:
        if self.column in columns:
            alter.execute(f"ALTER TABLE {_ident(table)} DROP COLUMN {_ident(self.column)}")
            del columns[self.column]


@dataclass(frozen=True)
class CastColumn:
    """Change ``column``'s type to its declared one (or ``type``); ``using``: the SQL expression computing the new
    value from the row (default ``TRY_CAST(column AS type)``: a value that does not convert becomes null)."""

    column: str
    using: str | None = None
    type: str | None = None

    def describe(self) -> str:
        return f"change column {self.column}'s type" + (f" using {self.using}" if self.using else "")

    def apply(self, table: str, columns: dict[str, str], declared: dict[str, str], alter: Alter) -> None:
        kind = self.type or declared[self.column]
        if self.column not in columns or columns[self.column] == kind:
            return
        temporary = f"{self.column}__migrating"
        using = self.using or f"TRY_CAST({_ident(self.column)} AS {kind})"
        alter.execute(f"ALTER TABLE {_ident(table)} ADD COLUMN {_ident(temporary)} {kind}")
        alter.fill(table, temporary, kind, using, only_nulls=False)
        alter.execute(f"ALTER TABLE {_ident(table)} DROP COLUMN {_ident(self.column)}")
        alter.execute(f"ALTER TABLE {_ident(table)} RENAME COLUMN {_ident(temporary)} TO {_ident(self.column)}")
        columns[self.column] = kind


@dataclass(frozen=True)
class Sql:
    """The escape hatch: ``statement`` as is (it must be safe to run again on a table it already changed);
    ``why`` is what the migration reports. On the DuckDB file, an UPDATE here must not be followed (in the same
    migration) by an ADD or DROP COLUMN of that table: DuckDB refuses the commit (see :meth:`Alter.fill`)."""

    statement: str
    why: str

    def describe(self) -> str:
        return self.why

    def apply(self, table: str, columns: dict[str, str], declared: dict[str, str], alter: Alter) -> None:
        alter.execute(self.statement)


Step = AddColumn | RenameColumn | DropColumn | CastColumn | Sql


@dataclass(frozen=True)
class Migration:
    """What leads a table from ``version - 1`` to ``version``: its ``steps``, in order, and ``why`` (for the log)."""

    version: int
    steps: tuple[Step, ...]
    why: str = ""


SCHEMA_VERSIONS = TableSpec(
    "schema_versions",
    (
        Column("table_name", "VARCHAR", "The warehouse table."),
        Column("version", "INTEGER", "The schema version the table reached (its declaration's version)."),
        Column("from_version", "INTEGER", "The version it was migrated from; null when the table was created."),
        Column("migrated_at", "TIMESTAMP", "When (UTC) the transaction that created or migrated it began."),
        Column("release", "VARCHAR", "The tiktok_pipeline release (package version) that created or migrated it."),
        Column("changes", "VARCHAR", "What was done, step by step (e.g. add column x = 1; rename column a to b)."),
    ),
    description=(
        "One row per table and schema version it reached in this warehouse (created, or migrated forward): its"
        " current version is the highest. A table without a row predates schema versions: version 1."
    ),
    owner=DATA_PLATFORM,
    sources=(),
    retention=Retention.KEPT,
)
"""The warehouse's record of its tables' versions, written by :mod:`tiktok_pipeline.warehouse.migrate` only."""


def source_added(version: int) -> Migration:
    """The migration that gave a window table (or a rollup of one) its ``source`` column: rows before it are the
    Display API's, the one source there was."""
    return Migration(
        version,
        (AddColumn("source", default="'display_api'"),),
        why="record the source of each row's counts (analytics provider rows beside the Display API's; rows before:"
        " display_api)",
    )
