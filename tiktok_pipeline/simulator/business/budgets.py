"""Ad group budgets of the simulated ad account and the daily cap they put on spend (no endpoint here).

Every (campaign, sponsored creator) pair of :class:`.ads.AdAccount` is an ad group with a budget mode drawn
from the seed: ``BUDGET_MODE_DAY`` (most; a daily budget of 400–1,600 USD), ``BUDGET_MODE_TOTAL`` (a lifetime
budget; the simulator does not cap lifetime spend) or ``BUDGET_MODE_INFINITE`` (no budget, answered as 0).

**Spend respects the daily budget** (:meth:`AdGroupBudgets.spend_factor`): over a local day of the account's
zone, an ad group's hourly spend is what its ads would spend, cut once the day's spend reaches the budget in
effect **at the start of that hour**: a change applies to later hours only (never rewrites an hour already
under way, so reports stay non-decreasing), and raising the budget lets later hours spend more.
Every applied change is recorded in :attr:`AdGroupBudgets.changes` (tests and the pacing benchmark read it), and,
given a state file (:mod:`.budget_state`: the pipeline's embedded simulator), kept there across processes.
This module imports nothing of :mod:`.ads` (which owns one :class:`AdGroupBudgets` per account); the endpoints
are in :mod:`.adgroups`.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from tiktok_pipeline.simulator.business.budget_state import BudgetChange, BudgetStateFile
from tiktok_pipeline.simulator.randomness import unit
from tiktok_pipeline.simulator.world import World

Ad = Any
"""An :class:`.ads.Ad` (that module imports this one, so its types are not imported here)."""
AdGroup = Any
"""An :class:`.ads.AdGroup`."""


class AdAccount(Protocol):
    """What of :class:`.ads.AdAccount` the budgets use."""

    world: World
    seed: int
    zone: ZoneInfo
    advertiser_id: str

    def sponsors(self, creator_index: int) -> list[Any]: ...

    def adgroup(self, campaign: Any, username: str) -> Any: ...

    def ads_between(self, lo: float, hi: float) -> list[Any]: ...

    def uncapped_spend(self, ad: Any, hour: int) -> float: ...


HOUR = 3600


def local_midnight(day: date, zone: ZoneInfo) -> float:
    """The instant (epoch seconds) a local date begins in ``zone``."""
    return datetime.combine(day, time(), zone).timestamp()


MIN_DAILY_BUDGET = 20.0
"""TikTok's minimum daily budget of an ad group, in USD."""
DAY, TOTAL, INFINITE = "BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", "BUDGET_MODE_INFINITE"


class AdGroupBudgets:
    """The account's ad group budgets, their changes and the daily cap on spend (``account.budgets``)."""

    def __init__(self, account: AdAccount, state_path: Path | None = None) -> None:
        """``state_path``: a file keeping the applied changes across processes (:mod:`.budget_state`); None keeps
        them in memory only."""
        self.account = account
        self.changes: list[BudgetChange] = []
        self._lock = threading.Lock()
        self._factors: dict[tuple[str, int, int], float] = {}
        self._day_ads = lru_cache(maxsize=256)(self._ads_of_day)
        self._state = None if state_path is None else BudgetStateFile(state_path, account.seed, account.advertiser_id)
        self._refresh(force=True)

    def _refresh(self, *, force: bool = False) -> None:
        """Take the state file's changes when another process changed it (lock held or in ``__init__``)."""
        if self._state is not None and (changes := self._state.changed(force=force)) is not None:
            self.changes = changes
            self._factors.clear()

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
            self._refresh()
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
        with self._lock:
            self._refresh()
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

    def record(self, adgroup_id: str, budget: float, instant: float) -> BudgetChange:
        """Apply a new budget at ``instant`` (it caps the hours starting from then on) and record it."""
        with self._lock:
            if self._state is None:
                change = BudgetChange(
                    len(self.changes) + 1, adgroup_id, self._current(adgroup_id, instant), budget, instant
                )
                self.changes.append(change)
                return change

            def make(changes: list[BudgetChange]) -> BudgetChange:
                self.changes = changes  # every process's changes, read under the file's lock
                return BudgetChange(len(changes) + 1, adgroup_id, self._current(adgroup_id, instant), budget, instant)

            change, self.changes = self._state.append(make)
            self._factors.clear()
        return change

    def last_change(self, adgroup_id: str, instant: float) -> float | None:
        """When the ad group's budget last changed at or before ``instant`` (None: never)."""
        with self._lock:
            self._refresh()
            return max(
                (c.applied_at for c in self.changes if c.adgroup_id == adgroup_id and c.applied_at <= instant),
                default=None,
            )

    def _current(self, adgroup_id: str, instant: float) -> float:
        """:meth:`budget_at` with the lock held."""
        budget = self.default_budget(adgroup_id)
        for change in self.changes:
            if change.adgroup_id == adgroup_id and change.applied_at <= instant:
                budget = change.after
        return budget
