"""The simulated shop's catalogue and orders: a pure function of (seed, time), joined to the world's creators.

**Catalogue.** Each seeded creator promotes the SKUs the shipped tracking registry lists for them
(``data/tracking_registry.json``: creator index → ``seller_sku``), plus one SKU nobody promotes
(:data:`UNPROMOTED_SKU`), so a sale can be joined to the registry or be seen not to join.

**Orders.** Time is cut into one-minute slots. In each slot every SKU draws a Poisson number of orders whose mean
grows with the *views per minute* of its promoting creator's videos at that minute (the world's ground truth):
sales follow video momentum, which is what the merchandising feed's ranking is meant to find. Each order has one
or two line items (a quantity each; prices as decimal strings, like Shop), a fictitious buyer (emails at
``example.com``, phones in the 555-01xx range), and a status that changes after creation: ``UNPAID`` → ``AWAITING_SHIPMENT``
(paid) → ``IN_TRANSIT`` → ``DELIVERED`` → ``COMPLETED``, or ``CANCELLED`` within the hour for about 8%. Its
``update_time`` is its latest change as of the instant asked, so a search by ``update_time`` finds every change
in the window it happened in. Changes stop :data:`MAX_LIFECYCLE_SECONDS` after creation.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tiktok_pipeline.simulator.randomness import unit
from tiktok_pipeline.simulator.world import World

SLOT_SECONDS = 60
MAX_LIFECYCLE_SECONDS = 3 * 3600
"""An order stops changing this long after its creation (a search looks back this far for changes)."""
BASE_ORDERS_PER_MINUTE = 0.03
ORDERS_PER_VIEW = 1 / 4000
"""Mean orders a minute per view a minute of the promoting creator's videos."""
MAX_ORDERS_PER_MINUTE = 6.0
SHOP_ID = "7494012345678901234"
SHOP_CIPHER = "ROW_sim_shop_cipher_7494"
CURRENCY = "USD"


@dataclass(frozen=True)
class Sku:
    """One SKU of the catalogue: Shop's ids, the seller's own SKU code, its price and who promotes it."""

    product_id: str
    sku_id: str
    seller_sku: str
    title: str
    price: str
    creator_index: int | None


PROMOTED: dict[int, tuple[tuple[str, str, str], ...]] = {
    0: (("SKU-TRVL-BAG-01", "Weekender travel bag", "79.00"),),
    1: (("SKU-STYLE-SCARF-02", "Silk scarf", "34.50"), ("SKU-STYLE-HAT-07", "Bucket hat", "24.99")),
    2: (("SKU-TRVL-PILLOW-03", "Neck pillow", "19.99"),),
    3: (("SKU-TRVL-CAM-04", "Action camera", "149.00"),),
    4: (("SKU-KITCH-PAN-05", "Cast iron pan", "44.90"),),
    5: (("SKU-MAKE-KIT-06", "Starter maker kit", "59.00"),),
}
"""Creator index → the SKUs they promote: the same SKUs as the shipped tracking registry (seed 7's creators)."""
UNPROMOTED_SKU = ("SKU-GIFT-CARD-99", "Gift card", "25.00")
STATUS_STEPS = (("AWAITING_SHIPMENT", 120, 600), ("IN_TRANSIT", 1800, 3600), ("DELIVERED", 5400, 7200))
"""(status, earliest, latest seconds after creation) of each change after UNPAID; COMPLETED at the end."""


