"""Sources are declared: the declarations match the code, the limiters read them, the policy doc is generated."""

import pytest

from tiktok_pipeline.cli import main as cli
from tiktok_pipeline.defs.resources import BusinessApiResource, DisplayApiResource, PollingResource
from tiktok_pipeline.governance.rate_limits import (
    RATE_LIMIT_POLICY_PATH,
    business_requests_per_second,
    display_requests_per_minute,
    render_rate_limit_policy,
    shop_requests_per_second,
    write_rate_limit_policy,
)
from tiktok_pipeline.governance.source_models import RateLimit, Terms
from tiktok_pipeline.governance.sources import DISPLAY_API, SOURCES, check_pools
from tiktok_pipeline.settings import ConversionSettings, RetentionSettings, SettingsError, load_settings
from tiktok_pipeline.settings.domains import POLLED_ENDPOINTS
from tiktok_pipeline.settings.shop import ShopSettings
from tiktok_pipeline.simulator.fields import USER_FIELD_SCOPES, VIDEO_FIELD_SCOPES
from tiktok_pipeline.sources.analytics_provider.client import PURPOSES as PROVIDER_PURPOSES
from tiktok_pipeline.sources.business_api.adgroups import ADGROUP_ENDPOINT, BUDGET_UPDATE_ENDPOINT
from tiktok_pipeline.sources.business_api.advertiser import ADVERTISER_ENDPOINT
from tiktok_pipeline.sources.business_api.events import MAX_BATCH, TRACK_ENDPOINT
from tiktok_pipeline.sources.business_api.reporting import ADS_ENDPOINT, REPORT_ENDPOINT
from tiktok_pipeline.sources.display_api.models import MAX_VIDEOS_PER_REQUEST, USER_FIELDS, VIDEO_FIELDS
from tiktok_pipeline.sources.shop_api.client import (
    ORDERS_PATH,
    PRODUCTS_PATH,
    SHOPS_PATH,
    TOKEN_GET_PATH,
    TOKEN_REFRESH_PATH,
)


def test_the_three_sources_are_declared_with_what_the_code_uses():
    assert set(SOURCES) == {
        "display_api",
        "business_reporting",
        "events_api",
        "live_events",
        "analytics_provider",
        "tiktok_shop",
    }
    official = set(SOURCES) - {"live_events", "analytics_provider"}
    assert {name for name, s in SOURCES.items() if s.terms.status == "official"} == official
    provider = SOURCES["analytics_provider"]  # the approved provider: a contract, validation facts, off unless enabled
    assert (provider.terms.status, provider.switch) == ("approved_provider", "TIKTOK_PROVIDER_ENABLED")
    assert provider.terms.contract and provider.validation is not None
    assert set(provider.rate_limit("video/list").endpoints) == set(PROVIDER_PURPOSES)
    live = SOURCES["live_events"]  # the opt-in LIVE intake: unofficial, off unless its folder is set, no calls
    assert (live.terms.status, live.switch, live.rate_limits) == ("unofficial", "TIKTOK_LIVE_INTAKE_DIR", ())
    display = SOURCES["display_api"]
    limit = display.rate_limit("video/query")
    assert set(limit.endpoints) == set(POLLED_ENDPOINTS)
    assert (limit.requests, limit.window_seconds, limit.client_default) == (600, 60, 590)
    assert limit.max_items == MAX_VIDEOS_PER_REQUEST == 20
    needed = {USER_FIELD_SCOPES[f] for f in USER_FIELDS} | {VIDEO_FIELD_SCOPES[f] for f in VIDEO_FIELDS}
    assert {scope.name for scope in display.scopes} == needed  # exactly the scopes the requested fields need
    reporting = SOURCES["business_reporting"].rate_limits[0]
    assert set(reporting.endpoints) == {
        REPORT_ENDPOINT,
        ADS_ENDPOINT,
        ADVERTISER_ENDPOINT,
        ADGROUP_ENDPOINT,
        BUDGET_UPDATE_ENDPOINT,
    }
    events = SOURCES["events_api"].rate_limit(TRACK_ENDPOINT)
    assert events.max_items == MAX_BATCH == ConversionSettings.model_fields["conversions_batch_size"].metadata[1].le
    window_rows = next(r for r in display.retention if r.setting == "TIKTOK_RETENTION_DAYS")
    assert window_rows.days == RetentionSettings.model_fields["retention_days"].default
    for declared in (reporting, events):
        assert (declared.requests, declared.window_seconds, declared.client_default) == (30, 1, 10)
        assert declared.pool == "tiktok_business_app"
    shop = SOURCES["tiktok_shop"]  # the paths the client calls, under the scopes that name them
    called = {path.rsplit("/202309/", 1)[-1] for path in (ORDERS_PATH, PRODUCTS_PATH)} | {SHOPS_PATH.rsplit("/", 1)[-1]}
    assert called | {p.removeprefix("/api/v2/") for p in (TOKEN_GET_PATH, TOKEN_REFRESH_PATH)} == {
        e for limit in shop.rate_limits for e in limit.endpoints
    }
    assert {e for scope in shop.scopes for e in scope.endpoints} == called
    assert shop.rate_limit("orders/search").max_items == ShopSettings.model_fields["page_size"].metadata[1].le == 100
    assert shop_requests_per_second(None) == 10 and shop.webhooks
    with pytest.raises(SettingsError, match="TIKTOK_SHOP_REQUESTS_PER_SECOND=25 is above the declared rate limit"):
        shop_requests_per_second(25)


