"""Every call is logged (issue 15), the gaps: OAuth calls inside a run, scopes from the declarations, CLI commands.

Over real HTTP against a served simulator: a token refresh made inside a data call is its own row, under no scope
(not the data call's); ``tokens revoke`` records its call in ``api_call_log`` (window_start NULL, one transaction)
on both backends, a refused revocation too, and when the DuckDB file is held by another process the rows wait in
a spool file until the next command writes them. No token appears in any row.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import httpx
import polars as pl
import pytest

from tiktok_pipeline.cli import main
from tiktok_pipeline.governance.call_scopes import NO_SCOPE, call_scope
from tiktok_pipeline.governance.source_models import Scope, SourceDeclaration
from tiktok_pipeline.governance.sources import DISPLAY_API, SOURCES
from tiktok_pipeline.settings import Settings
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.world import WorldConfig
from tiktok_pipeline.sources.http.calllog import CallBuffer, recording
from tiktok_pipeline.warehouse import call_spool
from tiktok_pipeline_tests.conftest import FILE_BACKEND_ONLY, open_warehouse
from tiktok_pipeline_tests.display_api.test_client_http import Clock, make_client, user_info
from tiktok_pipeline_tests.test_api_call_log import _secrets

HOUR = 3600
USER_INFO_SCOPES = "user.info.basic,user.info.profile,user.info.stats"


def test_every_declared_endpoint_has_the_scope_its_declaration_gives():
    for source in SOURCES.values():
        for limit in source.rate_limits:
            for endpoint in limit.endpoints:
                scope = call_scope(source.name, f"/prefix/v9/{endpoint}/")
                named = [s.name for s in source.scopes if endpoint in s.endpoints]
                assert scope == (",".join(named) if named else NO_SCOPE), (source.name, endpoint)
    assert call_scope("display_api", "/v2/user/info/") == USER_INFO_SCOPES
    assert call_scope("display_api", "/v2/video/query/") == "video.list"
    assert call_scope("display_api", "/v2/oauth/token/") == call_scope("display_api", "/v2/oauth/revoke/") == "none"
    assert call_scope("business_reporting", "/open_api/v1.3/ad/get/") == "Ads Management"
    assert call_scope("events_api", "/open_api/v1.3/event/track/") == "Events API access to the pixel and event sets"
    assert call_scope("tiktok_shop", "/order/202309/orders/search") == "seller.order.info"
    assert call_scope("tiktok_shop", "/api/v2/token/refresh") == "none"  # made with the app key and secret
    assert call_scope("webhook", "slack") == "none"
    assert call_scope("display_api", "/v2/research/video/query/") is None  # undeclared: not given a scope


def test_a_scope_naming_an_undeclared_endpoint_is_refused():
    stray = Scope(name="video.publish", needed_for="posting", endpoints=("post/publish",))
    with pytest.raises(ValueError, match=r"scopes name endpoints no rate limit declares: \['post/publish'\]"):
        SourceDeclaration.model_validate({**DISPLAY_API.model_dump(), "scopes": (*DISPLAY_API.scopes, stray)})


def test_a_refresh_inside_a_data_call_is_its_own_row_under_no_scope(tmp_path):
    clock = Clock()
    sim = Simulator(WorldConfig(seed=7), clock=clock.epoch, access_token_ttl=HOUR)
    username = sim.world.creators()[0].username
    with serve_in_thread(sim) as url, make_client(url, tmp_path, clock=clock) as client:
        user_info(client, username)  # authorised
        clock.now += 2 * HOUR  # the access token has expired: the next data call refreshes it first
        with recording() as calls:
            user_info(client, username)
    rows = [(r["endpoint"], r["scope"], r["purpose"], r["subject"], r["http_status"]) for r in calls.rows]
    assert rows == [
        ("/v2/oauth/token/", "none", "token refresh_token", username, 200),
        ("/v2/user/info/", USER_INFO_SCOPES, "creator profile", username, 200),
    ]


def _point_cli_at(monkeypatch: pytest.MonkeyPatch, settings: Settings, url: str) -> None:
    """The CLI's environment: the served simulator, and the test's warehouse (file or lake), landing and tokens."""
    monkeypatch.setenv("TIKTOK_API_BASE_URL", url)
    monkeypatch.setenv("TIKTOK_API_IS_SIMULATOR", "true")
    monkeypatch.setenv("TIKTOK_TOKEN_STORE_PATH", str(settings.token_store_path))
    monkeypatch.setenv("TIKTOK_LANDING_DIR", str(settings.landing_dir))
    monkeypatch.setenv("TIKTOK_POLLING_STATE_DIR", str(settings.polling_state_dir))
    if settings.warehouse_url is not None:
        monkeypatch.setenv("TIKTOK_WAREHOUSE_URL", settings.warehouse_url.get_secret_value())
        monkeypatch.setenv("TIKTOK_LAKE_DATA_PATH", str(settings.lake_data_path))
    else:
        monkeypatch.setenv("TIKTOK_WAREHOUSE_PATH", str(settings.warehouse_path))


def _authorise(url: str, settings: Settings, *usernames: str) -> list[str]:
    """Authorise ``usernames`` (the simulator's unattended grant) in the settings' token store; their tokens."""
    with make_client(url, settings.token_store_path.parent) as client:
        for username in usernames:
            client.access_token(username)
    return _secrets(settings.token_store_path)


def _call_log(settings: Settings) -> pl.DataFrame:
    with open_warehouse(settings) as connection:
        frame = pl.from_arrow(connection.sql("SELECT * FROM api_call_log ORDER BY called_at").to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


class RefusesRevocation(Simulator):
    """The simulator, except that ``/v2/oauth/revoke/`` is refused (TikTok's flat OAuth error body)."""

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/oauth/revoke/":
            body = {"error": "invalid_request", "error_description": "no", "log_id": "LOG-REVOKE-1"}
            return httpx.Response(400, json=body)
        return super().handle(request)


def test_tokens_revoke_records_its_call_without_a_token(settings, monkeypatch, capsys):
    sim = Simulator(WorldConfig(seed=7))
    username = sim.world.creators()[0].username
    with serve_in_thread(sim) as url:
        secrets = _authorise(url, settings, username)
        _point_cli_at(monkeypatch, settings, url)
        assert main(["tokens", "revoke", username]) == 0
    assert sim.stats["oauth revoke"] == 1
    assert "tokens revoke: 1 call(s) recorded in api_call_log" in capsys.readouterr().out
    calls = _call_log(settings)
    assert calls.select("source", "endpoint", "scope", "purpose", "subject", "http_status", "attempts").rows() == [
        ("display_api", "/v2/oauth/revoke/", "none", "token revoke", username, 200, 1)
    ]
    assert calls["window_start"].to_list() == [None]  # a command serves no window
    text = calls.write_csv()
    assert secrets and not [s for s in secrets if s in text] and "sim-secret" not in text


def test_a_refused_revocation_is_recorded_too(settings, monkeypatch, capsys):
    sim = RefusesRevocation(WorldConfig(seed=7))
    username = sim.world.creators()[0].username
    with serve_in_thread(sim) as url:
        _authorise(url, settings, username)
        _point_cli_at(monkeypatch, settings, url)
        assert main(["tokens", "revoke", username]) == 1
    assert "invalid_request" in capsys.readouterr().err
    calls = _call_log(settings)
    assert calls.select("endpoint", "purpose", "http_status", "error_code", "log_id").rows() == [
        ("/v2/oauth/revoke/", "token revoke", 400, "invalid_request", "LOG-REVOKE-1")
    ]


@pytest.mark.file_backend_only  # a DuckDB file held open by another process; a lake has no such lock
def test_a_busy_warehouse_spools_the_calls_until_the_next_command(settings, monkeypatch, capsys, tmp_path):
    assert FILE_BACKEND_ONLY == "file_backend_only"
    monkeypatch.setattr(call_spool, "COMMAND_LOCK_WAIT_SECONDS", 0.3)
    sim = Simulator(WorldConfig(seed=7))
    first, second = (c.username for c in sim.world.creators()[:2])
    holder = [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
              " sys.stdin.read()", str(settings.warehouse_path)]  # fmt: skip
    with serve_in_thread(sim) as url:
        secrets = _authorise(url, settings, first, second)
        _point_cli_at(monkeypatch, settings, url)
        with subprocess.Popen(holder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as held:
            assert held.stdout is not None and held.stdout.readline().strip() == "held"
            assert main(["tokens", "revoke", first]) == 0  # revoked at TikTok all the same
            assert held.stdin is not None
            held.stdin.close()
        err = capsys.readouterr().err
        assert "the warehouse could not be written" in err and "call_log_spool" in err
        (spooled,) = call_spool.spool_dir(settings.landing_dir).glob("*.jsonl")
        assert "/v2/oauth/revoke/" in spooled.read_text() and not [s for s in secrets if s in spooled.read_text()]
        assert main(["tokens", "revoke", second]) == 0  # the warehouse is free: both commands' calls written
    assert "2 call(s) recorded" in capsys.readouterr().out
    calls = _call_log(settings)
    assert calls.select("subject", "purpose", "http_status").rows() == [
        (first, "token revoke", 200),
        (second, "token revoke", 200),
    ]
    assert calls["window_start"].null_count() == 2 and calls["called_at"].is_sorted()
    assert not list(call_spool.spool_dir(settings.landing_dir).glob("*"))  # written once: the spool is emptied


def test_a_purge_writes_the_spool_first_and_deletes_the_creators_spooled_calls(settings, monkeypatch, capsys):
    sim = Simulator(WorldConfig(seed=7))
    gone, kept = (c.username for c in sim.world.creators()[:2])
    with serve_in_thread(sim) as url:
        _authorise(url, settings, gone)
        _point_cli_at(monkeypatch, settings, url)
        assert main(["tokens", "revoke", gone]) == 0  # the grant is over: the creator may be purged
    # what two commands could not write while the warehouse was busy: one call about each creator
    waiting = CallBuffer([{"called_at": datetime(2026, 12, 1, 9), "source": "display_api", "subject": who,
                           "endpoint": "/v2/oauth/revoke/", "purpose": "token revoke", "attempts": 1}
                          for who in (gone, kept)])  # fmt: skip
    call_spool.spool(waiting, call_spool.spool_dir(settings.landing_dir))
    assert main(["creators", "purge", gone]) == 0
    assert "api_call_log → 2 rows deleted" in capsys.readouterr().out  # the revocation's and the spooled one
    assert _call_log(settings)["subject"].to_list() == [kept]  # the other creator's spooled call is written
    assert not list(call_spool.spool_dir(settings.landing_dir).glob("*.jsonl"))


def test_the_daily_retention_job_writes_what_waits_in_the_spool(settings, instance):
    from tiktok_pipeline.definitions import build_definitions

    now = datetime.now()  # recent: the job's own call-log retention keeps them
    rows = [{"called_at": now, "source": "display_api", "endpoint": "/v2/oauth/revoke/", "subject": who}
            for who in ("a_creator", "another_creator")]  # fmt: skip
    call_spool.spool(CallBuffer(rows), call_spool.spool_dir(settings.landing_dir))
    result = build_definitions(settings).get_job_def("window_retention_job").execute_in_process(instance=instance)
    assert result.success
    output = next(e for e in result.all_events if e.event_type_value == "STEP_OUTPUT")
    assert output.step_output_data.metadata["spooled_calls_written"].value == 2
    assert sorted(_call_log(settings)["subject"]) == ["a_creator", "another_creator"]
    assert not list(call_spool.spool_dir(settings.landing_dir).glob("*.jsonl"))


OPENERS = {
    "AlertSender",
    "DisplayApiClient",
    "BusinessApiClient",
    "ProviderClient",
    "ShopApiClient",
    "HttpSession",
    "FeedPusher",
    "pusher",
}
"""What opens an outbound HTTP session (the resources' ``.client()`` methods are found by name)."""
CLIENT_MODULES = (
    "simulator/",
    "sources/",
    "defs/resources.py",
    "activation/alerts/delivery.py",
    "activation/merchandising/webhook.py",
    "defs/merchandising/resources.py",
    "defs/provider/resources.py",
    "defs/shop/resources.py",
)
"""Where the clients are defined (they open sessions for their callers), left out of the search."""
KNOWN_CALLERS = {
    ("cli.py", "revoke_token"),
    ("defs/ads/assets.py", "raw_ad_metrics"),
    ("defs/conversions/assets.py", "conversion_outbox"),
    ("defs/alerts/jobs.py", "_deliver"),
    ("defs/videos/assets.py", "_observe"),
    ("defs/merchandising/assets.py", "_publish"),
    ("defs/pacing/assets.py", "pacing_recommendations"),
    ("cli_pacing.py", "run"),
    ("defs/provider/assets.py", "provider_snapshots"),
    ("defs/shop/assets.py", "raw_shop_orders"),
}
RECORDED_BY_CALLER = {("defs/videos/assets.py", "_observe"): "raw_snapshots"}
"""``_observe`` runs inside its caller's ``recording()`` (the raw snapshots step writes the calls with its tables)."""
RECORDED_BY_CALLEE = {("defs/merchandising/assets.py", "_publish"): "_push_once"}
"""``_publish`` opens the feed's pusher and hands it to ``_push_once``, which records and writes the push's calls."""


def _functions() -> dict[tuple[str, str], set[str]]:
    """Every function of the package outside :data:`CLIENT_MODULES`, with the names it calls."""
    import ast

    from tiktok_pipeline.settings import PROJECT_ROOT

    package = PROJECT_ROOT / "tiktok_pipeline"
    functions: dict[tuple[str, str], set[str]] = {}
    for path in package.rglob("*.py"):
        relative = path.relative_to(package).as_posix()
        if relative.startswith(CLIENT_MODULES):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                functions[(relative, node.name)] = {
                    c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", "")
                    for c in ast.walk(node)
                    if isinstance(c, ast.Call)
                }
    return functions


def test_every_outbound_path_records_its_calls():
    """A new place that calls out fails here until it records its calls (and is listed above)."""
    functions = _functions()
    outbound = {key for key, called in functions.items() if called & (OPENERS | {"client"})}
    assert outbound == KNOWN_CALLERS
    for key in outbound:
        if key in RECORDED_BY_CALLEE:
            callee = (key[0], RECORDED_BY_CALLEE[key])
            assert callee[1] in functions[key] and "recording" in functions[callee], f"{key} calls out unrecorded"
            continue
        recorder = (key[0], RECORDED_BY_CALLER.get(key, key[1]))
        assert "recording" in functions[recorder], f"{key[0]}:{key[1]} calls out without recording its calls"
        assert recorder == key or key[1] in functions[recorder]
