"""``tiktok-pipeline``: start the Dagster UI with a persistent instance, and manage creator tokens."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from tiktok_pipeline.settings import PROJECT_ROOT, Settings
from tiktok_pipeline.sources.display_api.tokens import TokenSet, TokenStore


def dev(extra: list[str]) -> int:
    """Run ``dagster dev`` with DAGSTER_HOME at the project root, so history survives restarts."""
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT))
    (PROJECT_ROOT / "data").mkdir(exist_ok=True)
    os.chdir(PROJECT_ROOT)
    beside = Path(sys.executable).with_name("dagster")  # the environment's own dagster, even if not on PATH
    dagster = str(beside) if beside.exists() else (shutil.which("dagster") or "dagster")
    args = [dagster, "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), *extra]
    print(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']}; starting: {' '.join(args)}", flush=True)
    os.execvp(args[0], args)
    return 0  # pragma: no cover - execvp does not return


def add_token(username: str, open_id: str) -> int:
    """Store a creator's refresh token read from standard input (never from argv: it would leak to ps)."""
    token = sys.stdin.readline().strip()
    if not token:
        print("no refresh token on standard input", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    store = TokenStore(Settings().token_store_path)
    store.put(
        username,
        TokenSet(
            open_id=open_id,
            access_token=SecretStr(""),
            access_expires_at=now - timedelta(seconds=1),  # forces a refresh on first use
            refresh_token=SecretStr(token),
            refresh_expires_at=now + timedelta(days=180),
        ),
    )
    print(f"stored a refresh token for {username} in {store.path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tiktok-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="start the Dagster UI and daemon (extra arguments go to `dagster dev`)")
    tokens = sub.add_parser("tokens", help="manage creators' OAuth tokens")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True)
    add = tokens_sub.add_parser("add", help="store a refresh token read from standard input")
    add.add_argument("username")
    add.add_argument("--open-id", default="", help="the creator's open_id, if known")
    args, extra = parser.parse_known_args(argv)
    if args.command == "dev":
        return dev(extra)
    if extra:
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    return add_token(args.username, args.open_id)


if __name__ == "__main__":
    sys.exit(main())