def test_the_limiters_keep_to_the_declared_defaults(monkeypatch):
    for variable in ("TIKTOK_REQUESTS_PER_MINUTE", "TIKTOK_BUSINESS_REQUESTS_PER_SECOND"):
        monkeypatch.delenv(variable, raising=False)
    settings = load_settings()
    assert settings.display.requests_per_minute is None and settings.ads.business_requests_per_second is None
    display = DisplayApiResource.from_settings(settings)
    assert display.requests_per_minute == 590
    with display.client() as client:
        assert (client._http.limiter.limit, client._http.limiter.window_seconds) == (590, 60)
    business = BusinessApiResource.from_settings(settings)
    assert business.requests_per_second == 10
    with business.client() as api:
        assert api._http.limiter is not None and api._http.limiter.limit == 10
    assert PollingResource.from_settings(settings).policy.endpoint_budget()["video/query"] == 2655


def test_a_declaration_is_what_the_limits_resolve_from():
    changed = dict(SOURCES)
    changed["display_api"] = DISPLAY_API.model_copy(
        update={
            "rate_limits": (DISPLAY_API.rate_limits[0].model_copy(update={"requests": 300, "client_default": 250}),)
        }
    )
    assert display_requests_per_minute(None, changed) == 250
    with pytest.raises(SettingsError, match=r"TIKTOK_REQUESTS_PER_MINUTE=400 is above .* 300 requests per 60 s"):
        display_requests_per_minute(400, changed)
    assert business_requests_per_second(7.5) == 7.5


@pytest.mark.parametrize(
    ("variable", "value", "resource", "expected"),
    [
        (
            "TIKTOK_REQUESTS_PER_MINUTE",
            "900",
            DisplayApiResource,
            "'display_api' (user/info, video/list, video/query: 600",
        ),
        ("TIKTOK_REQUESTS_PER_MINUTE", "601", PollingResource, "600 requests per 60 s per endpoint"),
        (
            "TIKTOK_BUSINESS_REQUESTS_PER_SECOND",
            "45",
            BusinessApiResource,
            "'business_reporting' (report/integrated/get",
        ),
    ],
)
def test_a_setting_above_the_declared_limit_is_refused_naming_both(monkeypatch, variable, value, resource, expected):
    monkeypatch.setenv(variable, value)
    settings = load_settings()  # the setting itself is valid: the declaration refuses it
    with pytest.raises(SettingsError) as caught:
        resource.from_settings(settings)
    message = str(caught.value)
    assert f"{variable}={value} is above the declared rate limit of source" in message
    assert expected in message and "tiktok_pipeline/governance/sources.py" in message


def test_a_setting_below_the_declared_limit_lowers_it(monkeypatch):
    monkeypatch.setenv("TIKTOK_REQUESTS_PER_MINUTE", "300")
    monkeypatch.setenv("TIKTOK_BUSINESS_REQUESTS_PER_SECOND", "20")
    settings = load_settings()
    assert DisplayApiResource.from_settings(settings).requests_per_minute == 300
    assert BusinessApiResource.from_settings(settings).requests_per_second == 20
    assert PollingResource.from_settings(settings).policy.endpoint_budget()["user/info"] == 1350


def test_the_rate_limit_policy_document_is_up_to_date():
    """Fails when a declaration changed without `tiktok-pipeline docs rate-limits`."""
    assert RATE_LIMIT_POLICY_PATH.read_text(encoding="utf-8") == render_rate_limit_policy(), (
        "docs/rate-limit-policy.md is out of date: run `tiktok-pipeline docs rate-limits`"
    )
    assert cli(["docs", "rate-limits", "--check"]) == 0
    text = render_rate_limit_policy()
    assert "| `user/info`, `video/list`, `video/query` | per endpoint | 600 | 60 s | 590 |" in text
    assert "| `event/track` | per app | 30 | 1 s | 10 | `TIKTOK_BUSINESS_REQUESTS_PER_SECOND`" in text


def test_the_check_refuses_a_stale_document_and_the_command_rewrites_it(tmp_path, capsys):
    stale = tmp_path / "rate-limit-policy.md"
    stale.write_text(render_rate_limit_policy().replace("590", "595"), encoding="utf-8")
    assert write_rate_limit_policy(stale, check=True) == 1
    assert "out of date" in capsys.readouterr().out
    assert write_rate_limit_policy(stale) == 0 and stale.read_text(encoding="utf-8") == render_rate_limit_policy()
    assert write_rate_limit_policy(stale, check=True) == 0


def test_declarations_are_validated():
    with pytest.raises(ValueError, match="contract reference"):
        Terms(status="approved_provider", name="EchoTik API terms")
    assert Terms(status="approved_provider", name="EchoTik API terms", contract="MSA-2026-014").contract
    with pytest.raises(ValueError, match="client_default 700 > limit 600"):
        RateLimit(
            endpoints=("x",), counted="per_endpoint", requests=600, window_seconds=60, client_default=700, basis="b"
        )
    events = SOURCES["events_api"]
    other = events.model_copy(
        update={"rate_limits": (events.rate_limits[0].model_copy(update={"client_default": 20}),)}
    )
    with pytest.raises(ValueError, match="limits of one pool must agree"):
        check_pools({**SOURCES, "events_api": other})
