"""The PostgreSQL server the tests use, and fresh databases on it (for Dagster's instance or a DuckLake's catalog).

The server comes from TIKTOK_TEST_PG_HOST / _PORT / _USER / _PASSWORD when set, else 127.0.0.1:5432,
user postgres without password (it must allow CREATE DATABASE). Deliberately not the DAGSTER_PG_*
variables: a shell set up for production must never have tests create databases on that server. When it cannot
be reached the tests that need it are skipped with the reason, unless TIKTOK_REQUIRE_POSTGRES=1 (set by CI in
.ci/run): then they fail, so CI never passes without having run them.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

REQUIRE_ENV = "TIKTOK_REQUIRE_POSTGRES"
TEST_WAREHOUSE_ENV = "TIKTOK_TEST_WAREHOUSE"
"""``ducklake``: the ``settings`` fixture points at a fresh DuckLake instead of a DuckDB file."""


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

    def conninfo(self, dbname: str) -> str:
        """The libpq conninfo of database ``dbname`` (what ``ducklake:postgres:`` takes)."""
        password = f" password={self.password}" if self.password else ""
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}{password}"


def server_or_skip() -> PgServer:
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


@contextmanager
def fresh_database(server: PgServer) -> Iterator[str]:
    """A fresh, uniquely named database, dropped afterwards (connections still open are closed by force)."""
    name = f"tiktok_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin = server.connect("postgres")
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@dataclass(frozen=True)
class Lake:
    """A fresh DuckLake: its URL (catalog in its own PostgreSQL database) and data folder."""

    url: str
    data_path: Path


@contextmanager
def fresh_lake(server: PgServer, data_path: Path) -> Iterator[Lake]:
    """A DuckLake on a fresh database and ``data_path``; this process's connections to it closed, then dropped."""
    from tiktok_pipeline.warehouse.backends import close_lakes

    with fresh_database(server) as name:
        try:
            yield Lake(url=f"ducklake:postgres:{server.conninfo(name)}", data_path=data_path)
        finally:
            close_lakes()
