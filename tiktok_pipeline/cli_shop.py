"""``tiktok-pipeline shop-webhooks serve`` and ``tiktok-pipeline shop-tokens add``: TikTok Shop's push receiver and the
shop's tokens (registered by :mod:`tiktok_pipeline.cli`). Light to import, like the CLI."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

SECRET_VARIABLE = "TIKTOK_SHOP_APP_SECRET"
SIMULATOR_APP_SECRET = "sim-shop-secret"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``shop-webhooks`` and ``shop-tokens`` commands."""
    hooks = sub.add_parser("shop-webhooks", help="receive TikTok Shop's pushes (order status changes)")
    hooks_sub = hooks.add_subparsers(dest="shop_webhooks_command", required=True)
    serve = hooks_sub.add_parser(
        "serve",
        help="serve the push receiver until Ctrl-C",
        description=(
            "Verifies each push's Authorization header (hex HMAC-SHA256 keyed with TIKTOK_SHOP_APP_SECRET over"
            " TIKTOK_SHOP_APP_KEY + the raw body, constant time; 401 on a bad one or on a timestamp further than"
            " TIKTOK_SHOP_WEBHOOK_TOLERANCE_SECONDS from now), lands it under TIKTOK_LANDING_DIR/shop_webhooks/ before"
            " answering 200, and counts duplicates (same tts_notification_id) once. shop_webhooks_sensor then polls"
            " the affected window."
        ),
    )
    serve.add_argument("--port", type=int, required=True, help="TCP port to listen on (0: any free port)")
    serve.add_argument("--host", help="interface (default: TIKTOK_SHOP_WEBHOOK_HOST, 127.0.0.1)")
    serve.add_argument("--verbose", action="store_true", help="log each request line (never headers or bodies)")
    tokens = sub.add_parser("shop-tokens", help="the shop's TikTok Shop tokens")
    tokens_sub = tokens.add_subparsers(dest="shop_tokens_command", required=True)
    tokens_sub.add_parser(
        "add",
        help="store TikTok Shop's token answer (JSON of /api/v2/token/get, read from standard input)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the parsed command (settings errors are reported by the caller)."""
    if args.command == "shop-webhooks":
        return serve(args.port, args.host, verbose=args.verbose)
    return add_tokens()


def app_secret() -> str:
    """TIKTOK_SHOP_APP_SECRET, or the simulator's when no Shop host is configured; never printed."""
    from tiktok_pipeline.settings import SettingsError
    from tiktok_pipeline.settings.shop import load_shop_settings

    if os.environ.get(SECRET_VARIABLE):
        return os.environ[SECRET_VARIABLE]
    if load_shop_settings().uses_simulator:
        return SIMULATOR_APP_SECRET
    raise SettingsError(f"{SECRET_VARIABLE} is not set: the push receiver needs the app secret to verify signatures")


def serve(port: int, host: str | None, *, verbose: bool) -> int:
    """Serve the receiver until interrupted."""
    import logging

    from tiktok_pipeline.ingest.shop_webhooks import ShopWebhookIntake, ShopWebhookServer
    from tiktok_pipeline.settings import load_settings

    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    intake = ShopWebhookIntake(
        landing_dir=Path(settings.landing_dir),
        app_key=settings.shop.app_key,
        app_secret=app_secret(),
        tolerance_seconds=settings.shop.webhook_tolerance_seconds,
    )
    server = ShopWebhookServer(intake, host or settings.shop.webhook_host, port, verbose=verbose)
    print(f"TikTok Shop push receiver at {server.url}", flush=True)
    return server.serve_until_interrupted()


def add_tokens() -> int:
    """Store the shop's tokens from TikTok Shop's token answer on standard input (never from argv)."""
    from pydantic import ValidationError

    from tiktok_pipeline.settings import load_settings
    from tiktok_pipeline.sources.shop_api.models import TokenAnswer
    from tiktok_pipeline.sources.shop_api.tokens import ShopTokens, ShopTokenStore

    store = ShopTokenStore(load_settings().shop_token_store_path)
    text = sys.stdin.read().strip()
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as exc:
        print(f"standard input is not JSON: {exc.msg} (at character {exc.pos})", file=sys.stderr)
        return 2
    if isinstance(answer, dict) and isinstance(answer.get("data"), dict):
        if answer.get("code") not in (0, None):
            print(f"that is TikTok Shop's refusal: code {answer.get('code')}, request_id={answer.get('request_id')}",
                  file=sys.stderr)  # fmt: skip
            return 2
        answer = answer["data"]
    try:
        tokens = ShopTokens.from_answer(TokenAnswer.model_validate(answer))
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        print(f"not TikTok Shop's token answer (bad or missing: {fields})", file=sys.stderr)
        return 2
    store.save(tokens)
    print(f"shop tokens stored in {store.path} (access until {tokens.access_expires_at:%Y-%m-%d %H:%M} UTC)")
    return 0
