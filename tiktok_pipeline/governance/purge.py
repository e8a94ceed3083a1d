"""``tiktok-pipeline creators purge <handle-or-open_id> [--dry-run]``: delete one creator's data, saying what went.

Kept by default (the declared retention), a creator's data is deleted on request, once their grant is no longer
active (revoked, or ended; an active grant is refused: ``tokens revoke`` first):

- every warehouse row naming the creator in ANY creator column, found from the table declarations
  (``TableSpec.creator_columns``: ``creator_username``, ``api_call_log.subject``, every column declared with
  ``identifies``: e.g. a swap's ``fading_creator_username``, LIVE's ``creator``, ``open_id`` by the creator's
  open_id), on either backend, in ONE transaction (``test_creator_columns`` keeps every creator-like column
  declared one way or the other);
- their records in the Display API landing files (each window's file rewritten atomically without them, so a
  re-parse cannot bring the rows back); landed webhook events stay (the evidence of the revocation, no content);
- their rows in the polling state (Parquet beside the warehouse);
- their calls waiting in the call-log spool (:mod:`tiktok_pipeline.warehouse.call_spool`): the spool is written to
  ``api_call_log`` in the same transaction, before the deletion;
- their tokens. The consent ledger keeps the revocation, marked ``purged_at``: ``creator_consent`` shows that the
  creator revoked and was purged (handle and open_id only).

Not deleted: ``display_api_quarantine`` rows (a rejected record carries no creator column; its reason names the
creator only for some rejections), the ``alerts`` table (what was sent to the team) and Dagster's run logs.
``--dry-run`` counts the same things and changes nothing. The tracking registry is the team's file: a creator still
listed there is named in the output (remove them, or they are polled again once they authorise again).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from tiktok_pipeline.ingest.landing import UnreadableLandingError, read_landing, write_landing
from tiktok_pipeline.settings.warehouse import WarehouseTarget
from tiktok_pipeline.sources.display_api.consent import ACTIVE, ConsentLedger, read_consent
from tiktok_pipeline.sources.display_api.tokens import TokenStore
from tiktok_pipeline.warehouse.call_log import append_calls
from tiktok_pipeline.warehouse.call_spool import spool_dir, spooled
from tiktok_pipeline.warehouse.io import connect, table_exists, write_transaction
from tiktok_pipeline.warehouse.tables import ALL_TABLES, RAW_CREATOR_SNAPSHOTS, TableSpec
from tiktok_pipeline.warehouse.tables.spec import Identifies

DISPLAY_LANDING = "display_api"
STATE_FILES = ("videos.parquet", "creators.parquet", "fold.parquet")


class UnknownCreatorError(LookupError):
    """No creator with that handle or open_id is known anywhere (tokens, consent ledger, warehouse)."""


class GrantStillActiveError(RuntimeError):
    """The creator's grant is active: deleting their data and tokens would leave it open at TikTok."""


