"""TikTok Shop answers at the boundary: strict models (prices decimal strings, a boolean is not a count), buyer fields
hashed, and a window's parse that quarantines a bad order naming field and source while the others go on."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tiktok_pipeline.ingest.parse.shop import parse_shop_window
from tiktok_pipeline.sources.shop_api.models import LineItem, ShopOrder, redact_buyer

WINDOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CREATED = int(WINDOW.timestamp()) + 30


def line(**changes: Any) -> dict[str, Any]:
    return {"id": "5701", "sku_id": "1729", "seller_sku": "SKU-A", "product_id": "1728", "quantity": 2,
            "sale_price": "24.99", "currency": "USD", **changes}  # fmt: skip


def order(**changes: Any) -> dict[str, Any]:
    return {"id": "570001", "status": "AWAITING_SHIPMENT", "create_time": CREATED, "update_time": CREATED + 60,
            "user_id": "sha256:" + "a" * 64, "line_items": [line()], **changes}  # fmt: skip


def test_a_good_order_parses_with_decimal_prices():
    parsed = ShopOrder.model_validate(order())
    assert parsed.line_items[0].sale_price == Decimal("24.99") and parsed.line_items[0].quantity == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sale_price": 24.99}, "sale_price"),  # a float is not Shop's decimal string
        ({"sale_price": "24,99"}, "sale_price"),
        ({"sale_price": "NaN"}, "sale_price"),
        ({"sale_price": "-1.00"}, "sale_price"),
        ({"quantity": True}, "quantity"),  # a boolean is not a count
        ({"quantity": "2"}, "quantity"),
        ({"quantity": 0}, "quantity"),
        ({"sku_id": 1729}, "sku_id"),
        ({"currency": "usd"}, "currency"),
    ],
)
def test_a_bad_line_is_refused_naming_the_field(changes, field):
    with pytest.raises(ValidationError) as caught:
        LineItem.model_validate(line(**changes))
    assert caught.value.errors()[0]["loc"][0] == field


def test_buyer_fields_become_digests_and_the_address_goes():
    raw = {**order(), "user_id": "7600001", "buyer_email": "Someone@Example.com",
           "recipient_address": {"name": "A Person", "phone_number": "(202) 555-0101"}}  # fmt: skip
    redacted = redact_buyer(raw)
    text = json.dumps(redacted)
    assert "Someone" not in text and "A Person" not in text and "555-0101" not in text and "7600001" not in text
    assert redacted["user_id"].startswith("sha256:") and redacted["recipient_address"].startswith("sha256:")
    assert redact_buyer(redact_buyer(raw))["line_items"] == raw["line_items"]
    assert redact_buyer("not an order") == "not an order"


def landed(*orders: Any) -> list[dict[str, Any]]:
    return [
        {"kind": "orders", "endpoint": "/order/202309/orders/search", "request_id": "REQ1",
         "observed_at": (WINDOW.replace(minute=5)).isoformat(), "payload": {"code": 0, "data": {"orders": list(orders)}}},
        {"kind": "products", "payload": {"code": 0, "data": {"products": [{"id": "1"}]}}},
    ]  # fmt: skip


def test_one_bad_order_is_quarantined_naming_field_and_source_and_the_others_go_on():
    bad = order(id="570002", line_items=[line(quantity=True)])
    parsed = parse_shop_window(WINDOW, landed(order(), bad, order(id="570003")), Path("landing/0900.jsonl.gz"))
    assert parsed.rows["order_id"].to_list() == ["570001", "570003"] and parsed.products == 1
    (reason,) = parsed.quarantine["reason"].to_list()
    assert "tiktok_shop orders/search" in reason and "landing/0900.jsonl.gz" in reason
    assert "line_items.0.quantity" in reason
    assert json.loads(parsed.quarantine["payload"][0])["id"] == "570002"
    row = parsed.rows.row(0, named=True)
    assert row["line_revenue"] == Decimal("49.98") and row["created_window"] == WINDOW.replace(tzinfo=None)


def test_an_order_seen_twice_keeps_its_latest_update():
    older, newer = order(status="UNPAID", update_time=CREATED), order(status="AWAITING_SHIPMENT")
    parsed = parse_shop_window(WINDOW, landed(newer, older), Path("f"))
    assert parsed.rows["status"].to_list() == ["AWAITING_SHIPMENT"]


def test_a_failed_call_is_reported_not_parsed():
    records = [{"kind": "orders", "error": "tiktok_shop POST /order/202309/orders/search failed: code 36009006"}]
    assert parse_shop_window(WINDOW, records, Path("f")).failed_calls == {"orders": records[0]["error"]}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON | st.just("570009"),
        "status": JSON | st.sampled_from(["COMPLETED", "CANCELLED"]),
        "create_time": JSON | st.just(CREATED),
        "update_time": JSON | st.just(CREATED),
        "line_items": JSON
        | st.lists(st.fixed_dictionaries({}, optional={k: JSON | st.just(v) for k, v in line().items()}), max_size=3),
    },
)


@settings(max_examples=200, deadline=None)
@given(orders=st.lists(FIELDS | JSON, max_size=4))
def test_any_answer_is_parsed_or_quarantined_never_raised(orders):
    parsed = parse_shop_window(WINDOW, landed(*orders), Path("f"))
    valid = []
    for raw in orders:
        with contextlib.suppress(ValidationError):
            valid.append(ShopOrder.model_validate(raw))
    assert parsed.quarantine.height + len(valid) == len(orders)  # every order: written or quarantined, none lost
    assert set(parsed.rows["order_id"].to_list()) == {o.id for o in valid}
    for reason in parsed.quarantine["reason"].to_list():
        assert reason.startswith("tiktok_shop orders/search (")
