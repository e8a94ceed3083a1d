"""TikTok Shop end to end over real HTTP against the served simulator: a range of windows polled, landed and parsed
into raw_shop_orders and shop_sku_sales equal to the simulator's ground truth, re-runs that count nothing twice, calls
in api_call_log without a secret, buyer PII nowhere raw, and an expired token refreshed on the way (both backends)."""

from __future__ import annotations

import gzip
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.settings import Settings
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.shop.app import ShopFaultConfig
from tiktok_pipeline.simulator.world import WorldConfig
from tiktok_pipeline.windows import WINDOW, window_key
from tiktok_pipeline_tests.conftest import T0, open_warehouse

FIRST, LAST = T0, T0 + 11 * WINDOW
"""An hour of windows, 10:00 .. 10:55."""


def served(settings: Settings, url: str) -> Settings:
    return settings.replace(display__api_base_url=url, display__api_is_simulator=True)


def run_shop(settings: Settings, first: datetime, last: datetime, **config: bool) -> dg.ExecuteInProcessResult:
    """raw_shop_orders and shop_sku_sales for windows ``first`` .. ``last`` as one run."""
    defs = build_definitions(settings)
    return dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.groups("shop"),
        resources=dict(defs.resources),
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": window_key(first),
            "dagster/asset_partition_range_end": window_key(last),
        },
        run_config={"ops": {"raw_shop_orders": {"config": config}}} if config else None,
        raise_on_error=False,
    )