@dataclass
class PurgeReport:
    """What a purge deleted (or, dry, would delete)."""

    username: str
    open_id: str | None
    dry_run: bool
    tables: dict[str, int] = field(default_factory=dict)
    landing_files: int = 0
    landing_records: int = 0
    state_rows: int = 0
    tokens: bool = False
    unreadable: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as printed: one line per table, then landing, state and tokens."""
        verb = "would delete" if self.dry_run else "deleted"
        head = f"{'dry run: ' if self.dry_run else ''}creator {self.username} (open_id {self.open_id or 'unknown'})"
        lines = [head, *(f"  {table} → {rows} rows {verb}" for table, rows in self.tables.items())]
        lines.append(
            f"  landing files (display_api) → {self.landing_records} records in {self.landing_files} files {verb}"
        )
        lines.append(f"  polling state → {self.state_rows} rows {verb}")
        lines.append(f"  tokens → {'1 token set' if self.tokens else 'none'} {verb}")
        lines += [f"  landing file kept, unreadable: {path}" for path in self.unreadable]
        return lines


def _warehouse_exists(target: WarehouseTarget) -> bool:
    """False for a DuckDB file not created yet (a new installation: nothing of anybody's to delete there)."""
    return target.is_lake or (target.path is not None and target.path.exists())


def resolve(who: str, tokens: TokenStore, ledger: ConsentLedger, target: WarehouseTarget) -> tuple[str, str | None]:
    """(handle, open_id) of ``who``, a handle or an open_id, from the tokens, the ledger, then the warehouse."""
    pairs = {(name, held.open_id or None) for name, held in tokens.all().items()}
    pairs |= {(r.username, open_id) for open_id, r in ledger.revocations().items() if r.username}
    found = [p for p in pairs if who in p]
    if not found and _warehouse_exists(target):
        with connect(target, read_only=True, purpose="creators purge") as connection:
            if table_exists(connection, RAW_CREATOR_SNAPSHOTS.name):
                rows = connection.execute(
                    f'SELECT DISTINCT creator_username, open_id FROM "{RAW_CREATOR_SNAPSHOTS.name}"'
                    " WHERE creator_username = ? OR open_id = ? ORDER BY open_id NULLS LAST",  # provider rows: no open_id
                    [who, who],
                ).fetchall()
                found = [(str(name), open_id) for name, open_id in rows]
            if not found and any(_count(connection, spec, who, None) for spec in _creator_tables()):
                found = [(who, None)]
    if not found:
        raise UnknownCreatorError(
            f"no creator {who!r} in the token store, the consent ledger or the warehouse (give a handle or an open_id)"
        )
    return found[0]


def purge_creator(
    who: str,
    *,
    target: WarehouseTarget,
    token_store_path: Path,
    landing_dir: Path,
    state_dir: Path,
    dry_run: bool,
    now: datetime | None = None,
) -> PurgeReport:
    """Delete (``dry_run``: count) every row, landing record and polling-state row of ``who``, and their tokens."""
    tokens, ledger = TokenStore(token_store_path), ConsentLedger.beside(token_store_path)
    username, open_id = resolve(who, tokens, ledger, target)
    consent = {r.creator_username: r.status for r in read_consent(token_store_path, now or datetime.now(UTC))}
    if consent.get(username) == ACTIVE and not dry_run:
        raise GrantStillActiveError(
            f"{username}'s grant is active: revoke it first (`tiktok-pipeline tokens revoke {username}`), then purge"
        )
    report = PurgeReport(username, open_id, dry_run)
    # calls a command could not write (warehouse busy) are written first, so theirs are deleted with the rest
    spool_files, waiting = spooled(spool_dir(landing_dir))
    if not _warehouse_exists(target):  # no warehouse yet: no rows of anybody's; the spool stays for it
        spool_files = []
    else:
        with connect(target, purpose="creators purge") as connection:

            def delete(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
                if waiting.rows and not dry_run:
                    append_calls(connection, waiting)
                counts = {}
                for spec in _creator_tables():
                    counts[spec.name] = _count(connection, spec, username, open_id)
                    if counts[spec.name] and not dry_run:
                        for column, value in _lists_naming(connection, spec, username, open_id):
                            connection.execute(
                                f'UPDATE "{spec.name}" SET "{column}" = list_filter("{column}", lambda x: x <> ?)'
                                f' WHERE list_contains("{column}", ?)',
                                [value, value],
                            ).fetchall()
                        where, values = _naming(connection, spec, username, open_id, lists=False)
                        connection.execute(f'DELETE FROM "{spec.name}" WHERE {where}', values).fetchall()
                return counts

            report.tables = write_transaction(connection, delete)
    for path in spool_files if not dry_run else ():
        path.unlink(missing_ok=True)
    _purge_landing(report, landing_dir, username, dry_run)
    _purge_state(report, state_dir, username, dry_run)
    report.tokens = tokens.get(username) is not None
    if not dry_run:
        tokens.remove(username)
        if open_id:
            ledger.mark_purged(open_id, now or datetime.now(UTC))
    return report


def _creator_tables() -> list[TableSpec]:
    return [spec for spec in ALL_TABLES if spec.creator_columns]


def _named_columns(
    connection: duckdb.DuckDBPyConnection, spec: TableSpec, username: str, open_id: str | None
) -> list[tuple[str, str, bool]]:
    """(column, the creator's value, whether the column is a list) for each creator column of ``spec`` present in
    the table (an older schema may lack one) that the creator has a value for."""
    present = {row[0] for row in connection.execute(f'SELECT * FROM "{spec.name}" LIMIT 0').description or ()}
    types = {column.name: column.type for column in spec.columns}
    named = []
    for column, kind in spec.creator_columns:
        value = username if kind == Identifies.HANDLE else open_id
        if column in present and value:
            named.append((column, value, types.get(column, "").endswith("[]")))
    return named


def _naming(
    connection: duckdb.DuckDBPyConnection, spec: TableSpec, username: str, open_id: str | None, *, lists: bool = True
) -> tuple[str, list[str]]:
    """The condition selecting the rows of ``spec`` that name the creator in any of its creator columns (with
    ``lists``, list columns holding the creator among others too), and its values; ``FALSE`` when none can."""
    terms, values = [], []
    for column, value, is_list in _named_columns(connection, spec, username, open_id):
        if is_list and lists:
            terms.append(f'list_contains("{column}", ?)')
        elif not is_list:
            terms.append(f'"{column}" = ?')
        else:
            continue
        values.append(value)
    return (" OR ".join(terms) or "FALSE"), values


def _lists_naming(
    connection: duckdb.DuckDBPyConnection, spec: TableSpec, username: str, open_id: str | None
) -> list[tuple[str, str]]:
    """The list columns of ``spec`` that may hold the creator among others (``shop_sku_sales.creators``): the
    purge removes the creator from the list and keeps the row, which is about a SKU, not about them."""
    return [
        (column, value) for column, value, is_list in _named_columns(connection, spec, username, open_id) if is_list
    ]


def _count(connection: duckdb.DuckDBPyConnection, spec: TableSpec, username: str, open_id: str | None) -> int:
    if not table_exists(connection, spec.name):
        return 0
    where, values = _naming(connection, spec, username, open_id)
    row = connection.execute(f'SELECT count(*) FROM "{spec.name}" WHERE {where}', values).fetchone()
    return int(row[0]) if row else 0


def _purge_landing(report: PurgeReport, landing_dir: Path, username: str, dry_run: bool) -> None:
    """Rewrite each Display API landing file holding ``username``'s records without them (atomically)."""
    for path in sorted((Path(landing_dir) / DISPLAY_LANDING).glob("*/*.jsonl.gz")):
        try:
            records = read_landing(path)
        except UnreadableLandingError:
            report.unreadable.append(str(path))
            continue
        kept = [r for r in records if r.get("username") != username]
        if len(kept) == len(records):
            continue
        report.landing_files += 1
        report.landing_records += len(records) - len(kept)
        if not dry_run:
            write_landing(path, kept)


def _purge_state(report: PurgeReport, state_dir: Path, username: str, dry_run: bool) -> None:
    """Drop ``username``'s rows from the polling state's Parquet files (each replaced atomically)."""
    for name in STATE_FILES:
        path = Path(state_dir) / name
        if not path.exists():
            continue
        frame = pl.read_parquet(path)
        if "creator_username" not in frame.columns:
            continue
        kept = frame.filter(pl.col("creator_username").ne_missing(username))
        report.state_rows += frame.height - kept.height
        if not dry_run and kept.height != frame.height:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=".partial")
            os.close(fd)
            kept.write_parquet(tmp)
            os.replace(tmp, path)
