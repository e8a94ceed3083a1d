"""``adgroup/get`` and ``adgroup/budget/update`` of the simulated API for Business, over :mod:`.budgets`.

TikTok's rules, as the simulator answers them (code 40002 naming the field, nothing applied when one entry
is refused: the request is validated whole first):

- a daily budget below :data:`~.budgets.MIN_DAILY_BUDGET` (20 USD a day for ad groups) is refused;
- an ad group's budget mode cannot be changed (``budget_mode`` in an entry must be the ad group's own);
- the budget of a ``BUDGET_MODE_INFINITE`` ad group cannot be set;
- ``budget`` must be a number (a boolean or a string is refused), at most 20 ad groups a request.

A change is recorded by :meth:`.budgets.AdGroupBudgets.record` at the request's instant and caps later hours.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tiktok_pipeline.simulator.business.ads import AdAccount, AdGroup
from tiktok_pipeline.simulator.business.budgets import DAY, INFINITE, MIN_DAILY_BUDGET, TOTAL, AdGroupBudgets
from tiktok_pipeline.simulator.business.params import bad_parameter, check_advertiser, json_parameter, page_of
from tiktok_pipeline.simulator.business.protocol import BusinessError, BusinessRequest, Endpoint

__all__ = ["DAY", "INFINITE", "MIN_DAILY_BUDGET", "TOTAL", "AdGroupEndpoints", "adgroup_endpoints"]

MAX_UPDATE_ENTRIES = 20
CREATED = 1_736_899_200
"""When the ad groups were created (the account's creation day); their modify_time until a change."""


class AdGroupEndpoints:
    """``adgroup/get`` and ``adgroup/budget/update`` over the account's :class:`AdGroupBudgets`."""

    def __init__(self, account: AdAccount) -> None:
        self.account = account
        self.budgets: AdGroupBudgets = account.budgets

    def get(self, request: BusinessRequest) -> dict[str, Any]:
        params = request.params
        check_advertiser(params, self.account)
        filtering = json_parameter(params, "filtering", dict) or {}
        wanted: dict[str, set[str]] = {}
        for name, value in filtering.items():
            if name not in ("adgroup_ids", "campaign_ids"):
                raise bad_parameter(f"filtering.{name}", "unknown filter; use adgroup_ids or campaign_ids.")
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad_parameter(f"filtering.{name}", "must be a JSON array of id strings.")
            wanted[name] = set(value)
        rows = [
            self._record(group, request.as_of)
            for group in self.budgets.adgroups()
            if ("adgroup_ids" not in wanted or group.id in wanted["adgroup_ids"])
            and ("campaign_ids" not in wanted or group.campaign.id in wanted["campaign_ids"])
        ]
        return page_of(rows, params, default_size=10)

    def _record(self, group: AdGroup, as_of: float) -> dict[str, Any]:
        modified = self.budgets.last_change(group.id, as_of)
        return {
            "advertiser_id": self.account.advertiser_id,
            "campaign_id": group.campaign.id,
            "adgroup_id": group.id,
            "adgroup_name": group.name,
            "budget": self.budgets.budget_at(group.id, as_of),
            "budget_mode": self.budgets.mode(group.id),
            "operation_status": "ENABLE",
            "modify_time": datetime.fromtimestamp(modified or CREATED, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        }

    def update(self, request: BusinessRequest) -> dict[str, Any]:
        body = request.body
        if not isinstance(body, dict):
            raise bad_parameter("body", "must be a JSON object.")
        advertiser_id = body.get("advertiser_id")
        if not isinstance(advertiser_id, str) or not advertiser_id:
            raise bad_parameter("advertiser_id", "is required.")
        if advertiser_id != self.account.advertiser_id:
            raise BusinessError(40001, f"No permission to operate advertiser_id {advertiser_id}.")
        entries = body.get("budget")
        if not isinstance(entries, list) or not entries:
            raise bad_parameter("budget", "must be a non-empty array of {adgroup_id, budget}.")
        if len(entries) > MAX_UPDATE_ENTRIES:
            raise bad_parameter("budget", f"at most {MAX_UPDATE_ENTRIES} ad groups a request, got {len(entries)}.")
        known = {group.id for group in self.budgets.adgroups()}
        planned: list[tuple[str, float]] = []
        for i, entry in enumerate(entries):
            planned.append(self._check(entry, i, known))
        for adgroup_id, budget in planned:
            self.budgets.record(adgroup_id, budget, request.as_of)
        return {}

    def _check(self, entry: Any, i: int, known: set[str]) -> tuple[str, float]:
        field = f"budget[{i}]"
        if not isinstance(entry, dict):
            raise bad_parameter(field, "must be an object {adgroup_id, budget}.")
        adgroup_id, budget = entry.get("adgroup_id"), entry.get("budget")
        if not isinstance(adgroup_id, str) or adgroup_id not in known:
            raise bad_parameter(f"{field}.adgroup_id", f"no such ad group: {adgroup_id!r}.")
        if isinstance(budget, bool) or not isinstance(budget, int | float):
            raise bad_parameter(f"{field}.budget", f"must be a number, got {budget!r}.")
        mode = self.budgets.mode(adgroup_id)
        if "budget_mode" in entry and entry["budget_mode"] != mode:
            raise bad_parameter(f"{field}.budget_mode", f"the budget mode cannot be changed (it is {mode}).")
        if mode == INFINITE:
            raise bad_parameter(
                f"{field}.budget", "the ad group's budget is unlimited (BUDGET_MODE_INFINITE): it cannot be set."
            )
        if mode == DAY and budget < MIN_DAILY_BUDGET:
            raise bad_parameter(
                f"{field}.budget", f"the daily budget must be at least {MIN_DAILY_BUDGET:.2f} USD, got {budget}."
            )
        return adgroup_id, float(budget)


def adgroup_endpoints(endpoints: AdGroupEndpoints) -> dict[str, Endpoint]:
    """The ad group routes for :func:`..app.default_endpoints`."""
    return {
        "adgroup/get": Endpoint("GET", endpoints.get),
        "adgroup/budget/update": Endpoint("POST", endpoints.update),
    }
