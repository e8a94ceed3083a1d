"""``tiktok-pipeline``: start the Dagster UI with a persistent instance, query the warehouse or copy it into a lake,
manage creator tokens, regenerate the documents generated from declarations (``docs rate-limits``,
``docs dictionary``); consent: ``display-webhooks serve`` and ``creators purge|consent`` (:mod:`.cli_consent`);
budget pacing: ``pacing revert`` (:mod:`.cli_pacing`); TikTok Shop: ``shop-webhooks serve``, ``shop-tokens add``
(:mod:`.cli_shop`).

Kept light: importing this module imports no Dagster, Polars or DuckDB; each command imports what it needs.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tiktok_pipeline import cli_consent, cli_pacing, cli_shop

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("table", "csv", "json")


def dev(extra: list[str]) -> int:
    """Run ``dagster dev`` with DAGSTER_HOME at the project root, so history survives restarts.

    The configuration is checked first: a bad ``TIKTOK_*`` value stops here with the variable, the value and
    what is allowed, instead of a UI whose code location failed to load.
    """
    from tiktok_pipeline.settings import PROJECT_ROOT, load_settings

    load_settings()  # raises SettingsError, which main() reports
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT))
    (PROJECT_ROOT / "data").mkdir(exist_ok=True)
    os.chdir(PROJECT_ROOT)
    beside = Path(sys.executable).with_name("dagster")  # the environment's own dagster, even if not on PATH
    dagster = str(beside) if beside.exists() else (shutil.which("dagster") or "dagster")
    args = [dagster, "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), *extra]
    print(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']}; starting: {' '.join(args)}", flush=True)
    os.execvp(args[0], args)
    return 0  # pragma: no cover - execvp does not return


def add_token(username: str, open_id: str, refresh_expires_in: int | None) -> int:
    """Store a creator's tokens read from standard input (never from argv: it would leak to ps).

    Standard input holds TikTok's token answer (the JSON of ``/v2/oauth/token/``) or a bare refresh token. The
    refresh token's expiry is what TikTok said: the answer's ``refresh_expires_in``, or ``--refresh-expires-in``;
    for a bare token without it, unknown until the first refresh (made at once on first use) says it.
    """
    from pydantic import SecretStr, ValidationError

    from tiktok_pipeline.settings import load_settings
    from tiktok_pipeline.sources.display_api.models import OAuthErrorBody, TokenGrant
    from tiktok_pipeline.sources.display_api.tokens import TokenSet, TokenStore

    store = TokenStore(load_settings().token_store_path)  # a bad setting fails before anything is read
    text = sys.stdin.read().strip()
    if not text:
        print("no refresh token on standard input", file=sys.stderr)
        return 2
    if refresh_expires_in is not None and refresh_expires_in <= 0:
        print(f"--refresh-expires-in must be a positive number of seconds, not {refresh_expires_in}", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    if text.startswith("{"):
        try:
            answer = json.loads(text)
        except json.JSONDecodeError as exc:
            print(f"standard input starts with {{ but is not JSON: {exc.msg} (at character {exc.pos})", file=sys.stderr)
            return 2
        refused = OAuthErrorBody.of(answer)
        if refused is not None:
            print(f"that is TikTok's refusal, not tokens: {refused.error}, log_id={refused.log_id}", file=sys.stderr)
            return 2
        try:
            tokens = TokenSet.from_grant(TokenGrant.model_validate(answer), now)
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            print(f"not TikTok's token answer (bad or missing: {fields})", file=sys.stderr)
            return 2
    else:
        tokens = TokenSet(
            open_id=open_id,
            access_token=SecretStr(""),
            access_expires_at=now - timedelta(seconds=1),  # forces a refresh on first use
            refresh_token=SecretStr(text.splitlines()[0].strip()),
            refresh_expires_at=None if refresh_expires_in is None else now + timedelta(seconds=refresh_expires_in),
            granted_at=now,
        )
    store.put(username, tokens)
    expiry = tokens.refresh_expires_at.isoformat() if tokens.refresh_expires_at else "unknown until the first refresh"
    print(f"stored tokens for {username} in {store.path} (refresh token expires: {expiry})")
    return 0


def revoke_token(username: str) -> int:
    """Revoke a creator's authorisation at TikTok (``/v2/oauth/revoke/``) and remove their tokens from the store."""
    from tiktok_pipeline.defs.resources import DisplayApiResource
    from tiktok_pipeline.settings import load_settings
    from tiktok_pipeline.sources.display_api.calls import TikTokApiError
    from tiktok_pipeline.sources.http.calllog import CallBuffer, recording
    from tiktok_pipeline.warehouse.call_spool import record_command_calls

    settings = load_settings()
    resource = DisplayApiResource.from_settings(settings)
    calls = CallBuffer()
    try:
        with recording(calls), resource.client() as client:
            client.revoke(username)
    except TikTokApiError as exc:
        print(f"tokens revoke {username}: {exc}", file=sys.stderr)
        return 1
    finally:  # the calls made (a refresh, the revocation), answered or not, in api_call_log (or its spool)
        record_command_calls(calls, settings.warehouse, settings.landing_dir, command="tokens revoke").tell(
            "tokens revoke"
        )
    print(f"revoked {username}'s authorisation and removed their tokens from {resource.token_store_path}")
    return 0


