"""``tiktok-pipeline pacing revert <change_id>``: undo one applied budget change, exactly once (registered by
:mod:`tiktok_pipeline.cli`). Light to import, like the CLI."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``pacing`` command."""
    pacing = sub.add_parser("pacing", help="budget pacing: undo an applied budget change")
    pacing_sub = pacing.add_subparsers(dest="pacing_command", required=True)
    revert = pacing_sub.add_parser(
        "revert",
        help="set an ad group's budget back to what it was before a change of budget_changes (exactly once, logged)",
        description=(
            "Queues one revert row 'revert-<change_id>' in budget_changes (before and after swapped) and sends it"
            " through adgroup/budget/update; once answered, the change's reverted_by names it. Running it again"
            " sends nothing. Exit status 2 when the change does not exist or was not applied."
        ),
    )
    revert.add_argument("change_id", help="budget_changes.change_id of the applied change")


def run(args: argparse.Namespace) -> int:
    """Revert the change; print the revert's id and what happened."""
    from tiktok_pipeline.activation.pacing.outbox import revert
    from tiktok_pipeline.defs.resources import BusinessApiResource
    from tiktok_pipeline.settings import load_settings
    from tiktok_pipeline.sources.http.calllog import CallBuffer, call_context, recording
    from tiktok_pipeline.warehouse.call_spool import record_command_calls
    from tiktok_pipeline.warehouse.io import connect

    settings = load_settings()
    target = settings.warehouse
    if not target.is_lake and target.path is not None and not target.path.exists():
        print(f"pacing revert: no warehouse at {target.path}: no budget change was ever queued", file=sys.stderr)
        return 2
    business = BusinessApiResource.from_settings(settings).process_config_and_initialize()
    calls = CallBuffer()
    try:
        with (
            recording(calls),
            call_context(source="business_reporting", purpose="budget pacing revert", subject=business.advertiser_id),
            business.client() as client,  # the warehouse is opened per transaction, never held during a request
        ):
            revert_id, outcomes = revert(
                lambda: connect(settings.warehouse, purpose="pacing revert"),
                client,
                business.advertiser_id,
                args.change_id,
                now=datetime.now(UTC),
            )
    except ValueError as exc:
        print(f"pacing revert: {exc}", file=sys.stderr)
        return 2
    finally:  # the calls made (read-back, the update), answered or not, in api_call_log (or its spool)
        record_command_calls(calls, settings.warehouse, settings.landing_dir, command="pacing revert").tell(
            "pacing revert"
        )
    done = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())) or "already settled, nothing sent"
    print(f"{revert_id}: {done}")
    return 1 if outcomes.get("failed") else 0
