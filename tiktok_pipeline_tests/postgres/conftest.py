"""Fixtures of the PostgreSQL tests: a fresh database per test and the instance of deploy/dagster.yaml on it.

The instance is built from the shipped file itself (copied into a temporary DAGSTER_HOME, with the
DAGSTER_PG_* variables it reads pointing at the fresh database), the way every production process
loads it (``DagsterInstance.get()``), so what these tests exercise is what is deployed.

The server, and how its absence skips or fails these tests (TIKTOK_REQUIRE_POSTGRES=1), are
:mod:`tiktok_pipeline_tests.pg`'s.
"""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from tiktok_pipeline.settings import PROJECT_ROOT
from tiktok_pipeline_tests.pg import PgServer, fresh_database, server_or_skip

DEPLOY_CONFIG = PROJECT_ROOT / "deploy" / "dagster.yaml"


@dataclass(frozen=True)
class PgDatabase:
    server: PgServer
    name: str

    def query(self, sql: str, params=None) -> list[tuple]:
        """Rows of ``sql`` read straight from the database, bypassing Dagster."""
        with self.server.connect(self.name) as connection, connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        connection.close()
        return rows


@pytest.fixture(scope="session")
def pg_server() -> PgServer:
    """The PostgreSQL server, or a skip (a failure with TIKTOK_REQUIRE_POSTGRES=1) naming why it is unusable."""
    return server_or_skip()


@pytest.fixture
def pg_database(pg_server: PgServer) -> Iterator[PgDatabase]:
    """A fresh, uniquely named database, dropped afterwards (connections still open are closed by force)."""
    with fresh_database(pg_server) as name:
        yield PgDatabase(pg_server, name)


@pytest.fixture
def pg_home(tmp_path: Path, pg_database: PgDatabase, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME holding a copy of deploy/dagster.yaml, and the DAGSTER_PG_* variables it reads."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_CONFIG, home / "dagster.yaml")
    server = pg_database.server
    for name, value in {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": server.host,
        "DAGSTER_PG_PORT": str(server.port),
        "DAGSTER_PG_USER": server.user,
        "DAGSTER_PG_PASSWORD": server.password,
        "DAGSTER_PG_DB": pg_database.name,
    }.items():
        monkeypatch.setenv(name, value)
    return home


@pytest.fixture
def pg_instance(pg_home: Path) -> Iterator[dg.DagsterInstance]:
    """The production instance (deploy/dagster.yaml via $DAGSTER_HOME) on the fresh database."""
    instance = dg.DagsterInstance.get()
    try:
        yield instance
    finally:
        instance.dispose()
