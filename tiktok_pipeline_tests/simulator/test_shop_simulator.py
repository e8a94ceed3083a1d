"""The simulated TikTok Shop: as strict as Shop (signature, token, shop_cipher, timestamp, parameters), its SKUs the
tracking registry's, its sales following the promoting creators' video momentum, its orders changing after creation."""

from __future__ import annotations

import json
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tiktok_pipeline.ingest.registry import load_registry
from tiktok_pipeline.settings import DATA_DIR
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.shop.app import SIM_APP_KEY, SIM_APP_SECRET, SIM_AUTH_CODE, shop_sign
from tiktok_pipeline.simulator.shop.catalog import SHOP_CIPHER, SLOT_SECONDS, ShopWorld
from tiktok_pipeline.simulator.world import World, WorldConfig

PATH = "/order/202309/orders/search"
T = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator(WorldConfig(seed=7))


def token(client: httpx.Client) -> str:
    query = {
        "app_key": SIM_APP_KEY,
        "app_secret": SIM_APP_SECRET,
        "auth_code": SIM_AUTH_CODE,
        "grant_type": "authorized_code",
    }
    answer = client.get("http://sim/api/v2/token/get", params=query).json()
    assert answer["code"] == 0 and answer["data"]["access_token_expire_in"] > time.time()
    return answer["data"]["access_token"]


def search(client: httpx.Client, access: str, *, params: dict[str, str] | None = None, body: bytes | None = None,
           sign: str | None = None, stamp: float | None = None) -> httpx.Response:  # fmt: skip
    query = {"app_key": SIM_APP_KEY, "timestamp": str(int(stamp or time.time())), "shop_cipher": SHOP_CIPHER,
             "page_size": "100", **(params or {})}  # fmt: skip
    content = (
        body
        if body is not None
        else json.dumps({"update_time_ge": int(T.timestamp()), "update_time_lt": int(T.timestamp()) + 300}).encode()
    )
    query["sign"] = sign or shop_sign(SIM_APP_SECRET, PATH, query, content)
    return client.post(f"http://sim{PATH}", params=query, content=content, headers={"x-tts-access-token": access,
                       "X-Simulator-As-Of": str(T.timestamp() + 300)})  # fmt: skip


def test_every_refusal_is_shops_envelope_with_its_code(sim):
    with httpx.Client(transport=sim.transport()) as client:
        access = token(client)
        good = search(client, access)
        assert good.status_code == 200 and good.json()["code"] == 0 and good.json()["data"]["total_count"] > 0
        refused = {
            "bad sign": search(client, access, sign="0" * 64),
            "stale timestamp": search(client, access, stamp=time.time() - 600),
            "bad token": search(client, "ROW_not-a-token"),
            "bad cipher": search(client, access, params={"shop_cipher": "ROW_other"}),
            "page size": search(client, access, params={"page_size": "101"}),
            "bool bound": search(client, access, body=b'{"update_time_ge": true}'),
        }
        codes = {name: answer.json()["code"] for name, answer in refused.items()}
        assert codes == {"bad sign": 106001, "stale timestamp": 106002, "bad token": 105001, "bad cipher": 106011,
                         "page size": 36009003, "bool bound": 36009003}  # fmt: skip
        assert all(answer.json()["request_id"] for answer in refused.values())
        sim.shop.expire_access_tokens()
        assert search(client, access).json()["code"] == 105002


def test_the_shops_skus_are_the_registrys():
    shop = ShopWorld(World(WorldConfig(seed=7)))
    registry = load_registry(DATA_DIR / "tracking_registry.json")
    creators = {c.username: c.product_skus for c in registry.creators}
    for sku in shop.skus:
        if sku.creator_index is None:
            assert all(sku.seller_sku not in skus for skus in creators.values())  # the one SKU nobody promotes
        else:
            promoter = shop.world.creators()[sku.creator_index].username
            assert sku.seller_sku in creators[promoter]
    assert {s for skus in creators.values() for s in skus} <= {sku.seller_sku for sku in shop.skus}


def test_sales_follow_the_promoting_creators_views():
    shop = ShopWorld(World(WorldConfig(seed=7)))
    start = int(T.timestamp()) // SLOT_SECONDS
    promoted = [s for s in shop.skus if s.creator_index is not None]
    demand, orders = [], []
    for sku in promoted:
        for hour in range(12):
            slots = range(start + hour * 60, start + hour * 60 + 60)
            demand.append(sum(shop.orders_per_minute(sku, slot) for slot in slots))
            index = shop.skus.index(sku)
            orders.append(
                sum(1 for slot in slots for o in shop.orders_in_slot(slot) if o["lines"][0][0] == shop.skus[index])
            )
    assert statistics.correlation(demand, orders) > 0.5  # Poisson draws around the momentum-driven rate (0.67 here)
    assert max(demand) > 3 * min(demand)  # and that rate moves with the videos


def test_orders_change_status_after_creation_and_searches_see_the_latest():
    shop = ShopWorld(World(WorldConfig(seed=7)))
    end = T + timedelta(hours=3)
    changed = shop.orders_as_of(end.timestamp(), field="update_time", ge=int(T.timestamp()), lt=int(end.timestamp()))
    statuses = {o["status"] for o in changed}
    assert {"AWAITING_SHIPMENT", "IN_TRANSIT", "CANCELLED"} <= statuses
    assert any(o["update_time"] > o["create_time"] + 600 for o in changed)
    assert all(isinstance(item["sale_price"], str) for o in changed for item in o["line_items"])
