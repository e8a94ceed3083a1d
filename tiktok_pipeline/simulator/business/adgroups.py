"""``adgroup/get`` and ``adgroup/budget/update`` of the simulated API for Business, and the budget spend cap.

Every (campaign, sponsored creator) pair of :class:`.ads.AdAccount` is an ad group with a budget mode drawn
from the seed: ``BUDGET_MODE_DAY`` (most; a daily budget of 400–1,600 USD), ``BUDGET_MODE_TOTAL`` (a lifetime
budget; the simulator does not cap lifetime spend) or ``BUDGET_MODE_INFINITE`` (no budget, answered as 0).

TikTok's rules, as the simulator answers them (code 40002 naming the field, nothing applied when one entry
is refused: the request is validated whole first):

- a daily budget below :data:`MIN_DAILY_BUDGET` (20 USD a day for ad groups) is refused;
- an ad group's budget mode cannot be changed (``budget_mode`` in an entry must be the ad group's own);
- the budget of a ``BUDGET_MODE_INFINITE`` ad group cannot be set;
- ``budget`` must be a number (a boolean or a string is refused), at most 20 ad groups a request.

**Spend respects the daily budget** (:meth:`AdGroupBudgets.spend_factor`): over a local day of the account's
zone, an ad group's hourly spend is what its ads would spend, cut once the day's spend reaches the budget in
effect **at the start of that hour**: a change applies to later hours only (never rewrites an hour already
under way, so reports stay non-decreasing), and raising the budget lets later hours spend more.
Every applied change is recorded in :attr:`AdGroupBudgets.changes` (tests and the pacing benchmark read it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tiktok_pipeline.simulator.business.advertiser import local_midnight
from tiktok_pipeline.simulator.business.params import bad_parameter, check_advertiser, json_parameter, page_of
from tiktok_pipeline.simulator.business.protocol import BusinessError, BusinessRequest, Endpoint
from tiktok_pipeline.simulator.randomness import unit

if TYPE_CHECKING:
    from tiktok_pipeline.simulator.business.ads import Ad, AdAccount, AdGroup

HOUR = 3600
MIN_DAILY_BUDGET = 20.0
"""TikTok's minimum daily budget of an ad group, in USD."""
MAX_UPDATE_ENTRIES = 20
DAY, TOTAL, INFINITE = "BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", "BUDGET_MODE_INFINITE"
ADGROUP_FIELDS = (
    "advertiser_id",
    "campaign_id",
    "adgroup_id",
    "adgroup_name",
    "budget",
    "budget_mode",
    "operation_status",
    "modify_time",
)


@dataclass(frozen=True)
class BudgetChange:
    """One applied budget change (``adgroup/budget/update``): what it was, what it became, and when."""

    serial: int
    adgroup_id: str
    before: float
    after: float
    applied_at: float


