"""``creator_consent`` (group ``govern``): each authorised creator's consent, refreshed from the token store.

The records themselves live beside the token store (:mod:`tiktok_pipeline.sources.display_api.consent`); this asset
makes them visible to analysts (the table, its column descriptions, the counts per status) and is refreshed every
5 minutes by ``creator_consent_schedule``. No token ever reaches it.
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from tiktok_pipeline.defs.metadata import KINDS
from tiktok_pipeline.defs.resources import DisplayApiResource
from tiktok_pipeline.governance.consent import consent_frame, replace_consent, status_counts
from tiktok_pipeline.sources.display_api.consent import read_consent
from tiktok_pipeline.warehouse.io import WarehouseResource
from tiktok_pipeline.warehouse.tables import CREATOR_CONSENT

CONSENT_DOC = """One row per creator who authorised the app: the scopes granted, when, the refresh-token horizon, and
the status — `active`, `revoked` (TikTok's `authorization.removed` webhook, an `invalid_grant` before the horizon, or
`tokens revoke`: when, how and why) or `reauthorize-needed` (the horizon ended). Only active creators are polled; a
revoked creator's data is kept (declared retention) unless purged with `tiktok-pipeline creators purge`."""


@dg.asset(
    name=CREATOR_CONSENT.name,
    group_name="govern",
    kinds=KINDS,
    description=CONSENT_DOC,
    metadata=CREATOR_CONSENT.asset_metadata,
)
def creator_consent(display_api: DisplayApiResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Replace creator_consent with the consent records of the token store and its ledger (no token)."""
    now = datetime.now(UTC)
    frame = consent_frame(read_consent(Path(display_api.token_store_path), now), now)
    with warehouse.connection() as connection:
        replace_consent(connection, frame)
    return dg.MaterializeResult(
        metadata={"dagster/row_count": frame.height, **{f"creators_{k}": v for k, v in status_counts(frame).items()}}
    )


creator_consent_job = dg.define_asset_job(
    "creator_consent_job",
    selection=[CREATOR_CONSENT.name],
    description="Refresh creator_consent from the token store and its consent ledger.",
)

creator_consent_schedule = dg.ScheduleDefinition(
    name="creator_consent_schedule",
    job=creator_consent_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 5 minutes: refresh creator_consent (consent records, revocations) for analysts.",
)
