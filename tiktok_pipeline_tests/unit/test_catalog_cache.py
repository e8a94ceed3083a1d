"""The warehouse catalog a connection remembers (``warehouse.migrate.catalog``, issue 13): read once per connection,
never trusted for a table created in a transaction that rolled back."""

import duckdb
import pytest

from tiktok_pipeline.warehouse.io import create_or_extend, tables_present, transaction
from tiktok_pipeline.warehouse.migrate import catalog
from tiktok_pipeline.warehouse.tables import ENRICHED_VIDEO_METRICS, POLL_TELEMETRY, VIDEO_VELOCITY


class Counting:
    """A connection that counts its catalog queries (duckdb_columns and information_schema)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self.catalog_queries = 0

    def execute(self, sql: str, *args):
        if "duckdb_columns()" in sql or "information_schema" in sql:
            self.catalog_queries += 1
        return self.connection.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self.connection, name)


def test_a_steps_catalog_lookups_are_one_query_per_connection(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as raw:
        for spec in (ENRICHED_VIDEO_METRICS, VIDEO_VELOCITY, POLL_TELEMETRY):
            create_or_extend(raw, spec)
        counting = Counting(raw)
        for spec in (ENRICHED_VIDEO_METRICS, VIDEO_VELOCITY, POLL_TELEMETRY):
            create_or_extend(counting, spec)  # type: ignore[arg-type]
        names = [ENRICHED_VIDEO_METRICS.name, VIDEO_VELOCITY.name, POLL_TELEMETRY.name]
        assert tables_present(counting, names) == set(names)  # type: ignore[arg-type]
        assert counting.catalog_queries == 1


def test_a_table_created_in_a_transaction_that_rolled_back_is_not_taken_as_present(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        with pytest.raises(RuntimeError, match="the step failed"), transaction(connection):
            create_or_extend(connection, VIDEO_VELOCITY)
            assert tables_present(connection, [VIDEO_VELOCITY.name]) == {VIDEO_VELOCITY.name}  # remembered now
            raise RuntimeError("the step failed")
        assert tables_present(connection, [VIDEO_VELOCITY.name]) == set()
        assert VIDEO_VELOCITY.name not in catalog(connection)
        create_or_extend(connection, VIDEO_VELOCITY)  # created again, not skipped as present
        assert connection.execute(f"SELECT count(*) FROM {VIDEO_VELOCITY.name}").fetchone() == (0,)


def test_a_table_created_by_another_connection_is_found_when_asked_for(tmp_path):
    path = str(tmp_path / "w.duckdb")
    with duckdb.connect(path) as connection:
        create_or_extend(connection, ENRICHED_VIDEO_METRICS)
        assert tables_present(connection, [ENRICHED_VIDEO_METRICS.name]) == {ENRICHED_VIDEO_METRICS.name}
        other = connection.cursor()  # another connection to the same database
        create_or_extend(other, VIDEO_VELOCITY)
        assert tables_present(connection, [VIDEO_VELOCITY.name]) == {VIDEO_VELOCITY.name}
