"""Where the warehouse is: ``TIKTOK_WAREHOUSE_URL``, parsed once into a :class:`WarehouseTarget` (a leaf: pydantic only).

Two backends:

- ``duckdb:<path>``: one embedded DuckDB file (the default, ``duckdb:`` + ``TIKTOK_WAREHOUSE_PATH``), one writing
  process at a time (``warehouse.lock``);
- ``ducklake:postgres:<libpq conninfo>``: DuckLake, its catalog in PostgreSQL and its data as Parquet files under
  ``TIKTOK_LAKE_DATA_PATH`` (a folder, or ``s3://...`` with credentials from the environment); many writers and
  readers at once.

The conninfo may hold a password, so the URL is a secret: it is kept as a ``SecretStr``, and no message here
quotes it (they name the variable and, at most, the scheme).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr

URL_SETTING = "TIKTOK_WAREHOUSE_URL"
PATH_SETTING = "TIKTOK_WAREHOUSE_PATH"
DATA_PATH_SETTING = "TIKTOK_LAKE_DATA_PATH"
DUCKDB_SCHEME = "duckdb:"
DUCKLAKE_SCHEME = "ducklake:postgres:"


class WarehouseTarget(BaseModel):
    """The parsed warehouse location: a DuckDB file, or a DuckLake (PostgreSQL catalog + data path)."""

    model_config = ConfigDict(frozen=True)

    backend: Literal["duckdb", "ducklake"]
    path: Path | None = None
    """The DuckDB file (``duckdb`` only)."""
    catalog: SecretStr | None = None
    """The PostgreSQL catalog's libpq conninfo (``ducklake`` only; may hold a password)."""
    data_path: str | None = None
    """Where DuckLake writes its Parquet files (``ducklake`` only): a folder or an object-store URL."""

    @property
    def is_lake(self) -> bool:
        """The DuckLake backend (no warehouse file lock: writers run at once)."""
        return self.backend == "ducklake"

    def describe(self) -> str:
        """A label safe to log: the file, or the lake's data path (never the catalog's conninfo)."""
        return f"DuckDB file {self.path}" if self.path is not None else f"DuckLake with data at {self.data_path}"


def check_url(url: str, *, name: str = URL_SETTING) -> None:
    """Raise ``ValueError`` (never quoting ``url``: it may hold a password) unless ``url`` has a known scheme.

    ``name`` is what the message calls the URL: the variable, or a command's option (``--to``).
    """
    if url.startswith(DUCKDB_SCHEME):
        if not url[len(DUCKDB_SCHEME) :].strip():
            raise ValueError(f"{name} 'duckdb:' needs a file path after the scheme, e.g. duckdb:data/w.duckdb")
        return
    if url.startswith(DUCKLAKE_SCHEME):
        if not url[len(DUCKLAKE_SCHEME) :].strip():
            raise ValueError(
                f"{name} 'ducklake:postgres:' needs a libpq conninfo after the scheme, "
                "e.g. ducklake:postgres:host=db dbname=lake user=pipeline"
            )
        return
    scheme = url.split(":", 1)[0] if ":" in url else "(none)"
    raise ValueError(f"{name} has the scheme {scheme!r}: use duckdb:<file path> or ducklake:postgres:<libpq conninfo>")


def parse_target(url: str | None, *, path: Path, path_given: bool, data_path: str | None) -> WarehouseTarget:
    """The warehouse ``url`` (or, unset, ``duckdb:<path>``) as a :class:`WarehouseTarget`.

    Raises ``ValueError`` naming the variables: an unknown scheme, a ``duckdb:`` URL and an explicitly given
    ``TIKTOK_WAREHOUSE_PATH`` that disagree, a lake without ``TIKTOK_LAKE_DATA_PATH``, or a data path given for
    the file backend.
    """
    if url is None:
        url = f"{DUCKDB_SCHEME}{path}"
    check_url(url)
    if url.startswith(DUCKDB_SCHEME):
        file = Path(url[len(DUCKDB_SCHEME) :].strip())
        if path_given and file != Path(path):
            raise ValueError(
                f"{URL_SETTING} names the DuckDB file {file} but {PATH_SETTING} names {path}: "
                f"set one of them (or both to the same file)"
            )
        if data_path:
            raise ValueError(
                f"{DATA_PATH_SETTING} is set but {URL_SETTING} is a DuckDB file: it applies to DuckLake only"
            )
        return WarehouseTarget(backend="duckdb", path=file)
    if path_given:
        raise ValueError(
            f"{URL_SETTING} is a DuckLake but {PATH_SETTING} ({path}) is also set: the file path applies to "
            f"duckdb: only; unset it"
        )
    if not data_path or not data_path.strip():
        raise ValueError(
            f"{URL_SETTING} is a DuckLake: set {DATA_PATH_SETTING} to where its Parquet files go "
            "(a folder, or s3://bucket/prefix/)"
        )
    return WarehouseTarget(
        backend="ducklake", catalog=SecretStr(url[len(DUCKLAKE_SCHEME) :].strip()), data_path=data_path.strip()
    )
