"""``tiktok-pipeline warehouse copy``: its options (defaults from the settings), its output and its exit codes.

Exit codes: 0 every table copied and verified (or, with ``--check``, equal); 1 a table differs, the lake was
refused (non-empty tables without ``--replace``) or a table could not be copied; 2 a bad option or setting. No
message quotes the lake's conninfo (it may hold a password).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr

from tiktok_pipeline.settings.warehouse import (
    DATA_PATH_SETTING,
    DUCKDB_SCHEME,
    DUCKLAKE_SCHEME,
    URL_SETTING,
    WarehouseTarget,
    check_url,
)


class OptionError(ValueError):
    """A bad or missing option; the message names it (and never quotes a conninfo)."""


def resolve(source: str | None, target: str | None, data_path: str | None) -> tuple[Path, WarehouseTarget, float]:
    """(the DuckDB file, the lake, the lock timeout) from the options, the settings filling what is not given.

    ``--from`` defaults to the DuckDB file of ``TIKTOK_WAREHOUSE_URL``/``TIKTOK_WAREHOUSE_PATH`` (when the URL is
    a lake: ``TIKTOK_WAREHOUSE_PATH``'s default), ``--to`` to ``TIKTOK_WAREHOUSE_URL`` when it is a lake, and
    ``--data-path`` to ``TIKTOK_LAKE_DATA_PATH``. The settings are read only when an option is missing.
    """
    from tiktok_pipeline.settings import DEFAULT_WAREHOUSE_LOCK_TIMEOUT, Settings, load_settings

    for option, url in (("--from", source), ("--to", target)):
        if url is not None:
            try:
                check_url(url, name=option)
            except ValueError as error:
                raise OptionError(str(error)) from None
    if source is not None and not source.startswith(DUCKDB_SCHEME):
        raise OptionError("--from must be a DuckDB file, duckdb:<path> (the copy reads a file, not a lake)")
    if target is not None and not target.startswith(DUCKLAKE_SCHEME):
        raise OptionError("--to must be a DuckLake, ducklake:postgres:<libpq conninfo> (a file is copied with cp)")
    settings: Settings | None = None
    if source is None or target is None or data_path is None:
        settings = load_settings()
    lock_timeout = settings.warehouse_lock_timeout_seconds if settings else DEFAULT_WAREHOUSE_LOCK_TIMEOUT
    if source is not None:
        file = Path(source[len(DUCKDB_SCHEME) :].strip())
    else:
        assert settings is not None
        configured = settings.warehouse
        file = configured.path if configured.path is not None else settings.warehouse_path
    catalog: SecretStr | None
    if target is not None:
        catalog = SecretStr(target[len(DUCKLAKE_SCHEME) :].strip())
    else:
        assert settings is not None
        if not settings.warehouse.is_lake:
            raise OptionError(f"--to is missing: give ducklake:postgres:<libpq conninfo>, or set {URL_SETTING} to it")
        catalog = settings.warehouse.catalog
    if data_path is None:
        assert settings is not None
        data_path = settings.lake_data_path
    if not data_path or not data_path.strip():
        raise OptionError(
            f"--data-path is missing: where the lake's Parquet files go (a folder or s3://bucket/prefix/), "
            f"or set {DATA_PATH_SETTING}"
        )
    lake = WarehouseTarget(backend="ducklake", catalog=catalog, data_path=data_path.strip())
    return file, lake, lock_timeout


def run(
    source: str | None,
    target: str | None,
    data_path: str | None,
    *,
    replace: bool,
    check_only: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Copy (or, ``check_only``, compare) the DuckDB file into the lake, printing a line per table and a summary."""
    out, err = out or sys.stdout, err or sys.stderr
    from tiktok_pipeline.warehouse.backends import LakeError
    from tiktok_pipeline.warehouse.lake_copy import CopyError, CopyRefused, TableCopy, copy_warehouse
    from tiktok_pipeline.warehouse.lock import WarehouseBusyError

    try:
        file, lake, lock_timeout = resolve(source, target, data_path)
    except OptionError as error:
        print(f"tiktok-pipeline warehouse copy: {error}", file=err)
        return 2
    what = "comparing the DuckDB file {} with the {}" if check_only else "copying the DuckDB file {} into the {}"
    how = "rows and checksums" if check_only else "one transaction per table, rows and checksums verified after each"
    print(f"{what.format(file, lake.describe())} ({how})", file=out, flush=True)
    print(f"{'table':<32} {'rows':>12} {'seconds':>8}  verified", file=out, flush=True)

    done: list[str] = []

    def line(table: TableCopy) -> None:
        done.append(table.name)
        verdict = "ok" if table.ok else f"MISMATCH: {table.problem()}"
        print(f"{table.name:<32} {table.rows:>12,} {table.seconds:>8.2f}  {verdict}", file=out, flush=True)

    try:
        report = copy_warehouse(
            file, lake, replace=replace, check_only=check_only, lock_timeout=lock_timeout, on_table=line
        )
    except CopyRefused as error:
        print(f"refused: {error}", file=err)
        return 1
    except (CopyError, LakeError, WarehouseBusyError) as error:
        print(f"tiktok-pipeline warehouse copy: {error}", file=err)
        if done and not check_only:
            print(
                f"{', '.join(done)} were copied (each in its own transaction), the failed table is as it was: "
                "fix the cause, then run again with --replace",
                file=err,
            )
        return 1
    rows = sum(table.rows for table in report.tables)
    if report.views:
        print(f"views re-created: {', '.join(report.views)}", file=out)
    differ = [table.name for table in report.tables if not table.ok]
    verb = "compared" if check_only else "copied"
    print(
        f"{verb} {_count(len(report.tables), 'table')} ({rows:,} rows) and {_count(len(report.views), 'view')} "
        f"in {report.seconds:.1f} s; "
        + (f"{len(differ)} differ: {', '.join(differ)}" if differ else "every table verified equal"),
        file=out,
    )
    if differ:
        print(f"the lake differs from the file in {', '.join(differ)}", file=err)
        return 1
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
