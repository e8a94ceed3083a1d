"""Ad group budgets over real HTTP: the served simulator's adgroup/get and adgroup/budget/update (TikTok's envelope,
token, minimum budget, fixed budget mode, unlimited budgets, the app's rate limit), and the spend model: an ad group
stops spending at its daily budget, and a new budget changes later hours only."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.adgroups import DAY, INFINITE
from tiktok_pipeline.simulator.business.ads import ADVERTISER_ID
from tiktok_pipeline.simulator.business.app import SIM_ACCESS_TOKEN
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.sources.business_api.adgroups import BUDGET_UPDATE_ENDPOINT, read_budgets, update_budget
from tiktok_pipeline.sources.business_api.client import BusinessApiClient, BusinessApiError
from tiktok_pipeline.sources.http import SIMULATOR_HOOKS, RetryPolicy

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
HOUR = 3600


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def served():
    clock = Clock(NOW)
    simulator = Simulator(clock=clock)
    with serve_in_thread(simulator, timeout_seconds=0.5) as base_url:
        yield simulator, base_url, clock


def client(base_url, token=SIM_ACCESS_TOKEN, **kwargs):
    return BusinessApiClient(
        base_url,
        access_token=SecretStr(token),
        retry=RetryPolicy(max_attempts=2, base_seconds=0.01),
        timeout_seconds=5.0,
        request_hooks=SIMULATOR_HOOKS,
        **kwargs,
    )


def by_mode(budgets, mode):
    return next(g for g, b in sorted(budgets.items()) if b.budget_mode == mode)


def test_adgroup_get_lists_every_ad_group_with_budget_and_mode(served):
    simulator, base_url, _ = served
    with client(base_url) as api:
        budgets = read_budgets(api, ADVERTISER_ID)
        one = next(iter(budgets))
        filtered = read_budgets(api, ADVERTISER_ID, [one])
        with pytest.raises(BusinessApiError) as other:
            api.get("adgroup/get", {"advertiser_id": "123"})
        with pytest.raises(BusinessApiError) as bad_filter:
            api.get("adgroup/get", {"advertiser_id": ADVERTISER_ID, "filtering": {"ad_ids": ["1"]}})
    with client(base_url, token="wrong") as api, pytest.raises(BusinessApiError) as token:
        read_budgets(api, ADVERTISER_ID)
    assert set(budgets) == {g.id for g in simulator.business.budgets.adgroups()}
    assert {b.budget_mode for b in budgets.values()} >= {DAY, INFINITE}
    assert all(b.budget >= 20 for b in budgets.values() if b.budget_mode == DAY)
    assert list(filtered) == [one]
    assert other.value.code == 40001 and bad_filter.value.code == 40002 and "filtering.ad_ids" in str(bad_filter.value)
    assert token.value.code == 40105


def test_budget_update_applies_tiktoks_rules_and_records_each_change(served):
    simulator, base_url, _ = served
    with client(base_url) as api:
        budgets = read_budgets(api, ADVERTISER_ID)
        day, unlimited = by_mode(budgets, DAY), by_mode(budgets, INFINITE)
        answered = update_budget(api, ADVERTISER_ID, day, 20.0)
        refusals = {}
        for name, body in {
            "below minimum": {"advertiser_id": ADVERTISER_ID, "budget": [{"adgroup_id": day, "budget": 19.99}]},
            "mode": {
                "advertiser_id": ADVERTISER_ID,
                "budget": [{"adgroup_id": day, "budget": 50, "budget_mode": "BUDGET_MODE_TOTAL"}],
            },
            "unlimited": {"advertiser_id": ADVERTISER_ID, "budget": [{"adgroup_id": unlimited, "budget": 100}]},
            "boolean": {"advertiser_id": ADVERTISER_ID, "budget": [{"adgroup_id": day, "budget": True}]},
            "unknown": {"advertiser_id": ADVERTISER_ID, "budget": [{"adgroup_id": "42", "budget": 100}]},
            "half refused": {
                "advertiser_id": ADVERTISER_ID,
                "budget": [{"adgroup_id": day, "budget": 300}, {"adgroup_id": unlimited, "budget": 300}],
            },
        }.items():
            with pytest.raises(BusinessApiError) as refused:
                api.post(BUDGET_UPDATE_ENDPOINT, body, retry_timeouts=False)
            refusals[name] = refused.value
        after = read_budgets(api, ADVERTISER_ID, [day])[day]
    assert answered.code == 0 and answered.request_id
    assert all(e.code == 40002 for e in refusals.values())
    assert "at least 20.00 USD" in str(refusals["below minimum"])
    assert "budget_mode" in str(refusals["mode"]) and "cannot be changed" in str(refusals["mode"])
    assert "BUDGET_MODE_INFINITE" in str(refusals["unlimited"])
    assert "must be a number" in str(refusals["boolean"]) and "adgroup_id" in str(refusals["unknown"])
    assert after.budget == 20.0 and after.budget_mode == DAY  # the half-refused request applied nothing
    [change] = simulator.business.budgets.changes
    assert (change.adgroup_id, change.before, change.after) == (day, budgets[day].budget, 20.0)
    assert change.applied_at == NOW.timestamp()


def test_budget_update_counts_against_the_apps_rate_limit(served):
    simulator, base_url, _ = served
    simulator.business.qps = 2
    with client(base_url, requests_per_second=None) as api:
        budgets = read_budgets(api, ADVERTISER_ID)
        day = by_mode(budgets, DAY)
        codes = []
        for _ in range(3):
            try:
                codes.append(
                    api.post(
                        BUDGET_UPDATE_ENDPOINT,
                        {"advertiser_id": ADVERTISER_ID, "budget": [{"adgroup_id": day, "budget": 500}]},
                        retry_timeouts=False,
                    ).code
                )
            except BusinessApiError as error:
                codes.append(error.code)
    assert 40100 in codes and simulator.business.stats["throttled"] >= 1


def _ads(account, adgroup_id, day_start):
    return [a for a in account.ads_between(day_start, day_start + 86400) if a.adgroup.id == adgroup_id]


def _day_spend(account, adgroup_id, day_start, hours):
    ads = _ads(account, adgroup_id, day_start)
    return [sum(account.settled(a, day_start + h * HOUR).spend for a in ads) for h in range(hours)]


def test_spend_stops_at_the_daily_budget_and_a_change_affects_later_hours_only(served):
    simulator, base_url, clock = served
    budgets_state = simulator.business.budgets
    account = simulator.business.reporting.account
    day_start = int(datetime(2026, 11, 21, tzinfo=UTC).timestamp())
    groups = [g.id for g in budgets_state.adgroups() if budgets_state.mode(g.id) == DAY]
    # the ad group that spends most that day, uncapped
    spends = {g: sum(_day_spend(account, g, day_start, 24)) for g in groups}
    group = max(spends, key=spends.__getitem__)
    before = _day_spend(account, group, day_start, 24)
    clock.now = day_start + 2 * HOUR + 600  # 02:10: lower to 20 USD a day
    with client(base_url) as api:
        update_budget(api, ADVERTISER_ID, group, 20.0)
        lowered = _day_spend(account, group, day_start, 24)
        assert lowered[:3] == before[:3]  # hours already under way keep their spend
        assert sum(lowered) == pytest.approx(max(20.0, sum(before[:3])), abs=0.05 * 3)
        assert sum(lowered[3:]) <= max(0.0, 20.0 - sum(before[:3])) + 0.05 * 21
        clock.now = day_start + 10 * HOUR + 1200  # 10:20: raise again, hours from 11:00 spend
        update_budget(api, ADVERTISER_ID, group, 5000.0)
    raised = _day_spend(account, group, day_start, 24)
    assert raised[:11] == lowered[:11]
    assert sum(raised[11:]) > sum(lowered[11:]) + 1.0
    uncapped = [
        sum(account.uncapped_spend(a, day_start + h * HOUR) for a in _ads(account, group, day_start)) for h in range(24)
    ]
    assert raised[11:] == pytest.approx(uncapped[11:], abs=0.05 * 10)  # 5,000 a day caps nothing
    assert sum(before) < sum(uncapped) - 1.0  # while the default budget did cap that day
    assert [c.after for c in budgets_state.changes] == [20.0, 5000.0]
    assert timedelta(seconds=budgets_state.changes[1].applied_at - budgets_state.changes[0].applied_at) == timedelta(
        hours=8, minutes=10
    )
