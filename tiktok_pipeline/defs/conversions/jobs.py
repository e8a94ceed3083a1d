"""The conversions job: what ``conversion_exports_sensor`` launches."""

import dagster as dg

CONVERSIONS_JOB_NAME = "conversions_job"

conversions_job = dg.define_asset_job(
    CONVERSIONS_JOB_NAME,
    selection=dg.AssetSelection.assets("conversion_outbox"),
    description=(
        "Sends the shop's conversions for a window (or a range, as one run) to TikTok's Events API through the "
        "conversion_outbox: queued first, sent in batches of up to 1,000, never twice."
    ),
)
