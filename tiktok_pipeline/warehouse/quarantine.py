"""One quarantine table per source, each written by one asset; ``quarantined_records`` is their union view.

Ownership: the step that parses a source is the only writer of its ``<source>_quarantine`` table, in the
transaction that writes the source's own rows (:data:`SOURCES`): ``display_api_quarantine`` by the raw
snapshots step, ``ad_report_quarantine`` by ``raw_ad_metrics``, ``conversion_quarantine`` by
``conversion_outbox``. Analysts keep reading ``quarantined_records``, a view (no rows of its own) over every
``*_quarantine`` table, owned by the governance asset of the same name (``defs/governance``), which
(re)creates it after every source write and reports the rows per source.

The view exists from the first write on: when a writer creates its table (first use), it also makes sure
the view covers it (:func:`ensure_quarantine_view`, the same definition the governance asset uses), so
``select * from quarantined_records`` works right after the first window run, without waiting for the
governance asset. A view holds no rows, so this cannot make two writers replace each other's data.

Moving a source: before its first write to its own table, :func:`adopt_legacy_rows` moves that source's
rows (``asset = ...``) out of the old shared ``quarantined_records`` table, in one transaction, so nothing
is lost and nothing is counted twice once the view exists. The governance asset adopts what is left for
every source (:func:`publish_quarantine_view`), so a source that never runs again cannot keep the old
table, and the view, from being replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from tiktok_pipeline.warehouse.io import create_or_extend, table_exists, write_transaction
from tiktok_pipeline.warehouse.tables import (
    AD_REPORT_QUARANTINE,
    ANALYTICS_PROVIDER_QUARANTINE,
    CONVERSION_QUARANTINE,
    DISPLAY_API_QUARANTINE,
    QUARANTINED_RECORDS,
    SHOP_ORDER_QUARANTINE,
    TableSpec,
)

VIEW = QUARANTINED_RECORDS.name
SUFFIX = "_quarantine"


@dataclass(frozen=True)
class QuarantineSource:
    """A source's quarantine table and the ``asset`` value its rows carry (in the old shared table too)."""

    spec: TableSpec
    asset: str
    writer: str
    """The Dagster asset (step) that is the table's only writer."""


SOURCES: tuple[QuarantineSource, ...] = (
    QuarantineSource(DISPLAY_API_QUARANTINE, "raw_video_snapshots", "display_api_quarantine"),
    QuarantineSource(AD_REPORT_QUARANTINE, "raw_ad_metrics", "raw_ad_metrics"),
    QuarantineSource(CONVERSION_QUARANTINE, "conversion_outbox", "conversion_outbox"),
    QuarantineSource(ANALYTICS_PROVIDER_QUARANTINE, "provider_video_snapshots", "analytics_provider_quarantine"),
    QuarantineSource(SHOP_ORDER_QUARANTINE, "raw_shop_orders", "raw_shop_orders"),
)
"""Every source that quarantines records, in pipeline order."""


def _is_base_table(connection: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = connection.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_name = ? AND table_type = 'BASE TABLE'", [name]
    ).fetchall()
    return bool(rows)


