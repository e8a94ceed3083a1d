"""The shop job: what ``shop_orders_sensor`` and ``shop_webhooks_sensor`` launch for a closed window."""

import dagster as dg

SHOP_JOB_NAME = "shop_orders_job"

shop_orders_job = dg.define_asset_job(
    SHOP_JOB_NAME,
    selection=dg.AssetSelection.assets("raw_shop_orders", "shop_sku_sales"),
    description=(
        "Polls TikTok Shop (or the simulator) for the orders updated in a window and the catalogue, lands the answers,"
        " upserts raw_shop_orders and writes the window's shop_sku_sales (a range of windows runs as one run)."
        " Separate from the video runs, so a Shop outage never fails or delays them."
    ),
    executor_def=dg.in_process_executor,
)
