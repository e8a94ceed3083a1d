"""What differs between the warehouse backends: opening a DuckLake, its extensions, its conflicts, its locks.

The file backend (``duckdb:``) is :func:`tiktok_pipeline.warehouse.io.connect`'s own code. For DuckLake
(``ducklake:postgres:``) a connection is a cursor of one in-memory DuckDB per process in which the lake is
ATTACHed as ``lake`` and ``USE``d, so every reader and writer's SQL (which names tables without a catalog) runs
unchanged on it. The process's DuckDB is opened once, because loading the two signed extensions (78 MB read to
check their signatures) and attaching the catalog cost about a second; each cursor has its own transaction.

The extensions come from the ``duckdb-extension-ducklake`` and ``duckdb-extension-postgres-scanner`` wheels:
``LOAD '<file>'`` with DuckDB's signature check left on (``INSTALL`` would download, and unsigned extensions
stay refused).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from tiktok_pipeline.settings.warehouse import WarehouseTarget

LAKE_ALIAS = "lake"
"""The catalog name a lake is attached under (every connection ``USE``s it)."""
EXTENSIONS = {"postgres_scanner": "duckdb_extension_postgres_scanner", "ducklake": "duckdb_extension_ducklake"}
"""Extension → the Python package whose wheel ships its signed binary."""
OBJECT_STORE_EXTENSIONS = {"httpfs": "duckdb_extension_httpfs"}
"""Loaded as well when the data path is an object store (``s3://``, ``gs://``, ``r2://``...): DuckDB's S3 client,
which reads its credentials from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION``; ``DUCKDB_S3_ENDPOINT``, ``DUCKDB_S3_USE_SSL`` for other S3 services)."""
REDACTED = "[redacted]"
_LOCK_POLL_SECONDS = 0.25

_instances: dict[tuple[int, str, str], duckdb.DuckDBPyConnection] = {}
_guard = threading.Lock()


class LakeError(RuntimeError):
    """The lake could not be opened (the message never quotes the catalog's conninfo)."""


def extension_file(name: str) -> Path:
    """The signed binary of extension ``name`` inside its wheel, for this DuckDB version."""
    package = {**EXTENSIONS, **OBJECT_STORE_EXTENSIONS}[name]
    try:
        root = Path(str(importlib.resources.files(package)))
    except ModuleNotFoundError as exc:
        raise LakeError(
            f"the DuckDB extension {name} is not installed: pip install {package.replace('_', '-')}"
        ) from exc
    return root / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"


def load_extensions(connection: duckdb.DuckDBPyConnection, *, object_store: bool = False) -> None:
    """LOAD the lake's extensions from their wheels, signatures checked (never INSTALL, never unsigned); with
    ``object_store``, httpfs too."""
    for name in [*EXTENSIONS, *(OBJECT_STORE_EXTENSIONS if object_store else ())]:
        file = extension_file(name)
        if not file.is_file():
            raise LakeError(f"no {name} extension for DuckDB {duckdb.__version__} at {file}")
        connection.execute(f"LOAD '{_quote(str(file))}'")


def redact(text: str, target: WarehouseTarget) -> str:
    """``text`` without the catalog's conninfo or any password in it."""
    if target.catalog is None:
        return text
    conninfo = target.catalog.get_secret_value()
    secrets = [conninfo, *re.findall(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", conninfo)]
    secrets += re.findall(r"://[^:/@]*:([^@]+)@", conninfo)  # a URI's user:password@
    for secret in sorted({s.strip("'") for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _instance(target: WarehouseTarget) -> duckdb.DuckDBPyConnection:
    """This process's DuckDB with the lake attached (opened on first use; one per lake)."""
    assert target.catalog is not None and target.data_path is not None
    key = (os.getpid(), target.catalog.get_secret_value(), target.data_path)
    with _guard:
        instance = _instances.get(key)
        if instance is None:
            instance = _open_lake(target)
            _instances[key] = instance
        return instance


def _open_lake(target: WarehouseTarget, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB with the extensions loaded and the lake attached as ``lake``."""
    assert target.catalog is not None and target.data_path is not None
    data_path = target.data_path
    if "://" not in data_path:
        Path(data_path).mkdir(parents=True, exist_ok=True)
        data_path = str(Path(data_path).absolute())
    instance = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False})
    try:
        load_extensions(instance, object_store="://" in data_path)
        options = f"DATA_PATH '{_quote(data_path)}'" + (", READ_ONLY" if read_only else "")
        instance.execute(
            f"ATTACH '{_quote('ducklake:postgres:' + target.catalog.get_secret_value())}' AS {LAKE_ALIAS} ({options})"
        )
    except duckdb.Error as error:
        instance.close()
        raise LakeError(f"could not open the {target.describe()}: {redact(str(error), target)}") from None
    return instance


def lake_connection(target: WarehouseTarget) -> duckdb.DuckDBPyConnection:
    """A new connection (its own transactions) to the lake, with ``lake`` as the default catalog; close it after use."""
    cursor = _instance(target).cursor()
    cursor.execute(f"USE {LAKE_ALIAS}")
    return cursor


@contextmanager
def lake_reader(target: WarehouseTarget) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private DuckDB with the lake attached READ_ONLY and ``USE``d (for ad-hoc queries: nothing can be written)."""
    instance = _open_lake(target, read_only=True)
    try:
        instance.execute(f"USE {LAKE_ALIAS}")
        yield instance
    finally:
        instance.close()


def close_lakes() -> None:
    """Close this process's lake connections (their PostgreSQL sessions end: the catalog database can be dropped)."""
    with _guard:
        for key in [key for key in _instances if key[0] == os.getpid()]:
            _instances.pop(key).close()


def is_conflict(error: BaseException) -> bool:
    """Whether ``error`` is a commit that lost to another writer (DuckLake's "Transaction conflict"): retry it."""
    return isinstance(error, duckdb.TransactionException) and "conflict" in str(error).lower()


def backoff(attempt: int, *, base: float = 0.05, cap: float = 2.0) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, ...): exponential, capped, with full jitter."""
    return random.uniform(0, min(cap, base * 2**attempt))


def _lock_key(name: str) -> int:
    """A signed 64-bit PostgreSQL advisory lock key for ``name`` (stable across processes and hosts)."""
    digest = hashlib.blake2b(f"tiktok_pipeline:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def advisory_lock(
    target: WarehouseTarget,
    name: str,
    *,
    timeout: float,
    on_wait: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[None]:
    """Hold the PostgreSQL advisory lock ``name`` on the lake's catalog database for the block.

    A session lock: PostgreSQL drops it when the session ends, so a holder killed with SIGKILL frees it as soon
    as its connection closes, on any host. Waits at most ``timeout`` seconds, then raises ``TimeoutError``.
    """
    import psycopg2  # the catalog's driver (installed with dagster-postgres); only the lake backend needs it

    from tiktok_pipeline.warehouse.lock import LOCK_TIMEOUT_SETTING, WarehouseBusyError

    assert target.catalog is not None
    try:
        session = psycopg2.connect(target.catalog.get_secret_value())
    except psycopg2.Error as error:
        raise LakeError(f"could not reach the lake's catalog: {redact(str(error), target)}") from None
    try:
        session.autocommit = True
        key, deadline, told = _lock_key(name), clock() + timeout, False
        with session.cursor() as cursor:
            while True:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                if cursor.fetchone()[0]:
                    break
                if clock() >= deadline:
                    raise WarehouseBusyError(
                        f"the lock {name!r} (a PostgreSQL advisory lock on the lake's catalog) stayed held for "
                        f"{timeout:g} s; raise {LOCK_TIMEOUT_SETTING} if that is legitimate"
                    )
                if on_wait is not None and not told:
                    on_wait(f"waiting up to {timeout:g} s for the lock {name!r}, held by another process")
                    told = True
                time.sleep(_LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            with session.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        session.close()


def _quote(text: str) -> str:
    return text.replace("'", "''")
