"""TikTok Shop answers at the boundary: strict pydantic models (prices are decimal strings, a boolean is not a count).

A record that fails validation raises ``pydantic.ValidationError``; the parser quarantines it naming the field and
the source (:mod:`tiktok_pipeline.ingest.parse.shop`). Buyer fields never get this far raw: the client replaces them
by SHA-256 digests before the answer is landed (:func:`redact_buyer`).
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

BUYER_FIELDS = ("user_id", "buyer_email", "buyer_message")
"""Order fields about the buyer replaced by a digest (``recipient_address`` is replaced whole)."""
ORDER_STATUSES = frozenset(
    {"UNPAID", "ON_HOLD", "AWAITING_SHIPMENT", "PARTIALLY_SHIPPING", "AWAITING_COLLECTION", "IN_TRANSIT",
     "DELIVERED", "COMPLETED", "CANCELLED"}
)  # fmt: skip
"""Shop's order statuses (202309)."""


def _digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(str(value).strip().lower().encode()).hexdigest()


def redact_buyer(order: Any) -> Any:
    """``order`` (a raw ``orders/search`` record) with every buyer field replaced by ``sha256:<hex>`` and the recipient
    address replaced by the digest of its JSON; anything that is not an object is returned as it is."""
    if not isinstance(order, dict):
        return order
    redacted = dict(order)
    for field in BUYER_FIELDS:
        if redacted.get(field) not in (None, ""):
            redacted[field] = _digest(redacted[field])
    if "recipient_address" in redacted:
        redacted["recipient_address"] = _digest(json.dumps(redacted["recipient_address"], sort_keys=True, default=str))
    return redacted


def _decimal(value: Any) -> Decimal:
    """A price: Shop sends decimal strings ("24.99"); a number, a boolean or a malformed string is refused."""
    if not isinstance(value, str):
        raise ValueError(f"a price must be a decimal string, got {type(value).__name__}")
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal price") from None
    if not parsed.is_finite() or parsed < 0 or parsed.as_tuple().exponent < -6 or abs(parsed) >= 10**12:  # type: ignore[operator]
        raise ValueError(f"{value!r} is not a plausible price")
    return parsed


Price = Annotated[Decimal, BeforeValidator(_decimal)]
Epoch = Annotated[StrictInt, Field(ge=1_262_304_000, lt=4_102_444_800)]
"""Unix seconds between 2010 and 2100."""
Digits = Annotated[StrictStr, Field(pattern=r"^[0-9]{1,32}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LineItem(_Strict):
    """One line of an order: the SKU sold, how many and at what price."""

    id: Digits
    sku_id: Digits
    seller_sku: StrictStr = ""
    product_id: Digits
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)] = 1
    sale_price: Price
    currency: Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")]


class ShopOrder(_Strict):
    """An order of ``orders/search`` (buyer fields already digests)."""

    id: Digits
    status: Literal[tuple(sorted(ORDER_STATUSES))]  # type: ignore[valid-type]
    create_time: Epoch
    update_time: Epoch
    user_id: StrictStr | None = None
    line_items: list[LineItem] = Field(min_length=1)


class ProductSku(_Strict):
    id: Digits
    seller_sku: StrictStr = ""


class Product(_Strict):
    """A product of ``products/search`` with its SKUs."""

    id: Digits
    title: StrictStr = ""
    status: StrictStr = ""
    skus: list[ProductSku] = Field(default_factory=list)


class TokenAnswer(_Strict):
    """``data`` of ``/api/v2/token/get|refresh``: expiries are Unix instants (not durations)."""

    access_token: StrictStr = Field(min_length=1)
    access_token_expire_in: Epoch
    refresh_token: StrictStr = Field(min_length=1)
    refresh_token_expire_in: Epoch
    open_id: StrictStr = ""
    seller_name: StrictStr = ""


class ShopInfo(_Strict):
    id: Digits
    cipher: StrictStr = Field(min_length=1)
    name: StrictStr = ""
