"""Ad group budgets on TikTok's API for Business: ``adgroup/get`` (read) and ``adgroup/budget/update`` (write).

Both go through :class:`.client.BusinessApiClient`, hence the one HTTP layer (call log, the app's limiter,
retries). ``adgroup/get`` is a read and may be resent. ``adgroup/budget/update`` is **not** resent blindly
(``retry_timeouts=False``): a timeout or a gateway's page without an envelope raises an ``ambiguous``
:class:`.client.BusinessApiError`, and the caller reads the budget back with ``adgroup/get`` before deciding to
send again (:mod:`tiktok_pipeline.activation.pacing.outbox`). Answers are validated strictly (pydantic): a
budget is a number, never a boolean or a string; a record that fails names the field and the source.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tiktok_pipeline.sources.business_api.client import BusinessApiClient, BusinessCall

ADGROUP_ENDPOINT = "adgroup/get"
BUDGET_UPDATE_ENDPOINT = "adgroup/budget/update"
ADGROUP_FIELDS = ("adgroup_id", "campaign_id", "adgroup_name", "budget", "budget_mode", "operation_status")
BudgetMode = Literal["BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", "BUDGET_MODE_INFINITE"]
MAX_PAGES = 100
PAGE_SIZE = 1000


class AdGroupBudget(BaseModel):
    """One ``adgroup/get`` record: the ad group, its campaign, budget and budget mode (strict types)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    adgroup_id: str = Field(pattern=r"^\d+$")
    campaign_id: str = Field(pattern=r"^\d+$")
    adgroup_name: str | None = None
    budget: float = Field(ge=0, description="Budget in the account's currency (0 for an unlimited one).")
    budget_mode: BudgetMode
    operation_status: str | None = None


class PageInfo(BaseModel):
    """``page_info`` of a list answer."""

    model_config = ConfigDict(extra="ignore", strict=True)

    page: int = Field(ge=1)
    total_page: int = Field(ge=0)


class AdGroupPage(BaseModel):
    """``data`` of an ``adgroup/get`` answer."""

    model_config = ConfigDict(extra="ignore", strict=True)

    items: list[dict[str, Any]] = Field(alias="list")
    page_info: PageInfo


def parse_adgroups(data: Any) -> tuple[list[AdGroupBudget], int]:
    """The records of one ``adgroup/get`` page and its ``total_page``; ValueError naming the field and the source."""
    try:
        page = AdGroupPage.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{ADGROUP_ENDPOINT} data: {_first_error(exc)}") from None
    records = []
    for i, item in enumerate(page.items):
        try:
            records.append(AdGroupBudget.model_validate(item))
        except ValidationError as exc:
            raise ValueError(f"{ADGROUP_ENDPOINT} data.list[{i}]: {_first_error(exc)}") from None
    return records, page.page_info.total_page


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "(root)"
    return f"{where}: {error['msg']}"


def budget_pages(
    client: BusinessApiClient,
    advertiser_id: str,
    adgroup_ids: list[str] | None = None,
    *,
    as_of: datetime | None = None,
) -> Iterator[tuple[BusinessCall, list[AdGroupBudget]]]:
    """Each ``adgroup/get`` call (every ad group, or only ``adgroup_ids``, 100 ids a request) with its records; a
    failed call raises :class:`.client.BusinessApiError`, an answer that is not valid raises ValueError.
    ``as_of``: the instant the read stands for (only a simulator's session sends it)."""
    ids = sorted(set(adgroup_ids)) if adgroup_ids is not None else None
    chunks: list[list[str] | None] = [ids[i : i + 100] for i in range(0, len(ids), 100)] if ids is not None else [None]
    for chunk in chunks:
        page, total = 1, 1
        while page <= min(total, MAX_PAGES):
            params: dict[str, Any] = {
                "advertiser_id": advertiser_id,
                "fields": list(ADGROUP_FIELDS),
                "page": str(page),
                "page_size": str(PAGE_SIZE),
            }
            if chunk is not None:
                params["filtering"] = {"adgroup_ids": chunk}
            call = client.get(ADGROUP_ENDPOINT, params, as_of=as_of)
            records, total = parse_adgroups(call.data)
            yield call, records
            page += 1


def read_budgets(
    client: BusinessApiClient,
    advertiser_id: str,
    adgroup_ids: list[str] | None = None,
    *,
    as_of: datetime | None = None,
) -> dict[str, AdGroupBudget]:
    """Every ad group's budget (optionally only ``adgroup_ids``), by id, all pages read."""
    return {
        record.adgroup_id: record
        for _, records in budget_pages(client, advertiser_id, adgroup_ids, as_of=as_of)
        for record in records
    }


def update_budget(client: BusinessApiClient, advertiser_id: str, adgroup_id: str, budget: float) -> BusinessCall:
    """Set one ad group's budget; never resent blindly (an unanswered request raises ``ambiguous``)."""
    body = {"advertiser_id": advertiser_id, "budget": [{"adgroup_id": adgroup_id, "budget": round(budget, 2)}]}
    return client.post(BUDGET_UPDATE_ENDPOINT, body, retry_timeouts=False)
