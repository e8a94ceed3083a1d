"""The TikTok Shop push receiver (no sockets): signatures, stale timestamps, duplicates, quarantine; and what the push
sensor makes of the landed notifications."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tiktok_pipeline.ingest.landing import read_landing
from tiktok_pipeline.ingest.polling.shop import PushCursor, decide_push_windows
from tiktok_pipeline.ingest.shop_webhooks import LANDING_SOURCE, MAX_BODY_BYTES, QUARANTINE_SOURCE, ShopWebhookIntake
from tiktok_pipeline.sources.shop_api.signing import push_signature

KEY, SECRET = "app-key", "app-secret"
NOW = datetime(2026, 11, 20, 10, 7, 30, tzinfo=UTC)


def body(notification_id: str = "n-1", *, timestamp: float | None = None, changed: int | None = None) -> bytes:
    stamp = int(NOW.timestamp() if timestamp is None else timestamp)
    data = {"order_id": "570001", "order_status": "AWAITING_SHIPMENT", "update_time": changed or stamp - 60}
    return json.dumps({"type": 1, "tts_notification_id": notification_id, "shop_id": "7494",
                       "timestamp": stamp, "data": data}).encode()  # fmt: skip


def intake(tmp_path: Path) -> ShopWebhookIntake:
    return ShopWebhookIntake(tmp_path / "landing", KEY, SECRET, clock=NOW.timestamp)


def landed(tmp_path: Path, source: str = LANDING_SOURCE) -> list[Path]:
    return sorted((tmp_path / "landing" / source).glob("*/*.jsonl.gz"))


@pytest.mark.parametrize(
    "signature",
    [None, "", "0" * 64, push_signature(KEY, "wrong-secret", body()), push_signature("other-app", SECRET, body())],
)
def test_a_bad_signature_is_refused_and_nothing_is_landed(tmp_path, signature):
    receiver = intake(tmp_path)
    assert receiver.handle(signature, body())[0] == 401
    assert receiver.stats["rejected"] == 1 and not (tmp_path / "landing").exists()


@pytest.mark.parametrize("skew", [-301, 301, -86_400])
def test_a_stale_timestamp_is_refused_and_nothing_is_landed(tmp_path, skew):
    receiver = intake(tmp_path)
    stale = body(timestamp=NOW.timestamp() + skew)
    assert receiver.handle(push_signature(KEY, SECRET, stale), stale)[0] == 401
    assert receiver.stats["stale"] == 1 and not landed(tmp_path)


def test_a_notification_is_landed_once_and_duplicates_are_counted_once(tmp_path):
    receiver = intake(tmp_path)
    signed = push_signature(KEY, SECRET, body())
    answers = [receiver.handle(signed, body()) for _ in range(3)]
    assert answers == [(200, "ok"), (200, "duplicate"), (200, "duplicate")]
    (path,) = landed(tmp_path)
    (record,) = read_landing(path)
    assert record["tts_notification_id"] == "n-1" and record["data"]["order_id"] == "570001"
    assert receiver.stats["landed"] == 1 and receiver.stats["duplicates"] == 2
    other = body("n-2")
    assert receiver.handle(push_signature(KEY, SECRET, other), other) == (200, "ok")
    assert len(landed(tmp_path)) == 2


def test_a_signed_body_that_is_not_a_notification_is_quarantined(tmp_path):
    receiver = intake(tmp_path)
    for junk in (b"not json", json.dumps({"type": 1, "tts_notification_id": "../../etc"}).encode()):
        assert receiver.handle(push_signature(KEY, SECRET, junk), junk) == (200, "quarantined")
    assert not landed(tmp_path) and len(landed(tmp_path, QUARANTINE_SOURCE)) == 2


def test_a_body_too_large_is_refused(tmp_path):
    big = b"x" * (MAX_BODY_BYTES + 1)
    assert intake(tmp_path).handle(push_signature(KEY, SECRET, big), big)[0] == 413


def test_the_sensor_decision_waits_for_the_window_to_close_then_requests_it_once(tmp_path):
    receiver = intake(tmp_path)
    window = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)
    changed = int(window.timestamp()) + 100  # a change inside the open window 10:05
    for n in ("a", "b"):
        pushed = body(n, changed=changed)
        assert receiver.handle(push_signature(KEY, SECRET, pushed), pushed)[0] == 200
    for path in landed(tmp_path):
        os.utime(path, ns=(int((NOW.timestamp() - 5) * 1e9),) * 2)
    first = decide_push_windows(tmp_path / "landing", PushCursor(), NOW)
    assert first.windows == [] and first.cursor.pending == ["2026-11-20-10:05"] and first.notifications == 2
    later = NOW + timedelta(minutes=3)  # 10:10:30: the window has closed
    second = decide_push_windows(tmp_path / "landing", PushCursor.parse(first.cursor.dump()), later)
    assert second.windows == ["2026-11-20-10:05"] and second.cursor.pending == [] and second.notifications == 0
    third = decide_push_windows(tmp_path / "landing", second.cursor, later)
    assert third.windows == []


def test_the_shop_sensors_are_on_with_a_shop_host_or_the_simulator_throughout(monkeypatch):
    from tiktok_pipeline.defs.shop.resources import ShopApiResource
    from tiktok_pipeline.settings import Settings, SettingsError

    monkeypatch.delenv("TIKTOK_SHOP_APP_SECRET", raising=False)
    assert Settings().shop_sensor_on  # the embedded simulator for everything
    real_creators = Settings().replace(display__api_base_url="https://open.tiktokapis.com")
    assert not real_creators.shop_sensor_on  # never simulated sales beside real creators
    real_shop = real_creators.replace(shop__api_base_url="https://open-api.tiktokglobalshop.com")
    assert real_shop.shop_sensor_on and real_shop.shop_base_url == "https://open-api.tiktokglobalshop.com"
    with pytest.raises(SettingsError, match="TIKTOK_SHOP_APP_SECRET is not set"):
        ShopApiResource.from_settings(real_shop)
    monkeypatch.setenv("TIKTOK_SHOP_APP_SECRET", "from-the-environment")
    resource = ShopApiResource.from_settings(real_shop)
    assert not resource.simulator and "from-the-environment" not in resource.model_dump_json()  # an EnvVar
