"""``tiktok-sim``: serve the offline TikTok Display API simulator over HTTP, or print ground truth."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime

from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.attribution import ATTRIBUTION_DAYS
from tiktok_pipeline.simulator.faults import FaultConfig
from tiktok_pipeline.simulator.oauth import CODE_PREFIX
from tiktok_pipeline.simulator.server import SimulatorServer
from tiktok_pipeline.simulator.world import World, WorldConfig


def _world_config(args: argparse.Namespace) -> WorldConfig:
    return WorldConfig(seed=args.seed, creators=args.creators, viral_share=args.viral_share)


def _instant(text: str) -> datetime:
    """An ISO 8601 instant; naive means UTC, a trailing ``Z`` is accepted."""
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def serve(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C, after printing the base URL and each creator's authorization code."""
    faults = FaultConfig(
        rate_429=args.fault_429,
        rate_5xx=args.fault_5xx,
        rate_timeout=args.fault_timeout,
        rate_malformed=args.fault_malformed,
        send_retry_after=not args.no_retry_after,
        seed=args.seed,
    )
    simulator = Simulator(
        _world_config(args), faults, rate_limit=args.rate_limit, attribution_days=args.attribution_days
    )
    server = SimulatorServer(simulator, args.host, args.port, verbose=args.verbose)
    print(f"TikTok Display API simulator (seed {args.seed}) at {server.base_url}", flush=True)
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
    s.add_argument("--rate-limit", type=int, default=600, help="requests per minute per endpoint")
    for name in ("429", "5xx", "timeout", "malformed"):
        s.add_argument(
            f"--fault-{name}", type=float, default=0.0, help=f"share of requests (records) with {name} faults"
        )
    s.add_argument("--no-retry-after", action="store_true", help="send 429s without Retry-After")
    s.add_argument(
        "--attribution-days",
        type=float,
        default=ATTRIBUTION_DAYS,
        help="days after an hour during which ad reports keep revising its conversions (at most 28)",
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
