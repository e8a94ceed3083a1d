"""TikTok's Display API webhooks: signature (good, bad, stale, malformed), the body parser (fuzzed), and the intake:
durable landing before 200, duplicates counted once, revocations recorded, bad bodies quarantined."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from tiktok_pipeline.ingest.display_webhooks import LANDING_SOURCE, QUARANTINE_SOURCE, WebhookIntake
from tiktok_pipeline.ingest.landing import read_landing
from tiktok_pipeline.sources.display_api.consent import REVOKED, ConsentLedger, read_consent
from tiktok_pipeline.sources.display_api.tokens import TokenSet, TokenStore
from tiktok_pipeline.sources.display_api.webhooks import (
    WebhookBodyError,
    WebhookEvent,
    WebhookRejected,
    parse_event,
    sign,
    verify_signature,
)

SECRET = "sim-secret"
NOW = 1_764_000_000
GRANTED = datetime.fromtimestamp(NOW - 86400, UTC)


def event_body(open_id: str = "oid-alice", create_time: int = NOW - 5, reason: int = 1, **extra: object) -> bytes:
    return json.dumps(
        {
            "client_key": "sim-client",
            "event": "authorization.removed",
            "create_time": create_time,
            "user_openid": open_id,
            "content": json.dumps({"reason": reason}),
            **extra,
        }
    ).encode()


def test_a_good_signature_is_accepted_and_gives_its_timestamp():
    body = event_body()
    assert verify_signature(sign(SECRET, NOW, body), body, SECRET, now=NOW + 10, tolerance_seconds=300) == NOW


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "no TikTok-Signature"),
        ("", "no TikTok-Signature"),
        ("garbage", "not t=<unix>,s=<hex>"),
        (f"t={NOW}", "not t=<unix>,s=<hex>"),
        (f"t=abc,s={'0' * 64}", "not t=<unix>,s=<hex>"),
        (f"t={NOW},t={NOW},s=00", "not t=<unix>,s=<hex>"),
        (f"t={NOW},s={'0' * 64}", "does not match"),
        (f"t={NOW},s=é", "does not match"),
    ],
)
def test_a_missing_malformed_or_wrong_signature_is_refused(header, why):
    with pytest.raises(WebhookRejected, match=why):
        verify_signature(header, event_body(), SECRET, now=NOW, tolerance_seconds=300)


def test_a_signature_over_another_body_or_with_another_secret_is_refused():
    body = event_body()
    with pytest.raises(WebhookRejected, match="does not match"):
        verify_signature(sign(SECRET, NOW, body), body + b" ", SECRET, now=NOW, tolerance_seconds=300)
    with pytest.raises(WebhookRejected, match="does not match"):
        verify_signature(sign("other-secret", NOW, body), body, SECRET, now=NOW, tolerance_seconds=300)
    with pytest.raises(WebhookRejected, match="does not match"):  # the timestamp is signed: it cannot be moved
        verify_signature(
            sign(SECRET, NOW, body).replace(f"t={NOW}", f"t={NOW + 1}"), body, SECRET, now=NOW, tolerance_seconds=300
        )


@pytest.mark.parametrize("offset", [301, -301, 86400])
def test_a_stale_or_future_timestamp_is_refused(offset):
    body = event_body()
    with pytest.raises(WebhookRejected, match="from now"):
        verify_signature(sign(SECRET, NOW, body), body, SECRET, now=NOW + offset, tolerance_seconds=300)
    assert verify_signature(sign(SECRET, NOW, body), body, SECRET, now=NOW + offset, tolerance_seconds=abs(offset))


def test_the_body_parser_names_the_field():
    event = parse_event(event_body(reason=5))
    assert event.reason_code() == 5 and "developer revoked" in event.reason()
    with pytest.raises(WebhookBodyError, match="create_time"):
        parse_event(event_body(create_time=True))  # type: ignore[arg-type]  # a boolean is not a time
    with pytest.raises(WebhookBodyError, match="user_openid"):
        parse_event(json.dumps({"client_key": "k", "event": "e", "create_time": 1}).encode())
    with pytest.raises(WebhookBodyError, match="not JSON"):
        parse_event(b"\xff{")
    with pytest.raises(WebhookBodyError, match="list, not an object"):
        parse_event(b"[]")
    assert parse_event(event_body()).event_id == parse_event(event_body()).event_id
    assert parse_event(event_body(create_time=NOW)).event_id != parse_event(event_body()).event_id


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(["client_key", "event", "create_time", "user_openid", "content", "extra"])


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.dictionaries(FIELDS, JSON_VALUES, max_size=6).map(lambda d: json.dumps(d).encode()),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    )
)
def test_the_body_parser_gives_an_event_or_names_the_problem_never_anything_else(body):
    try:
        event = parse_event(body)
    except WebhookBodyError as exc:
        assert str(exc).startswith("display_api webhook:") and len(str(exc)) <= 500
        return
    assert isinstance(event, WebhookEvent) and isinstance(event.create_time, int)
    assert not isinstance(event.create_time, bool) and event.user_openid and len(event.event_id) == 32
    event.reason()  # never raises, whatever content holds


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80), st.binary(max_size=100))
def test_the_signature_check_refuses_any_forged_header(header, body):
    with pytest.raises(WebhookRejected):
        verify_signature(header, body, SECRET, now=NOW, tolerance_seconds=300)


def store_alice(tmp_path, granted_at=GRANTED) -> TokenStore:
    store = TokenStore(tmp_path / "tokens.json")
    store.put(
        "alice",
        TokenSet(
            open_id="oid-alice",
            access_token=SecretStr("act.alice-secret"),
            access_expires_at=granted_at + timedelta(hours=2),
            refresh_token=SecretStr("rft.alice-secret"),
            refresh_expires_at=granted_at + timedelta(days=180),
            scope="user.info.basic,video.list",
            granted_at=granted_at,
        ),
    )
    return store


def intake(tmp_path, now=NOW) -> WebhookIntake:
    return WebhookIntake(
        landing_dir=tmp_path / "landing",
        token_store_path=tmp_path / "tokens.json",
        client_key="sim-client",
        client_secret=SECRET,
        clock=lambda: now,
    )


def landed(tmp_path, source=LANDING_SOURCE) -> list:
    return sorted((tmp_path / "landing" / source).glob("*/*.jsonl.gz"))


def test_a_revocation_is_landed_and_recorded_before_200_and_duplicates_count_once(tmp_path):
    store = store_alice(tmp_path)
    receiver, body = intake(tmp_path), event_body()
    assert receiver.handle(sign(SECRET, NOW, body), body) == (200, "ok")
    for delay in (1, 60, 250):  # TikTok's redeliveries: freshly signed, the same event
        assert receiver.handle(sign(SECRET, NOW + delay, body), body)[0] == 200
    assert receiver.stats["received"] == 4 and receiver.stats["duplicates"] == 3 and receiver.stats["revocations"] == 1
    (path,) = landed(tmp_path)
    (record,) = read_landing(path)
    assert record["user_openid"] == "oid-alice" and record["body"] == body.decode() and "act." not in json.dumps(record)
    assert store.get("alice") is None  # dead tokens removed
    (consent,) = read_consent(store.path, datetime.fromtimestamp(NOW, UTC))
    assert consent.status == REVOKED and consent.creator_username == "alice" and consent.revoked_via == "webhook"
    assert consent.scopes == ["user.info.basic", "video.list"] and consent.granted_at == GRANTED
    assert "disconnected the app" in (consent.revoked_reason or "")
    assert consent.revoked_at == datetime.fromtimestamp(NOW - 5, UTC)


def test_bad_signatures_and_stale_deliveries_get_401_and_write_nothing(tmp_path):
    store_alice(tmp_path)
    receiver, body = intake(tmp_path), event_body()
    assert receiver.handle(None, body)[0] == 401
    assert receiver.handle(sign("wrong", NOW, body), body)[0] == 401
    assert receiver.handle(sign(SECRET, NOW - 301, body), body)[0] == 401
    assert receiver.handle(sign(SECRET, NOW, body), b"x" * 70_000)[0] == 413
    assert receiver.stats["rejected"] == 3 and not (tmp_path / "landing").exists()
    assert TokenStore(tmp_path / "tokens.json").get("alice") is not None
    assert not ConsentLedger.beside(tmp_path / "tokens.json").revocations()


def test_a_signed_body_that_is_no_event_is_quarantined_with_its_bytes_and_reason(tmp_path):
    receiver = intake(tmp_path)
    for body in (b'{"event": "authorization.removed"}', event_body(client_key="another-app")):
        assert receiver.handle(sign(SECRET, NOW, body), body) == (200, "quarantined")
    reasons = [read_landing(p)[0] for p in landed(tmp_path, QUARANTINE_SOURCE)]
    assert len(reasons) == 2 and not landed(tmp_path)
    assert any("user_openid" in r["reason"] for r in reasons)
    assert any("another-app" in r["reason"] and "another-app" in r["body"] for r in reasons)


def test_a_late_duplicate_does_not_revoke_a_newer_grant_and_replay_is_idempotent(tmp_path):
    body = event_body()
    receiver = intake(tmp_path)
    store_alice(tmp_path)
    assert receiver.handle(sign(SECRET, NOW, body), body)[0] == 200
    regranted = datetime.fromtimestamp(NOW + 3600, UTC)  # alice authorises again (tokens add)
    store = store_alice(tmp_path, granted_at=regranted)
    later = intake(tmp_path, now=NOW + 7200)
    assert later.handle(sign(SECRET, NOW + 7200, body), body)[0] == 200  # redelivered two hours later
    assert store.get("alice") is not None
    assert read_consent(store.path, regranted)[0].status == "active"
    assert later.replay() == 0 and store.get("alice") is not None


def test_replay_applies_an_event_landed_by_a_receiver_killed_before_applying_it(tmp_path):
    store = store_alice(tmp_path)
    body = event_body()
    receiver = intake(tmp_path)
    receiver.apply = lambda event: False  # type: ignore[method-assign]  # killed between landing and applying
    assert receiver.handle(sign(SECRET, NOW, body), body)[0] == 200
    assert store.get("alice") is not None
    assert intake(tmp_path).replay() == 1
    assert store.get("alice") is None and read_consent(store.path, datetime.now(UTC))[0].status == REVOKED


def test_a_grant_within_the_revocations_second_is_revoked(tmp_path):
    """TikTok's create_time has whole seconds: tokens granted 0.6 s into that second are still revoked."""
    granted = datetime.fromtimestamp(NOW - 5, UTC) + timedelta(milliseconds=600)
    store = store_alice(tmp_path, granted_at=granted)
    body = event_body(create_time=NOW - 5)
    assert intake(tmp_path).handle(sign(SECRET, NOW, body), body)[0] == 200
    assert store.get("alice") is None and read_consent(store.path, granted)[0].status == REVOKED


