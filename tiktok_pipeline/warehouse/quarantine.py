"""One quarantine table per source, each written by one asset; ``quarantined_records`` is their union view.

Ownership: the step that parses a source is the only writer of ``<source>_quarantine`` (the Display API's
is ``display_api_quarantine``, written by the raw snapshots step). Analysts keep reading
``quarantined_records``: once no source writes the old shared table any more, :func:`create_quarantine_view`
replaces it by a view over every ``*_quarantine`` table.

Moving a source: before its first write to its own table, :func:`adopt_legacy_rows` moves that source's
rows (``asset = ...``) out of the old shared ``quarantined_records`` table, in one transaction, so nothing
is lost and nothing is counted twice once the view exists.
"""

from __future__ import annotations

import duckdb

from tiktok_pipeline.warehouse.io import table_exists, transaction
from tiktok_pipeline.warehouse.tables import QUARANTINED_RECORDS, TableSpec

VIEW = QUARANTINED_RECORDS.name
SUFFIX = "_quarantine"


def _is_base_table(connection: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = connection.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_name = ? AND table_type = 'BASE TABLE'", [name]
    ).fetchall()
    return bool(rows)


def adopt_legacy_rows(connection: duckdb.DuckDBPyConnection, spec: TableSpec, asset: str) -> int:
    """Create ``spec``'s table on first use, moving ``asset``'s rows out of the shared legacy table; rows moved."""
    if table_exists(connection, spec.name):
        return 0
    with transaction(connection):
        connection.execute(spec.ddl)
        if not _is_base_table(connection, VIEW):
            return 0
        columns = ", ".join(f'"{c}"' for c in spec.column_names)
        moved = connection.execute(
            f'INSERT INTO "{spec.name}" ({columns}) SELECT {columns} FROM "{VIEW}" WHERE asset = ?', [asset]
        ).fetchall()[0][0]
        connection.execute(f'DELETE FROM "{VIEW}" WHERE asset = ?', [asset]).fetchall()
    return int(moved)


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
    if _is_base_table(connection, VIEW):
        writers = [a for (a,) in connection.execute(f'SELECT DISTINCT asset FROM "{VIEW}" ORDER BY 1').fetchall()]
        if writers:
            raise RuntimeError(
                f"{VIEW} is still a table holding rows of {', '.join(map(str, writers))}: those assets must write "
                f"their own <source>{SUFFIX} table (see tiktok_pipeline.warehouse.quarantine) before it becomes a view"
            )
        connection.execute(f'DROP TABLE "{VIEW}"')
    tables = quarantine_tables(connection)
    if not tables:
        return []
    union = " UNION ALL BY NAME ".join(f'SELECT * FROM "{t}"' for t in tables)
    connection.execute(f'CREATE OR REPLACE VIEW "{VIEW}" AS {union}')
    return tables
