"""``tiktok-sim``: serve the offline TikTok simulator (Display API and API for Business) over HTTP, or print ground truth.

``serve`` takes fault rates for both APIs: ``--fault-*`` for the Display API, ``--business-fault-*`` for the
API for Business (envelope codes 40100, 40700, 50000, 50002; a gateway's HTTP 504 with an HTML body; timeouts
before or after processing), and ``--events-invalid`` for what the Events API does with an invalid event
(``request``: refuse the whole request, TikTok's observed answer; ``partial``: list it in ``failed_events``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tiktok_pipeline.simulator.app import REFRESH_TOKEN_TTL, Simulator
from tiktok_pipeline.simulator.authorize import DEFAULT_REDIRECT_URIS
from tiktok_pipeline.simulator.business.app import DEFAULT_QPS, QPS_TIERS, BusinessFaultConfig
from tiktok_pipeline.simulator.business.attribution import ATTRIBUTION_DAYS
from tiktok_pipeline.simulator.faults import FaultConfig
from tiktok_pipeline.simulator.oauth import CODE_PREFIX
from tiktok_pipeline.simulator.provider.catalog import ProviderConfig
from tiktok_pipeline.simulator.server import SimulatorServer
from tiktok_pipeline.simulator.shop.app import ShopFaultConfig
from tiktok_pipeline.simulator.shop.pushes import ShopPushSender
from tiktok_pipeline.simulator.webhooks import WebhookSender
from tiktok_pipeline.simulator.world import World, WorldConfig


def _world_config(args: argparse.Namespace) -> WorldConfig:
    return WorldConfig(seed=args.seed, creators=args.creators, viral_share=args.viral_share)


def _zone(name: str) -> str:
    """An IANA time zone name (argparse type)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"{name!r} is not an IANA time zone (e.g. UTC, America/New_York)") from None
    return name


def _instant(text: str) -> datetime:
    """An ISO 8601 instant; naive means UTC, a trailing ``Z`` is accepted."""
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


BUSINESS_FAULTS = ("40100", "40700", "50000", "50002", "504", "timeout", "timeout_after")
"""The ``--business-fault-<name>`` flags: fields ``rate_<name>`` of :class:`BusinessFaultConfig`."""


def build_simulator(args: argparse.Namespace) -> Simulator:
    """The simulator ``serve`` runs, from its arguments (faults of both APIs, Events API behaviour)."""
    faults = FaultConfig(
        rate_429=args.fault_429,
        rate_5xx=args.fault_5xx,
        rate_timeout=args.fault_timeout,
        rate_malformed=args.fault_malformed,
        rate_short_page=args.short_pages,
        send_retry_after=args.retry_after,
        seed=args.seed,
    )
    business = BusinessFaultConfig(
        **{f"rate_{name}": getattr(args, f"business_fault_{name}") for name in BUSINESS_FAULTS}, seed=args.seed
    )
    simulator = Simulator(
        _world_config(args),
        faults,
        rate_limit=args.rate_limit,
        business_faults=business,
        business_qps=args.business_qps,
        advertiser_timezone=args.advertiser_timezone,
        refresh_token_ttl=round(args.refresh_token_days * 86400),
        redirect_uris=frozenset(args.redirect_uri or DEFAULT_REDIRECT_URIS),
        attribution_days=args.attribution_days,
        webhooks=WebhookSender(
            args.webhook_url,
            client_key=args.webhook_client_key,
            client_secret="sim-secret",
            duplicates=args.webhook_duplicates,
        )
        if args.webhook_url
        else None,
        provider=ProviderConfig(
            refresh_minutes=args.provider_refresh_minutes,
            creators=args.provider_creators,
            coverage=args.provider_coverage,
            requests_per_minute=args.provider_requests_per_minute,
        ),
    )
    simulator.shop.faults = ShopFaultConfig(
        rate_429=args.shop_fault_429, rate_500=args.shop_fault_500, rate_502=args.shop_fault_502, seed=args.seed
    )
    simulator.business.reporting.fall_back_rows = args.fall_back_rows
    simulator.business.events.invalid_events = args.events_invalid
    return simulator


