"""Consent and revocation over real HTTP: an invalid_grant before the horizon is a revocation (record + alert); a
revoked creator is never asked about again; the served simulator delivers ``authorization.removed`` (signed,
duplicated) to the served receiver, and the polling sensor's next tick leaves the creator out; the receiver command
killed right after answering 200 has lost nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
import pytest

from tiktok_pipeline.activation.alerts.compose import consent_alert
from tiktok_pipeline.activation.alerts.triggers import AlertCursor, AlertTick, TokenWatch, token_requests
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.ingest.display_webhooks import LANDING_SOURCE, WebhookIntake, WebhookServer
from tiktok_pipeline.ingest.landing import landing_path, read_landing
from tiktok_pipeline.simulator.app import DEAUTHORIZE_PATH, Simulator
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.webhooks import WebhookSender
from tiktok_pipeline.simulator.world import WorldConfig
from tiktok_pipeline.sources.display_api.calls import ReauthorizationRequired
from tiktok_pipeline.sources.display_api.consent import REVOKED, ConsentLedger, read_consent
from tiktok_pipeline.sources.display_api.tokens import TokenStore
from tiktok_pipeline.sources.display_api.webhooks import sign
from tiktok_pipeline.windows import window_from_key
from tiktok_pipeline_tests.conftest import T0
from tiktok_pipeline_tests.display_api.test_client_http import Clock, make_client, user_info
from tiktok_pipeline_tests.pipeline_env import pipeline_env
from tiktok_pipeline_tests.test_assets import materialize_range
from tiktok_pipeline_tests.test_consent_purge import next_tick_plan

HOUR = 3600


def alert_keys(store_path: Path, now: datetime) -> list[dg.RunRequest]:
    tick = AlertTick(AlertCursor())
    token_requests(TokenWatch(store_path, timedelta(days=30)), tick, now)
    return tick.requests


def test_an_invalid_grant_before_the_horizon_is_a_revoked_record_and_an_alert(tmp_path):
    clock = Clock()
    sim = Simulator(WorldConfig(seed=7), clock=clock.epoch, access_token_ttl=HOUR)
    username = sim.world.creators()[0].username
    with serve_in_thread(sim) as url, make_client(url, tmp_path, clock=clock) as client:
        user_info(client, username)
        httpx.post(url + DEAUTHORIZE_PATH, data={"username": username}).raise_for_status()  # no webhook configured
        clock.now += 2 * HOUR  # the access token is due: the refresh is refused
        with pytest.raises(ReauthorizationRequired, match="invalid_grant"):
            user_info(client, username)
        (record,) = read_consent(client.tokens.path, clock.dt())
        assert (
            record.status == REVOKED and record.revoked_via == "invalid_grant" and record.creator_username == username
        )
        assert "invalid_grant" in (record.revoked_reason or "") and "log_id=" in (record.revoked_reason or "")
        requests = alert_keys(client.tokens.path, clock.dt())
        assert [r.run_key for r in requests] == [f"token:{username}:refused:{client.tokens.get(username).reauthorize}"]
        config = requests[0].run_config["ops"]["compose_alert"]["config"]
        assert config["creator"] == username and "act." not in json.dumps(config)


def test_an_invalid_grant_after_the_horizon_needs_reauthorisation_and_is_no_revocation(tmp_path):
    clock = Clock()
    sim = Simulator(WorldConfig(seed=7), clock=clock.epoch, access_token_ttl=HOUR, refresh_token_ttl=3 * HOUR)
    username = sim.world.creators()[0].username
    with serve_in_thread(sim) as url, make_client(url, tmp_path, clock=clock) as client:
        user_info(client, username)
        clock.now += 4 * HOUR
        with pytest.raises(ReauthorizationRequired, match="invalid_grant"):
            user_info(client, username)
        (record,) = read_consent(client.tokens.path, clock.dt())
        assert record.status == "reauthorize-needed" and record.revoked_at is None
        assert not ConsentLedger.beside(client.tokens.path).revocations()


def test_a_revoked_creator_is_never_asked_about_nor_authorised_unattended(tmp_path):
    sim = Simulator(WorldConfig(seed=7))
    username = sim.world.creators()[0].username
    with serve_in_thread(sim) as url, make_client(url, tmp_path) as client:
        user_info(client, username)
        client.revoke(username)  # tokens revoke: at TikTok, then recorded
        asked = sum(sim.stats.values())
        for _ in range(2):  # the simulator's unattended code would authorise again: refused before any request
            with pytest.raises(ReauthorizationRequired, match="authorization_removed"):
                user_info(client, username)
        assert sum(sim.stats.values()) == asked
        (record,) = read_consent(client.tokens.path, datetime.now(UTC))
        assert (
            record.status == REVOKED and record.revoked_via == "tokens revoke" and client.tokens.get(username) is None
        )
        [request] = alert_keys(client.tokens.path, datetime.now(UTC))
        config = request.run_config["ops"]["compose_alert"]["config"]
        assert request.run_key.startswith(f"consent:{record.open_id}:revoked:") and config["creator"] == username
        alert = consent_alert(
            creator=username,
            revoked_at=datetime.fromisoformat(config["expires_at"]),
            why=config["description"],
            ui_url="http://ui",
            now=datetime.now(UTC),
        )
        assert username in alert.title and f"creators purge {username}" in alert.summary
        assert "tokens revoke" in alert.summary


def test_a_refresh_keeps_when_the_grant_was_given(tmp_path):
    clock = Clock()
    sim = Simulator(WorldConfig(seed=7), clock=clock.epoch, access_token_ttl=3600)
    username = sim.world.creators()[0].username
    with serve_in_thread(sim) as url, make_client(url, tmp_path, clock=clock) as client:
        user_info(client, username)
        granted = client.tokens.get(username).granted_at
        assert granted is not None and abs(granted - clock.dt()) < timedelta(seconds=1)
        clock.now += 2 * 3600
        user_info(client, username)  # refreshed
        assert client.stats["token_refreshes"] == 1 and client.tokens.get(username).granted_at == granted


@contextmanager
def receiver(settings, **kwargs) -> Iterator[tuple[WebhookServer, str]]:
    intake = WebhookIntake(
        landing_dir=settings.landing_dir,
        token_store_path=settings.token_store_path,
        client_key="sim-client",
        client_secret="sim-secret",
        **kwargs,
    )
    server = WebhookServer(intake, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, server.url
    finally:
        server.shutdown()
        server.server_close()


def test_the_simulator_delivers_the_webhook_the_receiver_records_it_and_the_next_tick_skips_the_creator(settings):
    with receiver(settings) as (server, hook_url):
        sender = WebhookSender(hook_url, client_key="sim-client", client_secret="sim-secret", duplicates=2)
        sim = Simulator(WorldConfig(seed=settings.sim_seed), webhooks=sender)
        with serve_in_thread(sim) as url:
            served = settings.replace(display__api_base_url=url, display__api_is_simulator=True)
            assert materialize_range(served, T0, T0).success  # every creator authorised, tokens stored
            creators = sorted(TokenStore(served.token_store_path).all())
            gone = creators[0]
            httpx.post(url + DEAUTHORIZE_PATH, data={"username": gone}).raise_for_status()
            sender.wait()
            assert sender.stats["sent"] == 3
            assert server.intake.stats["received"] == 3 and server.intake.stats["duplicates"] == 2
            assert server.intake.stats["revocations"] == 1
            assert len(list((served.landing_dir / LANDING_SOURCE).glob("*/*.jsonl.gz"))) == 1
            status = {r.creator_username: r.status for r in read_consent(served.token_store_path, datetime.now(UTC))}
            assert status[gone] == REVOKED and {s for c, s in status.items() if c != gone} == {"active"}

            request, plan = next_tick_plan(build_definitions(served))
            assert gone not in plan["discover"] and gone not in plan["videos"]
            assert set(plan["discover"]) == set(creators) - {gone}  # no polling state yet: the others discovered
            key = request.partition_key
            assert materialize_range(served, *[window_from_key(key)] * 2, run_config=request.run_config).success
            records = read_landing(landing_path(served.landing_dir, "display_api", window_from_key(key)))
            assert records and {r["username"] for r in records} == set(creators) - {gone}


def test_the_receiver_command_killed_after_answering_200_loses_nothing(tmp_path):
    """The real command in its own process: a signed delivery answered 200, then SIGKILL at once; the landed
    event and the revocation are on disk, and a restarted receiver counts the redelivery as a duplicate."""
    env = pipeline_env(tmp_path)
    landing, tokens = Path(env["TIKTOK_LANDING_DIR"]), Path(env["TIKTOK_TOKEN_STORE_PATH"])
    body = json.dumps(
        {
            "client_key": "sim-client",
            "event": "authorization.removed",
            "create_time": int(time.time()),
            "user_openid": "oid-unknown-creator",
            "content": json.dumps({"reason": 2}),
        }
    ).encode()

    def start() -> tuple[subprocess.Popen[str], str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "tiktok_pipeline.cli", "display-webhooks", "serve", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = process.stdout.readline() if process.stdout else ""
        assert "webhook receiver at http://" in line, line
        return process, line.split(" at ", 1)[1].split(" ", 1)[0]

    process, url = start()
    try:
        answer = httpx.post(url, content=body, headers={"TikTok-Signature": sign("sim-secret", int(time.time()), body)})
        assert answer.status_code == 200
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        (landed,) = (landing / LANDING_SOURCE).glob("*/*.jsonl.gz")
        assert read_landing(landed)[0]["user_openid"] == "oid-unknown-creator"
        (revoked,) = ConsentLedger.beside(tokens).revocations().values()
        assert revoked.via == "webhook" and "deleted" in revoked.reason
        bad = httpx.post  # a restarted receiver: the redelivery is a duplicate, a forged one is refused
        process, url = start()
        assert (
            bad(url, content=body, headers={"TikTok-Signature": sign("wrong", int(time.time()), body)}).status_code
            == 401
        )
        again = bad(url, content=body, headers={"TikTok-Signature": sign("sim-secret", int(time.time()), body)})
        assert again.status_code == 200
        assert len(list((landing / LANDING_SOURCE).glob("*/*.jsonl.gz"))) == 1
    finally:
        process.kill()
        process.wait(10)
