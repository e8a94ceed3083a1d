"""``tiktok-pipeline display-webhooks serve`` and ``tiktok-pipeline creators purge|consent``: registered by
:mod:`tiktok_pipeline.cli` (kept apart so the CLI module stays small). Light to import, like the CLI."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tiktok_pipeline.settings import Settings


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``display-webhooks`` and ``creators`` commands."""
    hooks = sub.add_parser("display-webhooks", help="receive TikTok's Display API webhooks (authorization.removed)")
    hooks_sub = hooks.add_subparsers(dest="webhooks_command", required=True)
    serve = hooks_sub.add_parser(
        "serve",
        help="serve the webhook receiver until Ctrl-C",
        description=(
            "Verifies each delivery's TikTok-Signature (HMAC-SHA256 with TIKTOK_CLIENT_SECRET, constant time; 401 on a"
            " bad or stale one, TIKTOK_DISPLAY_WEBHOOK_TOLERANCE_SECONDS), lands the event under"
            " TIKTOK_LANDING_DIR/display_webhooks/ before answering 200, applies authorization.removed to the consent"
            " ledger beside the token store (the creator is no longer polled), and counts duplicates once."
        ),
    )
    serve.add_argument("--port", type=int, required=True, help="TCP port to listen on (0: any free port)")
    serve.add_argument("--host", help="interface (default: TIKTOK_DISPLAY_WEBHOOK_HOST, 127.0.0.1)")
    serve.add_argument("--verbose", action="store_true", help="log each request line (never headers or bodies)")
    creators = sub.add_parser("creators", help="creators' consent records, and purging a creator's data")
    creators_sub = creators.add_subparsers(dest="creators_command", required=True)
    purge = creators_sub.add_parser(
        "purge",
        help="delete a creator's rows from every warehouse table holding creator data, their landing records,"
        " polling state and tokens; prints table → rows",
    )
    purge.add_argument("creator", help="the creator's handle or open_id")
    purge.add_argument("--dry-run", action="store_true", help="count what would be deleted; change nothing")
    creators_sub.add_parser("consent", help="print every authorised creator's consent record (JSON lines)")


def run(args: argparse.Namespace) -> int:
    """Run the parsed command (settings errors are reported by the caller)."""
    if args.command == "display-webhooks":
        return serve_webhooks(args.port, args.host, verbose=args.verbose)
    if args.creators_command == "consent":
        return print_consent()
    return purge(args.creator, dry_run=args.dry_run)


def serve_webhooks(port: int, host: str | None, *, verbose: bool) -> int:
    """Serve the receiver until interrupted, after replaying landed revocations."""
    import logging

    from tiktok_pipeline.ingest.display_webhooks import WebhookIntake, WebhookServer
    from tiktok_pipeline.settings import load_settings
    from tiktok_pipeline.settings.consent import load_consent_settings

    settings, consent = load_settings(), load_consent_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    intake = WebhookIntake(
        landing_dir=Path(settings.landing_dir),
        token_store_path=Path(settings.token_store_path),
        client_key=settings.display.client_key,
        client_secret=_client_secret(settings),
        tolerance_seconds=consent.display_webhook_tolerance_seconds,
    )
    replayed = intake.replay()
    server = WebhookServer(intake, host or consent.display_webhook_host, port, verbose=verbose)
    print(f"Display API webhook receiver at {server.url} ({replayed} landed revocations newly applied)", flush=True)
    return server.serve_until_interrupted()


def _client_secret(settings: Settings) -> str:
    """The app's client secret (TIKTOK_CLIENT_SECRET; the simulator's without one), never printed."""
    import os

    from tiktok_pipeline.settings import SettingsError

    if os.environ.get("TIKTOK_CLIENT_SECRET"):
        return os.environ["TIKTOK_CLIENT_SECRET"]
    if settings.uses_simulator:
        return "sim-secret"
    raise SettingsError(
        "TIKTOK_CLIENT_SECRET is not set: the webhook receiver needs the app's client secret to verify TikTok's"
        " signatures"
    )


def print_consent() -> int:
    """One JSON line per consent record (no token)."""
    from tiktok_pipeline.settings import load_settings
    from tiktok_pipeline.sources.display_api.consent import read_consent

    for record in read_consent(load_settings().token_store_path, datetime.now(UTC)):
        print(record.model_dump_json())
    return 0


def purge(creator: str, *, dry_run: bool) -> int:
    """Delete (or count) one creator's data and print table → rows. 2: no such creator, or their grant is active."""
    from tiktok_pipeline.governance.purge import GrantStillActiveError, UnknownCreatorError, purge_creator
    from tiktok_pipeline.ingest.registry import load_registry
    from tiktok_pipeline.settings import load_settings

    settings = load_settings()
    try:
        report = purge_creator(
            creator,
            target=settings.warehouse,
            token_store_path=settings.token_store_path,
            landing_dir=settings.landing_dir,
            state_dir=settings.polling_state_dir,
            dry_run=dry_run,
        )
    except (UnknownCreatorError, GrantStillActiveError) as exc:
        print(f"creators purge: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    try:
        listed = report.username in load_registry(settings.registry_path).usernames
    except Exception:  # an unreadable registry is reported by the pipeline itself
        listed = False
    if listed:
        print(
            f"note: {report.username} is still listed in the tracking registry {settings.registry_path}: remove them,"
            " or they are polled again once they authorise the app again"
        )
    return 0
