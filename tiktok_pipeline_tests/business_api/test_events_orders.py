"""Order exports: parsing, event ids, hashing, and quarantine that names the field and never keeps raw PII."""

import gzip
import json
import os
from datetime import UTC, datetime

import pytest

from tiktok_pipeline.activation.conversions.hashing import hash_email, hash_external_id, hash_phone
from tiktok_pipeline.activation.conversions.orders import load_orders

T = datetime(2026, 11, 20, 10, 2, 30, tzinfo=UTC)
EMAIL, PHONE, IP, AGENT = "Jane.Doe@Example.com", "(202) 555-0147", "198.51.100.23", "Mozilla/5.0 (SecretPhone)"


def order(order_id="o-1", **fields):
    base = {"order_id": order_id, "event_time": "2026-11-20T10:02:30Z", "value": 49.5, "currency": "usd"}
    base.update(fields)
    return base


def write(path, *records, raw_lines=()):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in records] + list(raw_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_full_order_becomes_a_hashed_event(tmp_path):
    write(
        tmp_path / "a.jsonl",
        order(
            email=f"  {EMAIL} ",
            phone=PHONE,
            customer_id=" cust-7 ",
            ttclid="E.C.P.abc",
            ttp="ttp-1",
            ip=IP,
            user_agent=AGENT,
            page_url="https://shop.example.com/thanks",
            skus=[{"sku": "SKU-1", "price": 20, "quantity": 2}, {"sku": "SKU-2", "price": 9.5}],
        ),
    )
    loaded = load_orders(tmp_path)
    (conversion,) = loaded.conversions
    event = conversion.event
    assert event.event == "CompletePayment" and event.event_id == "o-1" and event.event_time == int(T.timestamp())
    assert event.user.email == hash_email(EMAIL.lower()) and event.user.phone == hash_phone("+12025550147")
    assert event.user.external_id == hash_external_id("cust-7")
    assert (event.user.ttclid, event.user.ttp, event.user.ip, event.user.user_agent) == (
        "E.C.P.abc",
        "ttp-1",
        IP,
        AGENT,
    )
    assert event.currency == "USD" and event.value == 49.5
    assert [(c.content_id, c.price, c.quantity) for c in event.contents] == [("SKU-1", 20, 2), ("SKU-2", 9.5, 1)]
    assert conversion.window_start == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert conversion.source == "conversions/a.jsonl:1"
    assert event.identifiers == ["ttclid", "ttp", "email", "phone", "external_id", "ip", "user_agent"]


def test_event_id_is_the_pixel_event_id_when_known_else_the_order_id(tmp_path):
    write(tmp_path / "a.jsonl", order("o-1", pixel_event_id="px-991"), order("o-2"), order("o-3", pixel_event_id=""))
    ids = [c.event.event_id for c in load_orders(tmp_path).conversions]
    assert ids == ["px-991", "o-2", "o-3"]


def test_times_with_offset_or_unix_seconds(tmp_path):
    write(
        tmp_path / "a.jsonl",
        order("o-1", event_time="2026-11-20T11:02:30+01:00"),
        order("o-2", event_time=int(T.timestamp())),
        order("o-3", event_time=str(int(T.timestamp()))),
    )
    assert {c.event.event_time for c in load_orders(tmp_path).conversions} == {int(T.timestamp())}


def test_bad_orders_are_quarantined_naming_file_line_and_field(tmp_path):
    write(
        tmp_path / "exports" / "b.jsonl",
        order("ok"),
        order("naive", event_time="2026-11-20T10:02:30"),
        order("millis", event_time=int(T.timestamp()) * 1000),
        {"event_time": "2026-11-20T10:02:30Z", "value": 1, "currency": "USD"},
        order("cur", currency="dollars"),
        order("neg", value=-3),
        order("phone", phone="12345"),
        order("mail", email="jane.doe-at-example.com"),
        order("sku", skus=[{"sku": "", "quantity": 0}]),
        raw_lines=["{not json", '"a string"'],
    )
    loaded = load_orders(tmp_path)
    assert [c.order_id for c in loaded.conversions] == ["ok"]
    reasons = [q["reason"] for q in loaded.quarantine]
    assert len(reasons) == 10 and all(r.startswith("exports/b.jsonl line ") for r in reasons)
    expected = [
        "event_time",
        "event_time",
        "order_id",
        "currency",
        "value",
        "phone",
        "email",
        "skus.0.sku",
        "not valid JSON",
        "record",
    ]
    for reason, needle, line in zip(reasons, expected, range(2, 12), strict=True):
        assert needle in reason and f"line {line}:" in reason, reason
    assert "UTC offset" in reasons[0] and "seconds" in reasons[1]
    assert {q["source"] for q in loaded.quarantine} >= {
        "conversions/exports/b.jsonl:2",
        "conversions/exports/b.jsonl:10",
    }
    assert all(q["asset"] == "conversion_outbox" for q in loaded.quarantine)


def test_quarantined_payloads_are_redacted(tmp_path):
    write(
        tmp_path / "a.jsonl",
        order("o-bad", currency="dollars", email=EMAIL, phone=PHONE, ip=IP, user_agent=AGENT, customer_name="Jane Doe"),
        order("o-bad-phone", phone="12345", email=EMAIL),
        raw_lines=[f'{{"order_id": "o-broken", "email": "{EMAIL}"'],
    )
    loaded = load_orders(tmp_path)
    payloads = [q["payload"] for q in loaded.quarantine]
    text = " ".join(payloads + [q["reason"] for q in loaded.quarantine])
    for secret in (EMAIL, EMAIL.lower(), "555-0147", "2025550147", IP, "SecretPhone", "Jane Doe", "12345"):
        assert secret not in text
    first = json.loads(payloads[0])
    assert first["order_id"] == "o-bad" and first["currency"] == "dollars" and first["value"] == 49.5
    assert first["email"].startswith("sha256:") and first["customer_name"].startswith("sha256:")
    assert set(json.loads(payloads[2])) == {"line_sha256", "bytes"}


def test_quarantine_window_is_the_event_time_else_the_file_time(tmp_path):
    path = write(tmp_path / "a.jsonl", order("cur", currency="$$"), order("when", event_time="yesterday"))
    mtime = datetime(2026, 11, 21, 8, 7, 9, tzinfo=UTC).timestamp()
    os.utime(path, (mtime, mtime))
    by_order = [q["window_start"] for q in load_orders(tmp_path).quarantine]
    assert by_order == [datetime(2026, 11, 20, 10, 0, tzinfo=UTC), datetime(2026, 11, 21, 8, 5, tzinfo=UTC)]


def test_an_order_in_two_exports_is_sent_once_from_the_first_file(tmp_path):
    write(tmp_path / "2026-11-20T1000.jsonl", order("o-1", value=10), order("o-2"))
    with gzip.open(tmp_path / "2026-11-20T1100.jsonl.gz", "wt") as handle:
        handle.write(json.dumps(order("o-1", value=99)) + "\n" + json.dumps(order("o-3")) + "\n")
    (tmp_path / "2026-11-20T1200.jsonl.partial").write_text(json.dumps(order("o-4")) + "\n")
    loaded = load_orders(tmp_path)
    assert [c.order_id for c in loaded.conversions] == ["o-1", "o-2", "o-3"]
    assert loaded.conversions[0].event.value == 10 and loaded.duplicate_orders == 1 and loaded.files == 2


def test_blank_optional_fields_are_missing_and_numbers_are_text(tmp_path):
    write(tmp_path / "a.jsonl", order("o-1", email="", phone=2025550147, ttclid="  ", external_id=42))
    (conversion,) = load_orders(tmp_path).conversions
    user = conversion.event.user
    assert user.email is None and user.ttclid is None
    assert user.phone == hash_phone("+12025550147") and user.external_id == hash_external_id("42")


def test_phone_region_setting_reads_national_numbers(tmp_path):
    write(tmp_path / "a.jsonl", order("o-1", phone="020 7946 0958"))
    (conversion,) = load_orders(tmp_path, default_phone_region="GB").conversions
    assert conversion.event.user.phone == hash_phone("+442079460958")


def test_missing_folder_is_no_orders(tmp_path):
    loaded = load_orders(tmp_path / "nope")
    assert loaded.conversions == [] and loaded.files == 0


def test_phone_region_setting_is_checked(monkeypatch):
    from tiktok_pipeline.settings import ConversionSettings, SettingsError, load_settings

    assert ConversionSettings(default_phone_region="gb").default_phone_region == "GB"
    monkeypatch.setenv("TIKTOK_DEFAULT_PHONE_REGION", "XX")
    with pytest.raises(SettingsError, match="TIKTOK_DEFAULT_PHONE_REGION='XX': 'XX' is not a region"):
        load_settings()


def test_several_emails_phones_and_customer_ids_are_each_hashed_and_sent_as_lists(tmp_path):
    """Events API 2.0 takes lists (as Segment's TikTok Offline Conversions destination sends): each item hashed."""
    write(
        tmp_path / "a.jsonl",
        order(
            email=[f" {EMAIL}", "other@example.com", "", EMAIL.lower()],
            phone=[PHONE],
            external_id=["cust-7", 42],
        ),
        order("o-2", email=["", " "], phone=[]),
        order("o-3", email=["not-an-email"]),
    )
    loaded = load_orders(tmp_path)
    first, second = loaded.conversions
    user = first.event.user
    assert user.email == (hash_email(EMAIL), hash_email("other@example.com"))  # blanks and repeats dropped
    assert user.phone == hash_phone("+12025550147")  # a list of one is one value
    assert user.external_id == (hash_external_id("cust-7"), hash_external_id("42"))
    body = first.event.to_api()["user"]
    assert body["email"] == list(user.email) and body["phone"] == user.phone
    assert second.event.user.email is None and second.event.user.phone is None
    (bad,) = loaded.quarantine
    assert "email" in bad["reason"] and "not-an-email" not in bad["reason"] + bad["payload"]


def test_event_source_is_web_unless_the_export_says_offline_or_crm(tmp_path):
    write(
        tmp_path / "a.jsonl",
        order("o-1"),
        order("o-2", event_source="offline"),
        order("o-3", event_source=" CRM "),
        order("o-4", event_source="app"),
    )
    loaded = load_orders(tmp_path)
    assert [(c.order_id, c.event.event_source) for c in loaded.conversions] == [
        ("o-1", "web"),
        ("o-2", "offline"),
        ("o-3", "crm"),
    ]
    assert "event_source" not in loaded.conversions[1].event.to_api()  # it belongs to the request, not the event
    (bad,) = loaded.quarantine
    assert "line 4" in bad["reason"] and "event_source" in bad["reason"]


def test_an_event_source_without_its_event_set_id_is_quarantined_naming_the_setting(tmp_path):
    write(tmp_path / "a.jsonl", order("o-1"), order("o-2", event_source="offline"), order("o-3", event_source="crm"))
    loaded = load_orders(tmp_path, event_sources=("web", "crm"))
    assert [c.order_id for c in loaded.conversions] == ["o-1", "o-3"]
    (bad,) = loaded.quarantine
    assert "line 2" in bad["reason"] and "TIKTOK_OFFLINE_EVENT_SET_ID" in bad["reason"]
