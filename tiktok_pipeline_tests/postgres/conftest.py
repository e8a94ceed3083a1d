"""Fixtures of the PostgreSQL tests: a fresh database per test and the instance of deploy/dagster.yaml on it.

The instance is built from the shipped file itself (copied into a temporary DAGSTER_HOME, with the
DAGSTER_PG_* variables it reads pointing at the fresh database), the way every production process
loads it (``DagsterInstance.get()``), so what these tests exercise is what is deployed.

The server comes from TIKTOK_TEST_PG_HOST / _PORT / _USER / _PASSWORD when set, else 127.0.0.1:5432,
user postgres without password (it must allow CREATE DATABASE). Deliberately not the DAGSTER_PG_*
variables: a shell set up for production must never have tests create databases on that server. When it cannot be reached the tests are skipped with the reason,
unless TIKTOK_REQUIRE_POSTGRES=1 (set by CI in .ci/run): then they fail, so CI never passes without
having run them.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from tiktok_pipeline.settings import PROJECT_ROOT

DEPLOY_CONFIG = PROJECT_ROOT / "deploy" / "dagster.yaml"
REQUIRE_ENV = "TIKTOK_REQUIRE_POSTGRES"


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str

    def connect(self, dbname: str):
        """A psycopg2 connection in autocommit mode (CREATE/DROP DATABASE need it)."""
        connection = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=dbname, connect_timeout=5
        )
        connection.autocommit = True
        return connection


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
    server = PgServer(
        host=os.environ.get("TIKTOK_TEST_PG_HOST", "127.0.0.1"),
        port=int(os.environ.get("TIKTOK_TEST_PG_PORT", "5432")),
        user=os.environ.get("TIKTOK_TEST_PG_USER", "postgres"),
        password=os.environ.get("TIKTOK_TEST_PG_PASSWORD", ""),
    )
    try:
        server.connect("postgres").close()
    except psycopg2.Error as exc:
        message = (
            f"PostgreSQL at {server.host}:{server.port} (user {server.user}) cannot be reached: "
            f"{' '.join(str(exc).split())} (set TIKTOK_TEST_PG_HOST/_PORT/_USER/_PASSWORD to a server that allows "
            "CREATE DATABASE)"
        )
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{message} ({REQUIRE_ENV}=1: the PostgreSQL tests are mandatory here)", pytrace=False)
        pytest.skip(message)
    return server


@pytest.fixture
def pg_database(pg_server: PgServer) -> Iterator[PgDatabase]:
    """A fresh, uniquely named database, dropped afterwards (connections still open are closed by force)."""
    name = f"tiktok_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin = pg_server.connect("postgres")
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield PgDatabase(pg_server, name)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


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