def sql(query: str, *, warehouse: str | None, fmt: str, limit: int | None, wait: float) -> int:
    """Run ``query`` on a snapshot of the warehouse and print the rows. 0 ok, 1 query failed or busy, 2 no file."""
    from tiktok_pipeline.warehouse.snapshot import (
        QueryFailed,
        SnapshotError,
        WarehouseMissing,
        query_lake,
        query_snapshot,
    )

    if query == "-":
        query = sys.stdin.read()
    lake = None
    if warehouse is not None:
        path, source = Path(warehouse), "--warehouse"
    else:
        from tiktok_pipeline.settings import load_settings  # only when needed: the path may be given

        target = load_settings().warehouse
        lake = target if target.is_lake else None
        path, source = target.path or Path(), "TIKTOK_WAREHOUSE_URL / TIKTOK_WAREHOUSE_PATH"
    try:
        if lake is not None:  # a DuckLake: queried in place, read-only (its writers are never blocked)
            result = query_lake(lake, query, limit=limit)
        else:
            result = query_snapshot(path, query, limit=limit, wait_seconds=wait)
    except WarehouseMissing:
        print(
            f"no warehouse at {path} (from {source}). Materialise a window first (`make dev` does within"
            " minutes), or point TIKTOK_WAREHOUSE_PATH or --warehouse at the DuckDB file.",
            file=sys.stderr,
        )
        return 2
    except QueryFailed as error:
        print(f"query failed: {error}", file=sys.stderr)
        return 1
    except SnapshotError as error:  # WarehouseBusy
        print(str(error), file=sys.stderr)
        return 1
    write_rows(result.table, fmt, sys.stdout)
    if result.truncated:
        print(f"(first {limit} rows shown; more matched: raise --limit)", file=sys.stderr)
    return 0


def write_rows(table: pa.Table, fmt: str, out: TextIO) -> None:
    """Print ``table`` as an aligned table, CSV (with a header) or a JSON array of objects."""
    if fmt == "table":
        _write_table(table, out)
        return
    rows = table.to_pylist()
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.column_names)
        writer.writerows([[_csv_value(row[name]) for name in table.column_names] for row in rows])
    else:
        json.dump([{k: _json_value(v) for k, v in row.items()} for row in rows], out, default=_json_default)
        out.write("\n")


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(_json_value(value), default=str)
    return value


