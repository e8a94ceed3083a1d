"""A simulated shop: order exports in the format ``tiktok_pipeline.activation.conversions.orders`` reads.

Every customer is fictitious: emails at ``example.com`` (reserved for documentation), US phone numbers
in the 555-01xx range set aside for fiction, IP addresses from the documentation ranges
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24). Orders are a pure function of (seed, time range), so
tests and demos are reproducible. Write an export for the demo with::

    python -m tiktok_pipeline.simulator.business.shop --start 2026-11-24T10:00:00Z --hours 2 \\
        --out data/conversions/incoming/orders-20261124T1000.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
)
IP_PREFIXES = ("192.0.2.", "198.51.100.", "203.0.113.")
SKUS = ("SKU-TEE-01", "SKU-HOODIE-02", "SKU-CAP-03", "SKU-MUG-04", "SKU-SOCKS-05")
PRICES = {"SKU-TEE-01": 24.0, "SKU-HOODIE-02": 59.0, "SKU-CAP-03": 19.5, "SKU-MUG-04": 14.0, "SKU-SOCKS-05": 9.0}


def sample_orders(start: datetime, end: datetime, *, seed: int = 7, per_hour: float = 60.0) -> list[dict[str, Any]]:
    """Fictitious orders placed in ``[start, end)`` (about ``per_hour`` an hour), as export records."""
    rng = random.Random(f"{seed}:{start.isoformat()}:{end.isoformat()}")
    orders: list[dict[str, Any]] = []
    moment = start
    serial = 0
    while True:
        moment += timedelta(seconds=rng.expovariate(per_hour / 3600.0))
        if moment >= end:
            return orders
        serial += 1
        customer = rng.randrange(1, 5000)
        order_id = f"ord-{moment:%Y%m%d%H%M%S}-{serial:04d}"
        lines: list[dict[str, Any]] = [
            {"sku": sku, "price": PRICES[sku], "quantity": rng.randint(1, 3)}
            for sku in rng.sample(SKUS, rng.randint(1, 3))
        ]
        order: dict[str, Any] = {
            "order_id": order_id,
            "event_time": moment.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "value": round(sum(line["price"] * line["quantity"] for line in lines), 2),
            "currency": "USD",
            "skus": lines,
            "email": f"  Customer.{customer:04d}@Example.com ",
            "phone": f"(202) 555-01{customer % 100:02d}",
            "customer_id": f"cust-{customer:05d}",
            "ip": f"{rng.choice(IP_PREFIXES)}{rng.randint(1, 254)}",
            "user_agent": rng.choice(USER_AGENTS),
            "page_url": f"https://shop.example.com/checkout/thank-you?order={order_id}",
        }
        if rng.random() < 0.6:
            order["ttclid"] = f"E.C.P.sim{rng.getrandbits(64):016x}"
        if rng.random() < 0.7:
            order["ttp"] = f"sim{rng.getrandbits(80):020x}"
        if rng.random() < 0.5:
            order["pixel_event_id"] = f"px-{order_id}"
        orders.append(order)


def write_orders(path: Path, orders: list[dict[str, Any]]) -> Path:
    """Write ``orders`` as one JSON-lines export file (created atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text("".join(json.dumps(order) + "\n" for order in orders))
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a fictitious order export for the conversions pipeline.")
    parser.add_argument(
        "--start", required=True, help="first order time, ISO 8601 with offset, e.g. 2026-11-24T10:00:00Z"
    )
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--per-hour", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    start = datetime.fromisoformat(args.start).astimezone(UTC)
    orders = sample_orders(start, start + timedelta(hours=args.hours), seed=args.seed, per_hour=args.per_hour)
    print(f"{write_orders(args.out, orders)}: {len(orders)} orders")


if __name__ == "__main__":
    main()