def _legacy_writers(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """``asset`` values still holding rows in the old shared table (none when it is a view or absent)."""
    if not _is_base_table(connection, VIEW):
        return []
    return [str(a) for (a,) in connection.execute(f'SELECT DISTINCT asset FROM "{VIEW}" ORDER BY 1').fetchall()]


def adopt_legacy_rows(connection: duckdb.DuckDBPyConnection, spec: TableSpec, asset: str) -> int:
    """Create ``spec``'s table on first use, moving ``asset``'s rows out of the shared legacy table; rows moved.

    Rows are moved (inserted here, deleted there, one transaction), so a second call moves none. Also makes
    sure ``quarantined_records`` covers the table (:func:`ensure_quarantine_view`), in the same transaction.
    Call it before the write transaction (DuckDB does not nest them). A commit that conflicts with another writer's
    (DuckLake: two sources adopting, or a window writer, at once) re-runs the whole move.
    """
    if table_exists(connection, spec.name) and not _is_base_table(connection, VIEW):
        if not _view_covers(connection, quarantine_tables(connection)):
            write_transaction(connection, ensure_quarantine_view)  # checked again inside, re-run on a conflict
        return 0

    def move(connection: duckdb.DuckDBPyConnection) -> int:
        create_or_extend(connection, spec)
        moved = 0
        if _is_base_table(connection, VIEW):  # read again in the transaction: a re-run sees the other's move
            columns = ", ".join(f'"{c}"' for c in spec.column_names)
            moved = connection.execute(
                f'INSERT INTO "{spec.name}" ({columns}) SELECT {columns} FROM "{VIEW}" WHERE asset = ?', [asset]
            ).fetchall()[0][0]
            connection.execute(f'DELETE FROM "{VIEW}" WHERE asset = ?', [asset]).fetchall()
        ensure_quarantine_view(connection)
        return int(moved)

    return write_transaction(connection, move)


def quarantine_tables(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """Every per-source quarantine table in the warehouse, by name."""
    rows = connection.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_name LIKE ? "
        "ORDER BY 1",
        [f"%{SUFFIX}"],
    ).fetchall()
    return [name for (name,) in rows]


def create_quarantine_view(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """(Re)create ``quarantined_records`` as the union of the per-source tables; the tables it covers.

    Refuses while a source still writes the old shared table (it would break that writer); an old
    table whose rows have all been adopted by their sources is dropped first.
    """
    writers = _legacy_writers(connection)
    if writers:
        raise RuntimeError(
            f"{VIEW} is still a table holding rows of {', '.join(writers)}: those assets must write "
            f"their own <source>{SUFFIX} table (see tiktok_pipeline.warehouse.quarantine) before it becomes a view"
        )
    if _is_base_table(connection, VIEW):
        connection.execute(f'DROP TABLE "{VIEW}"')
    tables = quarantine_tables(connection)
    if not tables:
        return []
    union = " UNION ALL BY NAME ".join(f'SELECT * FROM "{t}"' for t in tables)
    connection.execute(f'CREATE OR REPLACE VIEW "{VIEW}" AS {union}')
    return tables


def _view_covers(connection: duckdb.DuckDBPyConnection, tables: list[str]) -> bool:
    """Whether ``quarantined_records`` is a view that reads every one of ``tables``."""
    rows = connection.execute("SELECT 1 FROM duckdb_views() WHERE view_name = ? AND NOT internal", [VIEW]).fetchall()
    if not rows:
        return False
    try:
        read = connection.get_table_names(f'SELECT * FROM "{VIEW}"')  # the view's tables (DuckDB expands it)
    except duckdb.Error:  # a table it read is gone
        return False
    return set(tables) <= read


def ensure_quarantine_view(connection: duckdb.DuckDBPyConnection) -> bool:
    """Create ``quarantined_records`` when it is missing or does not cover every quarantine table; whether it did.

    Leaves the old shared table alone while it still holds rows (the governance asset finishes that migration).
    """
    if _legacy_writers(connection) or _view_covers(connection, quarantine_tables(connection)):
        return False
    return bool(create_quarantine_view(connection))


@dataclass(frozen=True)
class Published:
    """What (re)creating the view did: rows adopted from the old shared table, rows per source table."""

    adopted: dict[str, int]
    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def publish_quarantine_view(connection: duckdb.DuckDBPyConnection) -> Published:
    """Adopt what the old shared table still holds of any source, (re)create the view, count rows per source.

    Only a source with rows left in the old table gets its table created here (holding exactly those rows);
    otherwise each table is created by its writer on first use.

    Rows of an ``asset`` that is no known source stay in the old table and :func:`create_quarantine_view`
    refuses, naming them: nothing is dropped silently.
    """
    legacy = set(_legacy_writers(connection))
    adopted = {s.spec.name: adopt_legacy_rows(connection, s.spec, s.asset) for s in SOURCES if s.asset in legacy}
    tables = write_transaction(connection, create_quarantine_view)  # one transaction, re-run on a lake conflict
    rows = {name: int(connection.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]) for name in tables}
    return Published(adopted, rows)