def test_the_webhook_is_declared_with_its_source_and_its_tolerance_is_a_setting(monkeypatch):
    from tiktok_pipeline.governance.sources import SOURCES
    from tiktok_pipeline.settings import SettingsError
    from tiktok_pipeline.settings.consent import load_consent_settings

    (hook,) = SOURCES["display_api"].webhooks
    assert hook.events == ("authorization.removed",) and "display-webhooks serve" in hook.receiver
    assert "TIKTOK_DISPLAY_WEBHOOK_TOLERANCE_SECONDS" in hook.verification and "consent" in hook.purpose
    assert load_consent_settings().display_webhook_tolerance_seconds == 300
    monkeypatch.setenv("TIKTOK_DISPLAY_WEBHOOK_TOLERANCE_SECONDS", "0")
    with pytest.raises(SettingsError, match=r"TIKTOK_DISPLAY_WEBHOOK_TOLERANCE_SECONDS='0'"):
        load_consent_settings()


def test_another_event_is_landed_and_changes_no_consent(tmp_path):
    store = store_alice(tmp_path)
    body = event_body(event="video.publish.completed")
    receiver = intake(tmp_path)
    assert receiver.handle(sign(SECRET, NOW, body), body) == (200, "ok")
    (path,) = landed(tmp_path)
    assert read_landing(path)[0]["event"] == "video.publish.completed" and receiver.stats["revocations"] == 0
    assert store.get("alice") is not None and not ConsentLedger.beside(store.path).revocations()