class AdGroupBudgets:
    """The account's ad group budgets, their changes and the daily cap on spend (``account.budgets``)."""

    def __init__(self, account: AdAccount) -> None:
        self.account = account
        self.changes: list[BudgetChange] = []
        self._lock = threading.Lock()
        self._factors: dict[tuple[str, int, int], float] = {}
        self._day_ads = lru_cache(maxsize=256)(self._ads_of_day)

    # --- the ad groups ------------------------------------------------------------------------
    def adgroups(self) -> list[AdGroup]:
        """Every ad group of the account (one per campaign and sponsored creator), ordered by id."""
        found = {
            group.id: group
            for creator in self.account.world.creators()
            for campaign in self.account.sponsors(creator.index)
            for group in [self.account.adgroup(campaign, creator.username)]
        }
        return [found[k] for k in sorted(found)]

    def mode(self, adgroup_id: str) -> str:
        """The ad group's budget mode (fixed: TikTok does not let it change)."""
        u = unit(self.account.seed, "adgroup_mode", adgroup_id)
        return INFINITE if u < 0.1 else TOTAL if u < 0.2 else DAY

    def default_budget(self, adgroup_id: str) -> float:
        """The budget the ad group was created with (0 for an unlimited one)."""
        mode = self.mode(adgroup_id)
        u = unit(self.account.seed, "adgroup_budget", adgroup_id)
        if mode == INFINITE:
            return 0.0
        return float(round(400 + 1_200 * u)) if mode == DAY else float(round(5_000 + 20_000 * u))

    def budget_at(self, adgroup_id: str, instant: float) -> float:
        """The budget in effect at ``instant``: the last change applied at or before it, else the default."""
        with self._lock:
            return self._current(adgroup_id, instant)

    # --- the cap on spend -----------------------------------------------------------------------
    def _ads_of_day(self, day_start: int, day_end: int) -> dict[str, tuple[Ad, ...]]:
        grouped: dict[str, list[Ad]] = {}
        for ad in self.account.ads_between(day_start, day_end):
            grouped.setdefault(ad.adgroup.id, []).append(ad)
        return {k: tuple(v) for k, v in grouped.items()}

    def spend_factor(self, ad: Ad, hour: int) -> float:
        """The share (0..1) of the ad's uncapped delivery in ``hour`` that its ad group's daily budget lets through."""
        group = ad.adgroup.id
        if self.mode(group) != DAY:
            return 1.0
        key = (group, hour, len(self.changes))
        cached = self._factors.get(key)
        if cached is not None:
            return cached
        local = datetime.fromtimestamp(hour, self.account.zone).date()
        day_start = int(local_midnight(local, self.account.zone))
        day_end = int(local_midnight(local + timedelta(days=1), self.account.zone))
        ads = self._day_ads(day_start, day_end).get(group, ())
        spent, factor = 0.0, 1.0
        for k in range(day_start, hour + HOUR, HOUR):
            uncapped = sum(self.account.uncapped_spend(a, k) for a in ads)
            allowed = min(uncapped, max(0.0, self.budget_at(group, k) - spent))
            factor = allowed / uncapped if uncapped > 0 else 1.0
            spent += allowed
        self._factors[key] = factor
        return factor

    # --- the endpoints ------------------------------------------------------------------------------
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
            for group in self.adgroups()
            if ("adgroup_ids" not in wanted or group.id in wanted["adgroup_ids"])
            and ("campaign_ids" not in wanted or group.campaign.id in wanted["campaign_ids"])
        ]
        return page_of(rows, params, default_size=10)

    def _record(self, group: AdGroup, as_of: float) -> dict[str, Any]:
        with self._lock:
            modified = max(
                (c.applied_at for c in self.changes if c.adgroup_id == group.id and c.applied_at <= as_of), default=None
            )
        return {
            "advertiser_id": self.account.advertiser_id,
            "campaign_id": group.campaign.id,
            "adgroup_id": group.id,
            "adgroup_name": group.name,
            "budget": self.budget_at(group.id, as_of),
            "budget_mode": self.mode(group.id),
            "operation_status": "ENABLE",
            "modify_time": datetime.fromtimestamp(modified or 1_736_899_200, UTC).strftime("%Y-%m-%d %H:%M:%S"),
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
        known = {group.id for group in self.adgroups()}
        planned: list[tuple[str, float]] = []
        for i, entry in enumerate(entries):
            planned.append(self._check(entry, i, known))
        with self._lock:
            for adgroup_id, budget in planned:
                before = self._current(adgroup_id, request.as_of)
                self.changes.append(BudgetChange(len(self.changes) + 1, adgroup_id, before, budget, request.as_of))
        return {}

    def _current(self, adgroup_id: str, instant: float) -> float:
        """:meth:`budget_at` with the lock held."""
        budget = self.default_budget(adgroup_id)
        for change in self.changes:
            if change.adgroup_id == adgroup_id and change.applied_at <= instant:
                budget = change.after
        return budget

    def _check(self, entry: Any, i: int, known: set[str]) -> tuple[str, float]:
        field = f"budget[{i}]"
        if not isinstance(entry, dict):
            raise bad_parameter(field, "must be an object {adgroup_id, budget}.")
        adgroup_id, budget = entry.get("adgroup_id"), entry.get("budget")
        if not isinstance(adgroup_id, str) or adgroup_id not in known:
            raise bad_parameter(f"{field}.adgroup_id", f"no such ad group: {adgroup_id!r}.")
        if isinstance(budget, bool) or not isinstance(budget, int | float):
            raise bad_parameter(f"{field}.budget", f"must be a number, got {budget!r}.")
        mode = self.mode(adgroup_id)
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


def adgroup_endpoints(budgets: AdGroupBudgets) -> dict[str, Endpoint]:
    """The ad group routes for :func:`..app.default_endpoints` (which sets ``api.budgets``)."""
    return {"adgroup/get": Endpoint("GET", budgets.get), "adgroup/budget/update": Endpoint("POST", budgets.update)}
