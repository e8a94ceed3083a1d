"""Every outbound call is a row of ``api_call_log`` (issue 15, "Every call is logged"), over real HTTP.

A window run against the served simulator writes one row per logical call (source, endpoint, purpose,
status, the creator it concerned) with the raw step's tables, and no token appears anywhere in the table;
a 429 answered once, then a success, is one row with ``attempts == 2``; an alert sent to Slack and Teams
records ``slack`` / ``teams`` as the endpoint, never the webhook URL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg
import duckdb
import httpx
import polars as pl

from tiktok_pipeline.activation.alerts.delivery import AlertSender, Destination
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.ingest.landing import read_landing
from tiktok_pipeline.ingest.registry import load_registry
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.sources.http.calllog import call_context, recording
from tiktok_pipeline.warehouse.call_log import write_calls
from tiktok_pipeline.windows import WINDOW, window_key
from tiktok_pipeline_tests.alerts.test_delivery import FakeTime
from tiktok_pipeline_tests.alerts.test_formatting import make_alert
from tiktok_pipeline_tests.alerts.webhook_server import Reply, WebhookServer, server  # noqa: F401 - a fixture
from tiktok_pipeline_tests.conftest import T0
from tiktok_pipeline_tests.test_assets import read


class ThrottledOnce(Simulator):
    """The simulator, except that the first video/list request is answered 429 (``Retry-After: 0``)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.throttled = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/video/list/" and not self.throttled:
            self.throttled += 1
            body = {"data": {}, "error": {"code": "rate_limit_exceeded", "message": "slow", "log_id": "L429"}}
            return httpx.Response(429, json=body, headers={"Retry-After": "0"})
        return super().handle(request)


def _secrets(tokens_file) -> list[str]:
    """Every access and refresh token the token store holds."""
    found: list[str] = []

    def walk(value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if "token" in key and isinstance(item, str) and len(item) > 8:
                    found.append(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json.loads(tokens_file.read_text()))
    return found


def test_a_window_run_logs_every_call_without_a_secret(settings, instance):
    simulator = ThrottledOnce(clock=lambda: (T0 + WINDOW).timestamp())
    with serve_in_thread(simulator) as url:
        served = settings.replace(display__api_base_url=url, display__api_is_simulator=True)
        defs = build_definitions(served)
        result = dg.materialize(
            list(defs.assets),
            selection=dg.AssetSelection.assets("raw_video_snapshots"),
            resources=dict(defs.resources),
            instance=instance,
            partition_key=window_key(T0),
        )
    assert result.success
    calls = read(settings, "api_call_log")
    data = calls.filter(pl.col("endpoint").str.starts_with("/v2/video/") | (pl.col("endpoint") == "/v2/user/info/"))
    assert calls.height > 0 and data.height > 0
    assert set(calls["source"]) == {"display_api"}
    assert calls["endpoint"].str.contains(r"\?").sum() == 0  # paths only, no query
    assert data["window_start"].to_list() == [datetime(2026, 11, 20, 10, 0)] * data.height
    purposes = dict(zip(data["endpoint"], data["purpose"], strict=True))
    scopes = dict(zip(data["endpoint"], data["scope"], strict=True))
    assert scopes["/v2/video/list/"] == "video.list"
    assert scopes.get("/v2/user/info/", "user.info.basic,user.info.profile,user.info.stats") == (
        "user.info.basic,user.info.profile,user.info.stats"
    )
    tokens = calls.filter(pl.col("endpoint") == "/v2/oauth/token/")  # the simulator's unattended authorisations
    assert tokens.height > 0 and set(tokens["scope"]) == {"none"} and tokens["subject"].null_count() == 0
    assert purposes["/v2/video/list/"] == "discover videos"
    assert purposes.get("/v2/user/info/", "creator profile") == "creator profile"
    usernames = set(load_registry(settings.registry_path).usernames)
    assert set(data["subject"]) <= usernames and data["subject"].null_count() == 0
    # one row per logical call: the landing file holds one record per call made, with its endpoint
    (landing,) = [p for p in settings.landing_dir.rglob("*") if p.is_file()]
    landed = read_landing(landing)
    assert sorted(f"/v2/{r['endpoint']}/" for r in landed) == sorted(data["endpoint"])
    assert (data["http_status"] == 200).all() and data["latency_ms"].min() >= 0
    throttled = data.filter(pl.col("attempts") == 2)
    assert simulator.throttled == 1 and throttled.height == 1
    assert throttled["endpoint"][0] == "/v2/video/list/" and throttled["http_status"][0] == 200
    assert data.filter(pl.col("endpoint") == "/v2/video/list/")["rows_produced"].drop_nulls().len() > 0
    text = calls.write_csv()
    secrets = _secrets(settings.token_store_path)
    assert secrets and not [s for s in secrets if s in text]


def test_an_alert_logs_its_webhook_kind_never_its_url(server: WebhookServer, tmp_path):  # noqa: F811
    slack, teams = "/services/T1/B1/secret-slack-token", "/workflows/1/triggers/manual/paths/invoke"
    server.script(slack, Reply(429, "rate_limited", {"Retry-After": "0"}), Reply(200, "ok"))
    fake = FakeTime()
    destinations = [Destination(kind="slack", url=server.url(slack)), Destination(kind="teams", url=server.url(teams))]
    window = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    with (
        recording() as buffer,
        call_context(window_start=window),
        AlertSender(destinations, sleep=fake.sleep, clock=fake.clock) as sender,
    ):
        sender.send(make_alert())
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_calls(connection, buffer)
    rows = pl.from_arrow(connection.sql("SELECT * FROM api_call_log ORDER BY endpoint").to_arrow_table())
    assert isinstance(rows, pl.DataFrame)
    assert rows.select("source", "endpoint", "scope", "purpose", "http_status", "attempts").rows() == [
        ("webhook", "slack", "none", "alert", 200, 2),  # a webhook needs no scope: its URL is the credential
        ("webhook", "teams", "none", "alert", 200, 1),
    ]
    text = rows.write_csv()
    for secret in ("secret-slack-token", "T1/B1", "triggers/manual", server.url(slack), "127.0.0.1"):
        assert secret not in text
