"""Ad group budgets for pacing, landed like every answer: ``adgroup/get`` under ``business_api/adgroup/``.

A pacing run reads every ad group's budget once, as of its last window (the window's end against a simulator;
now against TikTok, which only answers present-day budgets, so a window that closed more than
:data:`MAX_BUDGET_AGE` ago and was not landed cannot be observed). The answers are landed before they are parsed
(:func:`tiktok_pipeline.ingest.land.land`), so a re-run of the window re-reads the budgets it first paced with.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tiktok_pipeline.ingest.land import Collected, land, observation_instant
from tiktok_pipeline.sources.business_api.adgroups import AdGroupBudget, budget_pages, parse_adgroups
from tiktok_pipeline.sources.business_api.client import BusinessApiClient, BusinessApiError

LANDING_SOURCE = "business_api/adgroup"
MAX_BUDGET_AGE = timedelta(minutes=15)
"""Against TikTok, how long after a window's end its budgets may still be read (they are present-day values)."""


class BudgetsUnavailableError(RuntimeError):
    """The budgets could not be read (a failed call or an invalid answer): the message names the cause."""


def land_budgets(
    client: BusinessApiClient,
    advertiser_id: str,
    window_start: datetime,
    *,
    now: datetime,
    landing_dir: Path,
    observe_at_window_end: bool,
) -> dict[str, AdGroupBudget]:
    """Every ad group's budget as of the window, from its landed ``adgroup/get`` answers (landed first when not
    there yet); :class:`BudgetsUnavailableError` when a call failed or an answer is not valid."""

    def collect(observed_at: datetime) -> Collected:
        records: list[dict[str, Any]] = []
        try:
            for call, _ in budget_pages(client, advertiser_id, as_of=observed_at):
                records.append({"kind": "adgroup", "observed_at": observed_at.isoformat(), **call.to_record()})
        except BusinessApiError as error:
            records.append({"kind": "adgroup", **error.call.to_record()})
            return Collected(records, failures={"adgroup/get": str(error)})
        except ValueError as exc:
            records.append({"kind": "adgroup", "error": str(exc)})
            return Collected(records, failures={"adgroup/get": str(exc)})
        return Collected(records)

    landed = land(
        landing_dir,
        LANDING_SOURCE,
        window_start,
        observe=lambda start: observation_instant(
            start, now, at_window_end=observe_at_window_end, max_age=MAX_BUDGET_AGE
        ),
        collect=collect,
    )
    budgets: dict[str, AdGroupBudget] = {}
    for record in landed.records:
        if record.get("error"):
            raise BudgetsUnavailableError(f"adgroup/get ({landed.path.name}): {record['error']}")
        payload = record.get("payload")
        try:
            parsed, _ = parse_adgroups(payload.get("data") if isinstance(payload, dict) else None)
        except ValueError as exc:
            raise BudgetsUnavailableError(f"{exc} ({landed.path.name})") from None
        budgets.update((r.adgroup_id, r) for r in parsed)
    return budgets
