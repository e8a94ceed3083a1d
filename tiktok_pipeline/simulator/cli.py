"""``tiktok-sim``: serve the offline TikTok simulator over HTTP, or print ground truth."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from .app import CODE_PREFIX, Simulator
from .faults import FaultConfig
from .server import make_server
from .world import World, WorldConfig


def _world(args: argparse.Namespace) -> WorldConfig:
    return WorldConfig(seed=args.seed, creators=args.creators, viral_share=args.viral_share)


def serve(args: argparse.Namespace) -> int:
    faults = FaultConfig(
        rate_429=args.fault_429,
        rate_5xx=args.fault_5xx,
        rate_timeout=args.fault_timeout,
        rate_malformed=args.fault_malformed,
        send_retry_after=not args.no_retry_after,
        seed=args.seed,
    )
    simulator = Simulator(_world(args), faults, rate_limit=args.rate_limit)
    server = make_server(simulator, args.host, args.port, verbose=args.verbose)
    print(f"TikTok simulator (seed {args.seed}) at http://{args.host}:{server.server_address[1]}", flush=True)
    for creator in simulator.world.creators():
        print(f"  creator {creator.username}: authorization code {CODE_PREFIX}{creator.username}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def truth(args: argparse.Namespace) -> int:
    at = datetime.fromisoformat(args.at.replace("Z", "+00:00"))
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    world = World(_world(args))
    video = world.video(args.video_id)
    if video is None:
        print(f"video {args.video_id} does not exist in the world of seed {args.seed}", file=sys.stderr)
        return 1
    counts = world.counts(args.video_id, at.timestamp())
    print(json.dumps({"video_id": args.video_id, "creator": video.creator_username, "at": at.isoformat(),
                      "is_viral": video.is_viral, **counts.__dict__}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tiktok-sim", description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--creators", type=int, default=6)
    parser.add_argument("--viral-share", type=float, default=0.15)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the Display API on loopback until Ctrl-C")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8787)
    s.add_argument("--rate-limit", type=int, default=600, help="requests per minute per endpoint")
    for name in ("429", "5xx", "timeout", "malformed"):
        s.add_argument(f"--fault-{name}", type=float, default=0.0, help=f"share of {name} faults")
    s.add_argument("--no-retry-after", action="store_true", help="send 429s without Retry-After")
    s.add_argument("--verbose", action="store_true", help="log every request")
    t = sub.add_parser("truth", help="print a video's ground-truth counts at an instant")
    t.add_argument("--video-id", required=True)
    t.add_argument("--at", required=True, help="ISO 8601 instant, e.g. 2026-11-24T12:00:00Z")
    args = parser.parse_args(argv)
    return serve(args) if args.command == "serve" else truth(args)


if __name__ == "__main__":
    sys.exit(main())