def table(settings: Settings, sql: str) -> pl.DataFrame:
    with open_warehouse(settings) as connection:
        frame = pl.from_arrow(connection.execute(sql).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def truth_lines(
    sim: Simulator, as_of: datetime, *, field: str, ge: datetime, lt: datetime
) -> dict[tuple[str, str], tuple]:
    """(order, line) → (status, seller_sku, quantity, price) as the simulator answers at ``as_of``."""
    orders = sim.shop.shop.orders_as_of(as_of.timestamp(), field=field, ge=int(ge.timestamp()), lt=int(lt.timestamp()))
    return {
        (o["id"], item["id"]): (o["status"], item["seller_sku"], item["quantity"], Decimal(item["sale_price"]))
        for o in orders
        for item in o["line_items"]
    }


def units(lines: dict[tuple[str, str], tuple]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for status, sku, quantity, _ in lines.values():
        if status != "CANCELLED":
            counted[sku] += quantity
    return counted


def test_an_hour_of_windows_equals_the_ground_truth_and_reruns_count_nothing_twice(settings):
    sim = Simulator(WorldConfig(seed=7))
    with serve_in_thread(sim) as url:
        settings = served(settings, url)
        result = run_shop(settings, FIRST, LAST)
        assert result.success
        end = LAST + WINDOW
        expected = truth_lines(sim, end, field="update_time", ge=FIRST, lt=end)
        stored = table(
            settings, "SELECT order_id, line_item_id, status, seller_sku, quantity, sale_price FROM raw_shop_orders"
        )
        assert len(expected) > 50
        assert {(r[0], r[1]): r[2:] for r in stored.rows()} == expected  # every change polled once, the latest kept

        # shop_sku_sales of the last window: the orders placed in it and in the hour, as the simulator knows them
        sales = table(settings, f"SELECT * FROM shop_sku_sales WHERE window_start = '{LAST:%Y-%m-%d %H:%M}'")
        placed = truth_lines(sim, end, field="create_time", ge=LAST, lt=end)
        hour = truth_lines(sim, end, field="create_time", ge=FIRST, lt=end)
        assert {r["seller_sku"]: r["units"] for r in sales.to_dicts() if r["units"]} == units(placed)
        assert {r["seller_sku"]: r["units_60m"] for r in sales.to_dicts() if r["units_60m"]} == units(hour)
        joined = {r["seller_sku"]: (r["in_registry"], r["creators"]) for r in sales.to_dicts()}
        assert joined.get("SKU-MAKE-KIT-06", (1, ["quiet_maker_6"])) == (1, ["quiet_maker_6"])
        assert all(flag == 0 for sku, (flag, _) in joined.items() if sku == "SKU-GIFT-CARD-99")

        # a re-run of a middle window (re-parsed from its landing file) and of the whole hour (polled afresh)
        before = table(settings, "SELECT * FROM raw_shop_orders ORDER BY order_id, line_item_id")
        assert run_shop(settings, T0 + 5 * WINDOW, T0 + 5 * WINDOW).success
        assert run_shop(settings, LAST - 2 * WINDOW, LAST, recollect=True).success
        after = table(settings, "SELECT * FROM raw_shop_orders ORDER BY order_id, line_item_id")
        assert after.drop("fetched_at", "landing_file").equals(before.drop("fetched_at", "landing_file"))

    calls = table(settings, "SELECT * FROM api_call_log WHERE source = 'tiktok_shop' ORDER BY called_at")
    by_endpoint = Counter(calls["endpoint"].to_list())
    assert by_endpoint["/api/v2/token/get"] == 1 and by_endpoint["/authorization/202309/shops"] == 1
    assert by_endpoint["/order/202309/orders/search"] >= 15 and by_endpoint["/product/202309/products/search"] == 15
    # 12 windows polled, then 3 polled again (recollect); the re-parsed window made no call
    searches = calls.filter(pl.col("endpoint") == "/order/202309/orders/search")
    assert set(searches["scope"]) == {"seller.order.info"} and searches["window_start"].null_count() == 0
    assert set(searches["purpose"]) == {"shop orders"} and set(searches["http_status"]) == {200}
    text = calls.write_csv()
    tokens = (settings.token_store_path.parent / "shop_tokens.json").read_text()
    assert "sim-shop-secret" not in text and "ROW_" not in text and "ROW_" in tokens

    landed = b"".join(gzip.decompress(p.read_bytes()) for p in Path(settings.landing_dir, "tiktok_shop").rglob("*.gz"))
    everything = landed + table(settings, "SELECT * FROM raw_shop_orders").write_csv().encode()
    assert b"@example.com" not in everything and b"555-01" not in everything and b"Example Street" not in everything
    assert b"sha256:" in landed


def test_an_expired_token_is_refreshed_and_the_poll_goes_on(settings):
    sim = Simulator(WorldConfig(seed=7))
    with serve_in_thread(sim) as url:
        settings = served(settings, url)
        assert run_shop(settings, T0, T0).success
        sim.shop.expire_access_tokens()
        assert run_shop(settings, T0 + WINDOW, T0 + WINDOW).success
    assert sim.shop.stats["expired token"] == 1 and sim.shop.stats["token refresh"] == 1
    calls = table(
        settings, "SELECT endpoint, error_code FROM api_call_log WHERE source = 'tiktok_shop' ORDER BY called_at"
    )
    assert ("/api/v2/token/refresh", "0") in calls.rows()
    assert ("/order/202309/orders/search", "105002") in calls.rows()  # the refused attempt is its own row


@pytest.mark.file_backend_only  # the HTTP layer's retries, not the warehouse
def test_rate_limits_gateway_pages_and_short_pages_are_retried_and_nothing_is_lost(settings):
    faults = ShopFaultConfig(rate_429=0.15, rate_500=0.05, rate_502=0.05, rate_short_page=0.5, seed=3)
    sim = Simulator(WorldConfig(seed=7), shop_faults=faults)
    with serve_in_thread(sim) as url:
        settings = served(settings, url).replace(shop__page_size=5)
        assert run_shop(settings, T0, T0 + 2 * WINDOW).success
        end = T0 + 3 * WINDOW
        expected = truth_lines(sim, end, field="update_time", ge=T0, lt=end)
    stored = table(
        settings, "SELECT order_id, line_item_id, status, seller_sku, quantity, sale_price FROM raw_shop_orders"
    )
    assert {(r[0], r[1]): r[2:] for r in stored.rows()} == expected
    assert sim.shop.stats["fault 429"] + sim.shop.stats["fault 500"] + sim.shop.stats["fault 502"] > 0
    assert sim.shop.stats["short page"] > 0


def test_a_bad_app_secret_fails_the_run_naming_the_code(settings, monkeypatch):
    sim = Simulator(WorldConfig(seed=7))
    with serve_in_thread(sim) as url:
        monkeypatch.setenv("TIKTOK_SHOP_APP_SECRET", "not-the-secret")
        result = run_shop(served(settings, url), T0, T0)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    text = str(failure.event_specific_data)
    assert "36004003" in text and "not-the-secret" not in text