def serve(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C, after printing the base URL and each creator's authorization code."""
    simulator = build_simulator(args)
    server = SimulatorServer(simulator, args.host, args.port, verbose=args.verbose)
    print(f"TikTok Display API simulator (seed {args.seed}) at {server.base_url}", flush=True)
    if args.shop_webhook_url:
        ShopPushSender(args.shop_webhook_url, simulator.shop.shop).run(args.shop_push_every)
    for creator in simulator.world.creators():
        print(f"  {creator.username}: authorization code {CODE_PREFIX}{creator.username}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def truth(args: argparse.Namespace) -> int:
    """Print a video's ground-truth counts at an instant as one JSON line."""
    at = _instant(args.at)
    world = World(_world_config(args))
    video = world.video(args.video_id)
    if video is None:
        print(f"video {args.video_id} does not exist in the world of seed {args.seed}", file=sys.stderr)
        return 1
    counts = world.counts(args.video_id, at.timestamp())
    record = {
        "video_id": video.id,
        "creator_username": video.creator_username,
        "create_time": video.create_time,
        "at": at.isoformat(),
        "is_viral": video.is_viral,
        "viral_onset": video.viral_onset,
        **asdict(counts),
    }
    print(json.dumps(record))
    return 0


BUSINESS_FAULT_HELP = {
    "40100": "code 40100 (too many requests)",
    "40700": "code 40700",
    "50000": "code 50000 (system error)",
    "50002": "code 50002 (system error)",
    "504": "a gateway's HTTP 504 with an HTML body, after processing",
    "timeout": "no answer, before processing",
    "timeout_after": "no answer, after processing",
}


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a share between 0 and 1, not {text}")
    return value


def parser() -> argparse.ArgumentParser:
    """The ``tiktok-sim`` argument parser."""
    root = argparse.ArgumentParser(prog="tiktok-sim", description=__doc__)
    world = argparse.ArgumentParser(add_help=False)
    world.add_argument("--seed", type=int, default=7)
    world.add_argument("--creators", type=int, default=6)
    world.add_argument("--viral-share", type=float, default=0.15)
    sub = root.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", parents=[world], help="serve the Display API on loopback until Ctrl-C")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8787)
    s.add_argument("--rate-limit", type=int, default=600, help="Display API requests per minute per endpoint")
    s.add_argument(
        "--business-qps",
        type=int,
        choices=QPS_TIERS,
        default=DEFAULT_QPS,
        help="API for Business requests per second of the app, all endpoints together (TikTok's tiers)",
    )
    s.add_argument(
        "--advertiser-timezone",
        type=_zone,
        default="UTC",
        help="IANA time zone of the simulated ad account (advertiser/info, report dates and hours)",
    )
    s.add_argument(
        "--fall-back-rows",
        choices=("merged", "separate"),
        default="merged",
        help="the repeated local hour of a DST fall-back: one row summing both hours, or two rows with one label",
    )
    for name in ("429", "5xx", "timeout", "malformed"):
        s.add_argument(
            f"--fault-{name}", type=float, default=0.0, help=f"share of requests (records) with {name} faults"
        )
    s.add_argument(
        "--retry-after", action="store_true", help="send Retry-After with 429s (TikTok's docs mention no header)"
    )
    s.add_argument("--short-pages", type=float, default=0.25, help="share of video/list pages cut short (has_more)")
    s.add_argument(
        "--refresh-token-days",
        type=float,
        default=REFRESH_TOKEN_TTL / 86400,
        help="refresh token horizon from the authorization (TikTok: 180 days; older docs 365)",
    )
    s.add_argument(
        "--webhook-url",
        help="the app's Display API webhook URL: authorization.removed is delivered there, signed with sim-secret,"
        " when a creator disconnects the app (POST /sim/deauthorize/ username=...) or the app revokes a token",
    )
    s.add_argument(
        "--webhook-duplicates", type=int, default=1, help="extra deliveries of each webhook event (at least once: 1)"
    )
    s.add_argument("--webhook-client-key", default="sim-client", help="client_key the webhook events carry")
    s.add_argument(
        "--shop-webhook-url",
        help="TikTok Shop push URL (tiktok-pipeline shop-webhooks serve): every --shop-push-every seconds the order"
        " status changes of that span are pushed, signed with sim-shop-secret, at least once (duplicates, retries)",
    )
    s.add_argument("--shop-push-every", type=float, default=60.0, help="seconds between Shop push rounds")
    s.add_argument("--shop-fault-429", type=_share, default=0.0, help="share of Shop calls rate limited (HTTP 429)")
    s.add_argument("--shop-fault-500", type=_share, default=0.0, help="share of Shop calls answered system error")
    s.add_argument("--shop-fault-502", type=_share, default=0.0, help="share of Shop calls answered a gateway's 502")
    s.add_argument(
        "--redirect-uri", action="append", help=f"registered redirect URI (repeatable; default {DEFAULT_REDIRECT_URIS})"
    )
    for name in BUSINESS_FAULTS:
        s.add_argument(
            f"--business-fault-{name.replace('_', '-')}",
            dest=f"business_fault_{name}",
            type=_share,
            default=0.0,
            help=f"API for Business: share of requests answered with {BUSINESS_FAULT_HELP[name]}",
        )
    s.add_argument(
        "--events-invalid",
        choices=("request", "partial"),
        default="request",
        help="Events API, one invalid event: refuse the whole request with 40002 (request, TikTok's observed"
        " answer, the default) or list it in data.failed_events and keep the others (partial, undocumented)",
    )
    s.add_argument(
        "--attribution-days",
        type=float,
        default=ATTRIBUTION_DAYS,
        help="days after an hour during which ad reports keep revising its conversions (at most 28)",
    )
    s.add_argument(
        "--provider-refresh-minutes",
        type=float,
        default=15.0,
        help="analytics provider (/api/v2/): minutes between its crawls of a creator (its data's refresh interval)",
    )
    s.add_argument(
        "--provider-creators", type=int, default=12, help="analytics provider: creators it covers (world indices)"
    )
    s.add_argument("--provider-coverage", type=_share, default=0.8, help="analytics provider: share of videos listed")
    s.add_argument(
        "--provider-requests-per-minute", type=int, default=120, help="analytics provider: the account's rate limit"
    )
    s.add_argument("--verbose", action="store_true", help="log every request to stderr")
    t = sub.add_parser("truth", parents=[world], help="print a video's ground-truth counts at an instant")
    t.add_argument("--video-id", required=True)
    t.add_argument("--at", required=True, help="ISO 8601 instant, e.g. 2026-11-24T12:00:00Z")
    return root


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tiktok-sim`` console script."""
    args = parser().parse_args(argv)
    return serve(args) if args.command == "serve" else truth(args)


if __name__ == "__main__":
    sys.exit(main())
