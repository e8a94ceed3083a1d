"""The merchandising feed pushed to a webhook over real HTTP (a loopback server checking the signature): a 500 then a
200 is delivered once, a re-run sends nothing, and the URL never reaches logs, metadata or tables."""

import json
import logging
import time

import polars as pl
import pytest

from tiktok_pipeline.activation.merchandising.files import JSON_NAME
from tiktok_pipeline.activation.merchandising.webhook import SIGNATURE_HEADER, VERSION_HEADER, verify_signature
from tiktok_pipeline.defs.merchandising.resources import MerchandisingResource
from tiktok_pipeline.settings import SettingsError
from tiktok_pipeline.warehouse.io import read_frame
from tiktok_pipeline.warehouse.tables import ALL_TABLES
from tiktok_pipeline_tests.activation_fixtures import plant
from tiktok_pipeline_tests.alerts.webhook_server import Reply, WebhookServer
from tiktok_pipeline_tests.alerts.webhook_server import server as server
from tiktok_pipeline_tests.conftest import T0, open_warehouse

from .test_activation_assets import FEED, run

PATH = "/hooks/merch-7f3a9c-secret-path"
KEY = "merch-signing-key-not-in-any-log"


def _all_text(settings) -> str:
    """Every table's rows as text."""
    with open_warehouse(settings) as connection:
        tables = {r[0] for r in connection.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        return "\n".join(
            str(read_frame(connection, f'SELECT * FROM "{spec.name}"').rows())
            for spec in ALL_TABLES
            if spec.name in tables
        )


@pytest.mark.both_backends
def test_the_feed_is_pushed_signed_once_after_a_500_and_never_again(
    settings, tmp_path, monkeypatch, server: WebhookServer, caplog, capfd
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TIKTOK_MERCH_WEBHOOK_URL", server.url(PATH))
    monkeypatch.setenv("TIKTOK_MERCH_WEBHOOK_SECRET", KEY)
    feed_settings = settings.replace(merchandising__feed_dir=tmp_path / "feed")
    with open_warehouse(feed_settings, read_only=False) as connection:
        plant(connection, T0)
    server.script(PATH, Reply(500, "oops"), Reply(200, "ok"))
    first = run(feed_settings, FEED, T0)
    assert first.success
    assert server.paths() == [PATH, PATH]  # the 500 retried, then delivered
    published = (feed_settings.merchandising.feed_dir / JSON_NAME).read_bytes()
    version = json.loads(published)["feed_version"]
    for request in server.requests:
        assert request.raw == published and request.headers[VERSION_HEADER] == version
        assert verify_signature(KEY, request.raw, request.headers[SIGNATURE_HEADER], now=time.time())
        assert not verify_signature("another key", request.raw, request.headers[SIGNATURE_HEADER], now=time.time())
    assert first.asset_materializations_for_node(FEED)[0].metadata["feed_pushed"].value == "delivered"

    again = run(feed_settings, FEED, T0)  # a re-run (or a backfill) of the same window: same version, not resent
    assert again.success
    assert len(server.requests) == 2
    assert again.asset_materializations_for_node(FEED)[0].metadata["feed_pushed"].value.startswith("not pushed")

    with open_warehouse(feed_settings) as connection:
        ledger = read_frame(connection, "SELECT * FROM merchandising_deliveries")
        calls = read_frame(connection, "SELECT * FROM api_call_log WHERE source = 'webhook'")
    assert ledger.select("feed_version", "status", "attempts", "http_status").rows() == [(version, "delivered", 2, 200)]
    assert calls.select("endpoint", "attempts", "http_status", "purpose").rows() == [
        ("merchandising", 2, 200, "merchandising feed")
    ]
    text = _all_text(feed_settings)
    metadata = str([m.metadata for r in (first, again) for m in r.asset_materializations_for_node(FEED)])
    logs = caplog.text + "".join(capfd.readouterr())
    for secret in ("merch-7f3a9c-secret-path", KEY):
        assert secret not in text and secret not in metadata and secret not in logs


@pytest.mark.both_backends
def test_a_refused_push_is_recorded_failed_and_pushed_again_by_the_next_run(
    settings, tmp_path, monkeypatch, server: WebhookServer
):
    monkeypatch.setenv("TIKTOK_MERCH_WEBHOOK_URL", server.url(PATH))
    monkeypatch.setenv("TIKTOK_MERCH_WEBHOOK_SECRET", KEY)
    feed_settings = settings.replace(merchandising__feed_dir=tmp_path / "feed")
    with open_warehouse(feed_settings, read_only=False) as connection:
        plant(connection, T0)
    server.script(PATH, Reply(400, f"bad request to {PATH}"), Reply(200, "ok"))
    assert run(feed_settings, FEED, T0).success  # the files are published whatever the webhook says
    assert len(server.requests) == 1  # a 400 is final
    with open_warehouse(feed_settings) as connection:
        failed = read_frame(connection, "SELECT status, last_error FROM merchandising_deliveries").row(0)
    assert failed[0] == "failed" and "HTTP 400" in failed[1] and "secret-path" not in failed[1]
    assert run(feed_settings, FEED, T0).success
    assert len(server.requests) == 2
    with open_warehouse(feed_settings) as connection:
        ledger = read_frame(connection, "SELECT status, attempts, last_error FROM merchandising_deliveries")
    assert ledger.select("status", "attempts").rows() == [("delivered", 2)]
    assert run(feed_settings, FEED, T0).success and len(server.requests) == 2
    assert "secret-path" not in _all_text(feed_settings)
    assert ledger.filter(pl.col("last_error").is_not_null()).is_empty()


def test_a_webhook_without_its_signing_key_is_refused_naming_both(settings, monkeypatch):
    monkeypatch.setenv("TIKTOK_MERCH_WEBHOOK_URL", "https://example.invalid/hook")
    monkeypatch.delenv("TIKTOK_MERCH_WEBHOOK_SECRET", raising=False)
    with pytest.raises(SettingsError, match="TIKTOK_MERCH_WEBHOOK_URL is set but TIKTOK_MERCH_WEBHOOK_SECRET") as error:
        MerchandisingResource.from_settings(settings)
    assert "example.invalid" not in str(error.value)
