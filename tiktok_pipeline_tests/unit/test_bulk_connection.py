"""A range step's connection checkpoints its WAL less often (``WarehouseResource.connection(bulk=True)``, issue 13)."""

import pytest

from tiktok_pipeline.warehouse.io import BULK_CHECKPOINT_THRESHOLD, WarehouseResource


def threshold(connection) -> str:
    return connection.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0]


@pytest.fixture
def warehouse(tmp_path):
    return WarehouseResource(url=f"duckdb:{tmp_path / 'warehouse.duckdb'}", lock_timeout_seconds=5)


def test_a_bulk_connection_checkpoints_at_the_bulk_threshold_and_others_at_duckdbs_default(warehouse):
    with warehouse.connection() as connection:
        default = threshold(connection)
    with warehouse.connection(bulk=True) as connection:
        bulk = threshold(connection)
        connection.execute(f"SET checkpoint_threshold = '{BULK_CHECKPOINT_THRESHOLD}'")
        assert bulk == threshold(connection) != default
    with warehouse.connection() as connection:  # the setting went with the bulk connection
        assert threshold(connection) == default
    with warehouse.connection(read_only=True, bulk=True) as connection:  # nothing to checkpoint
        assert threshold(connection) == default