def _json_default(value: Any) -> Any:
    """Timestamps and dates in ISO 8601; decimals, UUIDs and the rest as text."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def _write_table(table: pa.Table, out: TextIO) -> None:
    import polars as pl

    if not table.num_columns:
        out.write("(no rows)\n")
        return
    try:
        frame = pl.from_arrow(table)
    except Exception:  # a type Polars cannot take (e.g. INTERVAL): that column as text
        columns = []
        for name, column in zip(table.column_names, table.columns, strict=True):
            try:
                columns.append(pl.Series(name, pl.from_arrow(column)))
            except Exception:
                columns.append(pl.Series(name, [None if v is None else str(v) for v in column.to_pylist()], pl.String))
        frame = pl.DataFrame(columns)
    assert isinstance(frame, pl.DataFrame)
    width = shutil.get_terminal_size((0, 0)).columns if out.isatty() else 0
    with pl.Config(
        tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, fmt_str_lengths=80, tbl_width_chars=width or 10_000
    ):
        out.write(f"{frame}\n")
    out.write(f"({frame.height} row{'' if frame.height == 1 else 's'})\n")


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tiktok-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="start the Dagster UI and daemon (extra arguments go to `dagster dev`)")
    query = sub.add_parser(
        "sql",
        help="query a snapshot of the warehouse without blocking its writers",
        description=(
            "Copies the tables the query reads from the DuckDB warehouse into memory (the file is open only"
            " while they are copied, so runs can keep writing), then runs the query on the copy. While a run"
            " holds the file it waits, up to --wait seconds."
        ),
    )
    query.add_argument(
        "query", help='the SQL, e.g. "from video_velocity order by momentum desc limit 10"; - reads stdin'
    )
    query.add_argument("--warehouse", help="the DuckDB file (default: TIKTOK_WAREHOUSE_PATH, data/warehouse.duckdb)")
    query.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    query.add_argument("--limit", type=_non_negative_int, help="print at most this many rows (default: all)")
    query.add_argument("--wait", type=float, default=15.0, help="seconds to wait for a writer to finish (default 15)")
    warehouse = sub.add_parser("warehouse", help="move the warehouse between backends, migrate its schema")
    warehouse_sub = warehouse.add_subparsers(dest="warehouse_command", required=True)
    copy = warehouse_sub.add_parser(
        "copy",
        help="copy a DuckDB warehouse file into a DuckLake (every table and view), verifying every table",
        description=(
            "Copies every table of the DuckDB file into the lake, one transaction per table, then compares each"
            " table's row count and checksum with the file's, and re-creates the file's views. A lake table that"
            " already holds rows is refused unless --replace (checked before anything is copied). Prints a line"
            " per table; exits 1 when a table differs. Keep the password out of --to (ps shows arguments):"
            " PGPASSWORD, ~/.pgpass, or leave --to out and set TIKTOK_WAREHOUSE_URL."
        ),
    )
    copy.add_argument("--from", dest="source", help="duckdb:<file> (default: TIKTOK_WAREHOUSE_PATH's file)")
    copy.add_argument("--to", dest="target", help="ducklake:postgres:<libpq conninfo> (default: TIKTOK_WAREHOUSE_URL)")
    copy.add_argument(
        "--data-path", help="the lake's data folder or s3://bucket/prefix/ (default: TIKTOK_LAKE_DATA_PATH)"
    )
    copy.add_argument("--replace", action="store_true", help="replace the rows of lake tables that are not empty")
    copy.add_argument("--check", action="store_true", help="copy nothing: compare the lake's tables with the file's")
    migrate = warehouse_sub.add_parser(
        "migrate",
        help="migrate the warehouse's tables forward to this release's schema versions",
        description=(
            "Migrates every table of the configured warehouse (TIKTOK_WAREHOUSE_URL) to the schema version its"
            " declaration carries, in one transaction, and records it in schema_versions; prints what changed."
            " --check changes nothing: it lists what would change and exits 1 if anything would. Exits 1 when the"
            " warehouse holds a table at a newer version than this release declares."
        ),
    )
    migrate.add_argument("--check", action="store_true", help="change nothing: exit 1 and list what would change")
    docs = sub.add_parser("docs", help="regenerate the documents generated from declarations")
    docs_sub = docs.add_subparsers(dest="docs_command", required=True)
    rate_limits = docs_sub.add_parser(
        "rate-limits", help="write docs/rate-limit-policy.md from the source declarations"
    )
    rate_limits.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file is out of date")
    tokens = sub.add_parser("tokens", help="manage creators' OAuth tokens")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True)
    add = tokens_sub.add_parser("add", help="store a refresh token read from standard input")
    add.add_argument("username")
    add.add_argument("--open-id", default="", help="the creator's open_id, if known")
    add.add_argument(
        "--refresh-expires-in",
        type=int,
        help="TikTok's refresh_expires_in (seconds) for a bare refresh token; not needed with the JSON answer",
    )
    revoke = tokens_sub.add_parser("revoke", help="revoke a creator's authorisation at TikTok and forget the tokens")
    revoke.add_argument("username")
    dictionary = docs_sub.add_parser(
        "dictionary", help="write docs/data-dictionary.md from the table declarations (--check: exit 1 if stale)"
    )
    dictionary.add_argument("--check", action="store_true", help="write nothing: exit 1 when the file is out of date")
    dictionary.add_argument("--output", type=Path, help="the file (default: docs/data-dictionary.md)")
    live = sub.add_parser("live", help="the LIVE intake (unofficial source live_events, opt-in)")
    live_sub = live.add_subparsers(dest="live_command", required=True)
    serve = live_sub.add_parser("serve", help="a local webhook appending POSTed LIVE event lines to the intake folder")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    serve.add_argument("--port", type=int, default=8765)
    cli_consent.add_parsers(sub)
    cli_pacing.add_parsers(sub)
    cli_shop.add_parsers(sub)
    args, extra = parser.parse_known_args(argv)
    if args.command != "dev" and extra:
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    from tiktok_pipeline.settings import SettingsError

    try:
        if args.command == "dev":
            return dev(extra)
        if args.command == "sql":
            return sql(args.query, warehouse=args.warehouse, fmt=args.format, limit=args.limit, wait=args.wait)
        if args.command == "warehouse" and args.warehouse_command == "migrate":
            from tiktok_pipeline.warehouse.migrate_command import run as migrate_warehouse

            return migrate_warehouse(check=args.check)
        if args.command == "warehouse":
            from tiktok_pipeline.warehouse.copy_command import run

            return run(args.source, args.target, args.data_path, replace=args.replace, check_only=args.check)
        if args.command == "docs":
            if args.docs_command == "dictionary":
                from tiktok_pipeline.governance.dictionary import run as write_dictionary

                return write_dictionary(check=args.check, path=args.output)
            from tiktok_pipeline.governance.rate_limits import write_rate_limit_policy

            return write_rate_limit_policy(check=args.check)
        if args.command == "live":
            from tiktok_pipeline.ingest.collect.live_serve import serve_live_webhook

            return serve_live_webhook(args.host, args.port)
        if args.command == "pacing":
            return cli_pacing.run(args)
        if args.command in ("shop-webhooks", "shop-tokens"):
            return cli_shop.run(args)
        if args.command in ("display-webhooks", "creators"):
            return cli_consent.run(args)
        if args.tokens_command == "revoke":
            return revoke_token(args.username)
        return add_token(args.username, args.open_id, args.refresh_expires_in)
    except SettingsError as exc:
        print(f"tiktok-pipeline {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