class ShopWorld:
    """The shop of one world: its catalogue and its orders as of any instant."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.seed = world.config.seed
        self.skus = self._catalogue()
        self._vpm = lru_cache(maxsize=65_536)(self._creator_views_per_minute)

    def _catalogue(self) -> list[Sku]:
        skus: list[Sku] = []
        for index in range(len(self.world.creators())):
            for n, (seller_sku, title, price) in enumerate(PROMOTED.get(index, ())):
                skus.append(self._sku(len(skus), seller_sku, title, price, index, n))
        seller_sku, title, price = UNPROMOTED_SKU
        skus.append(self._sku(len(skus), seller_sku, title, price, None, 0))
        return skus

    @staticmethod
    def _sku(i: int, seller_sku: str, title: str, price: str, creator: int | None, n: int) -> Sku:
        return Sku(
            product_id=f"17294{i:05d}0000000{n:03d}",
            sku_id=f"17294{i:05d}1000000{n:03d}",
            seller_sku=seller_sku,
            title=title,
            price=price,
            creator_index=creator,
        )

    def sku_by_id(self, sku_id: str) -> Sku | None:
        return next((s for s in self.skus if s.sku_id == sku_id), None)

    # --- demand ------------------------------------------------------------------------------
    def _creator_views_per_minute(self, creator_index: int, slot: int) -> float:
        creator = self.world.creators()[creator_index]
        t = slot * SLOT_SECONDS
        total = 0
        for video in self.world.videos_as_of(creator.username, t):
            total += (
                self.world.counts(video.id, t).view_count - self.world.counts(video.id, t - SLOT_SECONDS).view_count
            )
        return float(max(total, 0))

    def orders_per_minute(self, sku: Sku, slot: int) -> float:
        """The mean number of orders of ``sku`` in minute ``slot``: a base rate plus its promoter's views a minute."""
        vpm = 0.0 if sku.creator_index is None else self._vpm(sku.creator_index, slot)
        return min(BASE_ORDERS_PER_MINUTE + ORDERS_PER_VIEW * vpm, MAX_ORDERS_PER_MINUTE)

    def _count(self, sku_index: int, slot: int) -> int:
        """Poisson draw of the number of orders (by inversion of one stable uniform)."""
        mean = self.orders_per_minute(self.skus[sku_index], slot)
        u = unit(self.seed, "shop-orders", sku_index, slot)
        k, p = 0, math.exp(-mean)
        cumulative = p
        while u > cumulative and k < 100:
            k += 1
            p *= mean / k
            cumulative += p
        return k

    # --- orders ------------------------------------------------------------------------------
    @lru_cache(maxsize=65_536)  # noqa: B019 (one ShopWorld per simulator, kept for its life)
    def orders_in_slot(self, slot: int) -> tuple[dict[str, Any], ...]:
        """Every order created in minute ``slot``, with its whole lifecycle (statuses and when)."""
        orders = []
        for i in range(len(self.skus)):
            for n in range(self._count(i, slot)):
                orders.append(self._order(i, slot, n))
        return tuple(orders)

    def _order(self, sku_index: int, slot: int, n: int) -> dict[str, Any]:
        rng = random.Random(f"{self.seed}:order:{sku_index}:{slot}:{n}")
        created = slot * SLOT_SECONDS + rng.randrange(SLOT_SECONDS)
        order_id = f"57{slot:011d}{sku_index:02d}{n:03d}"[:19]
        lines = [(self.skus[sku_index], rng.choice((1, 1, 1, 2, 3)))]
        if rng.random() < 0.15:
            other = self.skus[rng.randrange(len(self.skus))]
            if other.sku_id != lines[0][0].sku_id:
                lines.append((other, 1))
        changes: list[tuple[int, str]] = [(created, "UNPAID")]
        if rng.random() < 0.08:
            changes.append((created + rng.randrange(300, 3600), "CANCELLED"))
        else:
            for status, earliest, latest in STATUS_STEPS:
                changes.append((created + rng.randrange(earliest, latest), status))
            changes.append((created + MAX_LIFECYCLE_SECONDS - rng.randrange(1, 600), "COMPLETED"))
        buyer = rng.randrange(1, 100_000)
        return {
            "id": order_id,
            "created": created,
            "changes": tuple(changes),
            "lines": tuple((sku, qty, f"{order_id}{k}") for k, (sku, qty) in enumerate(lines)),
            "buyer": buyer,
        }

    def orders_as_of(self, t: float, *, field: str, ge: float | None, lt: float | None) -> list[dict[str, Any]]:
        """Orders existing at ``t`` whose ``create_time`` or ``update_time`` (``field``) is in ``[ge, lt)``, as Shop
        answers them at ``t``, oldest first."""
        upper = min(t, lt if lt is not None else t)
        lower = ge if ge is not None else upper - 86_400
        if field == "update_time":
            lower -= MAX_LIFECYCLE_SECONDS
        answers = []
        for slot in range(int(lower // SLOT_SECONDS), int(upper // SLOT_SECONDS) + 1):
            for order in self.orders_in_slot(slot):
                if order["created"] > t:
                    continue
                answer = render_order(order, t)
                value = answer[field]
                if (ge is None or value >= ge) and (lt is None or value < lt):
                    answers.append(answer)
        answers.sort(key=lambda o: (o["update_time"] if field == "update_time" else o["create_time"], o["id"]))
        return answers


def render_order(order: dict[str, Any], t: float) -> dict[str, Any]:
    """An order as Shop's ``orders/search`` answers it at ``t`` (prices strings, PII of a fictitious buyer)."""
    update_time, status = max((c for c in order["changes"] if c[0] <= t), key=lambda c: c[0])
    total = sum(float(sku.price) * qty for sku, qty, _ in order["lines"])
    buyer = order["buyer"]
    return {
        "id": order["id"],
        "status": status,
        "create_time": order["created"],
        "update_time": update_time,
        "user_id": f"76{buyer:017d}",
        "buyer_email": f"buyer.{buyer:05d}@example.com",
        "buyer_message": "",
        "recipient_address": {
            "name": f"Buyer {buyer:05d}",
            "phone_number": f"(202) 555-01{buyer % 100:02d}",
            "full_address": f"{buyer % 900 + 100} Example Street, Springfield",
            "postal_code": f"{10000 + buyer % 89999}",
        },
        "payment": {"currency": CURRENCY, "total_amount": f"{total:.2f}", "sub_total": f"{total:.2f}"},
        "line_items": [
            {
                "id": line_id,
                "sku_id": sku.sku_id,
                "seller_sku": sku.seller_sku,
                "product_id": sku.product_id,
                "product_name": sku.title,
                "quantity": qty,
                "sale_price": sku.price,
                "original_price": sku.price,
                "currency": CURRENCY,
            }
            for sku, qty, line_id in order["lines"]
        ],
    }


def render_product(sku: Sku) -> dict[str, Any]:
    """A product as ``products/search`` answers it (one SKU per product in this catalogue)."""
    return {
        "id": sku.product_id,
        "title": sku.title,
        "status": "ACTIVATE",
        "create_time": 1_735_689_600,
        "update_time": 1_735_689_600,
        "skus": [
            {
                "id": sku.sku_id,
                "seller_sku": sku.seller_sku,
                "price": {"sale_price": sku.price, "currency": CURRENCY},
                "inventory": [{"quantity": 500, "warehouse_id": "7400000000000000001"}],
            }
        ],
    }
