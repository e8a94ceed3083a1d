"""TikTok Shop pushes over real HTTP: the simulator delivers signed order changes at least once (duplicates, retries
after a refusal) to the receiver, which lands each once; a forged push is refused and lands nothing; the receiver
command killed with SIGKILL right after answering 200 has the push on disk; the push sensor then requests the window."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.shop.sensors import shop_webhooks_sensor as sensor
from tiktok_pipeline.ingest.landing import read_landing
from tiktok_pipeline.ingest.shop_webhooks import LANDING_SOURCE, ShopWebhookIntake, ShopWebhookServer
from tiktok_pipeline.simulator.shop.app import SIM_APP_KEY, SIM_APP_SECRET
from tiktok_pipeline.simulator.shop.catalog import ShopWorld
from tiktok_pipeline.simulator.shop.pushes import ShopPushSender, push_signature
from tiktok_pipeline.simulator.world import World, WorldConfig
from tiktok_pipeline.windows import latest_closed_window, window_containing, window_key
from tiktok_pipeline_tests.pipeline_env import pipeline_env


class Flaky(ShopWebhookIntake):
    """Answers every third delivery 503 before looking at it (a receiver behind a busy proxy): the sender retries."""

    def handle(self, signature: str | None, body: bytes) -> tuple[int, str]:
        self.stats["deliveries"] += 1
        if self.stats["deliveries"] % 3 == 0:
            return 503, "busy"
        return super().handle(signature, body)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, ShopWebhookIntake]]:
    intake = Flaky(tmp_path / "landing", SIM_APP_KEY, SIM_APP_SECRET)
    server = ShopWebhookServer(intake, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url, intake
    finally:
        server.shutdown()
        server.server_close()


def landed(landing: Path) -> list[Path]:
    return sorted((landing / LANDING_SOURCE).glob("*/*.jsonl.gz"))


def test_pushes_delivered_at_least_once_land_once_each(receiver, tmp_path):
    url, intake = receiver
    sender = ShopPushSender(url, ShopWorld(World(WorldConfig(seed=7))), duplicates=2, retry_seconds=0.01)
    now = time.time()
    delivered = sender.deliver_changes(now - 300, now)
    assert delivered > 5
    files = landed(tmp_path / "landing")
    ids = {read_landing(p)[0]["tts_notification_id"] for p in files}
    assert len(files) == len(ids) == delivered  # each notification once
    assert intake.stats["received"] == 3 * delivered and intake.stats["duplicates"] == 2 * delivered
    assert sender.stats["sent"] == 3 * delivered and sender.stats["failed"] == 0
    assert sender.stats["attempts"] > sender.stats["sent"]  # refused deliveries were retried


def test_a_forged_push_is_refused_over_http_and_nothing_lands(receiver, tmp_path):
    url, intake = receiver
    body = json.dumps({"type": 1, "tts_notification_id": "n-forged", "shop_id": "1", "timestamp": int(time.time()),
                       "data": {"order_id": "1", "update_time": int(time.time())}}).encode()  # fmt: skip
    for headers in ({}, {"Authorization": push_signature(SIM_APP_KEY, "guessed", body)}):
        assert httpx.post(url, content=body, headers=headers).status_code == 401
    assert intake.stats["rejected"] == 2 and not landed(tmp_path / "landing")


def test_the_receiver_command_killed_after_answering_200_loses_nothing_and_the_sensor_requests_the_window(tmp_path):
    env = pipeline_env(tmp_path)
    landing = Path(env["TIKTOK_LANDING_DIR"])
    now = datetime.now(UTC)
    changed = int((latest_closed_window(now)).timestamp()) + 30  # a change in the latest closed window
    body = json.dumps({"type": 1, "tts_notification_id": "570001-1", "shop_id": "7494", "timestamp": int(time.time()),
                       "data": {"order_id": "570001", "order_status": "CANCELLED", "update_time": changed}}).encode()  # fmt: skip

    def start() -> tuple[subprocess.Popen[str], str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "tiktok_pipeline.cli", "shop-webhooks", "serve", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = process.stdout.readline() if process.stdout else ""
        assert "push receiver at http://" in line, line
        return process, line.split(" at ", 1)[1].strip()

    process, url = start()
    try:
        signed = {"Authorization": push_signature(SIM_APP_KEY, SIM_APP_SECRET, body)}
        assert httpx.post(url, content=body, headers=signed).status_code == 200
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        (path,) = landed(landing)
        assert read_landing(path)[0]["data"]["order_status"] == "CANCELLED"
        process, url = start()  # TikTok's redelivery to a restarted receiver: a duplicate, still one file
        assert httpx.post(url, content=body, headers=signed).json()["message"] == "duplicate"
        assert len(landed(landing)) == 1
    finally:
        process.kill()
        process.wait(10)

    from tiktok_pipeline.settings import Settings

    settings = Settings(landing_dir=landing, warehouse_path=tmp_path / "w.duckdb", token_store_path=tmp_path / "t.json")
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    time.sleep(1.1)  # the sensor reads files older than a second (a file renamed in the same instant is not skipped)
    context = dg.build_sensor_context(
        instance=instance, cursor=None, resources={"shop_api": defs.resources["shop_api"]}
    )
    result = sensor(context)
    key = window_key(window_containing(datetime.fromtimestamp(changed, UTC)))
    assert [r.partition_key for r in result.run_requests] == [key]
    assert result.run_requests[0].run_config["ops"]["raw_shop_orders"]["config"] == {"recollect": True}
    again = sensor(
        dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"shop_api": defs.resources["shop_api"]}
        )
    )
    assert not again.run_requests  # counted once


def test_the_poll_sensor_requests_each_closed_window_once():
    from tiktok_pipeline.defs.shop.sensors import shop_orders_tick

    now = datetime(2026, 11, 20, 10, 7, tzinfo=UTC)
    instance = dg.DagsterInstance.ephemeral()
    first = shop_orders_tick(dg.build_sensor_context(instance=instance), now)
    assert isinstance(first, dg.SensorResult)
    (request,) = first.run_requests or []
    assert (request.partition_key, request.run_key, first.cursor) == (
        "2026-11-20-10:00",
        "shop-2026-11-20-10:00",
        "2026-11-20-10:00",
    )
    assert isinstance(
        shop_orders_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor), now), dg.SkipReason
    )
