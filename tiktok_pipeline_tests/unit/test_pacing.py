"""Budget pacing, pure: expected share of the day, pace, recommendations and every guardrail; the adgroup/get parser
fuzzed with hypothesis; the settings' clear errors."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_pipeline.metrics.pacing import (
    Guardrails,
    History,
    Pace,
    Signals,
    Thresholds,
    expected_share,
    pace,
    recommend,
    recommendation_id,
)
from tiktok_pipeline.settings import SettingsError
from tiktok_pipeline.settings.pacing import FLAT_CURVE, load_pacing_settings
from tiktok_pipeline.sources.business_api.adgroups import parse_adgroups

UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
W = NOW - timedelta(minutes=5)
SURGE = Signals(momentum=3.0, video_id="7", ctr=0.02, ctr_change_30m=0.001)
FALLING = Signals(momentum=0.5, video_id="7", ctr=0.01, ctr_change_30m=-0.01)


def a_pace(budget=100.0, spent=50.0, share=0.5) -> Pace:
    expected = budget * share
    return Pace("1", budget, spent, share, expected, spent / expected, min(budget, spent / share))


def test_expected_share_follows_the_curve_on_the_accounts_local_clock():
    assert expected_share(FLAT_CURVE, NOW, UTC_ZONE) == pytest.approx(0.5)
    assert expected_share(FLAT_CURVE, NOW + timedelta(minutes=30), UTC_ZONE) == pytest.approx(12.5 / 24)
    evening = tuple([0.0] * 12 + [1.0] * 12)  # nothing expected before noon
    assert expected_share(evening, NOW, UTC_ZONE) == 0.0
    assert expected_share(evening, NOW + timedelta(hours=6), UTC_ZONE) == pytest.approx(0.5)
    # 12:00 UTC is 07:00 in New York: 7 hours of the local day elapsed
    assert expected_share(FLAT_CURVE, NOW, ZoneInfo("America/New_York")) == pytest.approx(7 / 24)
    with pytest.raises(ValueError, match="24 hour weights"):
        expected_share((1.0,) * 23, NOW, UTC_ZONE)


def test_pace_counts_todays_local_hours_only_and_projects_at_most_the_budget():
    hours = [(NOW - timedelta(hours=k), 10.0) for k in range(1, 15)]  # 14 hours back: 2 of them yesterday
    current = pace("1", 240.0, hours, NOW, UTC_ZONE, FLAT_CURVE)
    assert current.spent_today == 120.0 and current.expected_by_now == 120.0
    assert current.pacing_ratio == pytest.approx(1.0) and current.projected_eod == 240.0
    fast = pace("1", 100.0, hours, NOW, UTC_ZONE, FLAT_CURVE)
    assert fast.pacing_ratio == pytest.approx(2.4) and fast.projected_eod == 100.0  # TikTok stops at the budget
    ny = pace("1", 240.0, hours, NOW, ZoneInfo("America/New_York"), FLAT_CURVE)
    assert ny.spent_today == 70.0  # local day began at 05:00 UTC
    midnight = pace("1", 240.0, hours, datetime(2026, 11, 20, tzinfo=UTC), UTC_ZONE, FLAT_CURVE)
    assert midnight.pacing_ratio is None and midnight.projected_eod is None


def test_raise_when_a_boosted_video_surges_while_ctr_holds():
    rec = recommend(W, NOW, a_pace(spent=50.0), SURGE, History(100.0), Guardrails(), Thresholds())
    assert rec is not None and rec.action == "raise" and rec.budget_after == 120.0 and rec.guardrail == ""
    assert "surges" in rec.reason and rec.recommendation_id == recommendation_id(W, "1")
    falling_ctr = Signals(momentum=3.0, video_id="7", ctr=0.02, ctr_change_30m=-0.01)
    assert recommend(W, NOW, a_pace(), falling_ctr, History(100.0), Guardrails(), Thresholds()) is None
    underspending = a_pace(spent=20.0)  # projected 40 of 100: a raise would not be used
    assert recommend(W, NOW, underspending, SURGE, History(100.0), Guardrails(), Thresholds()) is None
    not_held = Signals(momentum=3.0, video_id="7", ctr=0.02, ctr_change_30m=0.001, held=False)  # a burst so far
    assert recommend(W, NOW, a_pace(spent=50.0), not_held, History(100.0), Guardrails(), Thresholds()) is None


def test_lower_when_overspending_with_falling_ctr_and_nothing_otherwise():
    rec = recommend(W, NOW, a_pace(spent=80.0), FALLING, History(100.0), Guardrails(), Thresholds())
    assert rec is not None and rec.action == "lower" and rec.budget_after == 80.0
    assert recommend(W, NOW, a_pace(spent=55.0), FALLING, History(100.0), Guardrails(), Thresholds()) is None
    assert recommend(W, NOW, a_pace(spent=80.0), Signals(), History(100.0), Guardrails(), Thresholds()) is None


def test_guardrails_step_day_floor_ceiling_and_cooldown():
    step = recommend(W, NOW, a_pace(), SURGE, History(100.0), Guardrails(max_step_percent=5), Thresholds())
    assert step is not None and step.budget_after == 105.0
    # already raised 40% today: the day's limit (50%) leaves 150, not 140 * 1.2 = 168
    day = recommend(W, NOW, a_pace(budget=140.0, spent=70.0), SURGE, History(100.0), Guardrails(), Thresholds())
    assert day is not None and day.budget_after == 150.0 and day.guardrail == "max_day_percent"
    ceiling = recommend(W, NOW, a_pace(), SURGE, History(100.0), Guardrails(ceiling=110.0), Thresholds())
    assert ceiling is not None and ceiling.budget_after == 110.0 and ceiling.guardrail == "ceiling"
    low = a_pace(budget=22.0, spent=20.0)
    floor = recommend(W, NOW, low, FALLING, History(22.0), Guardrails(floor=20.0), Thresholds())
    assert floor is not None and floor.budget_after == 20.0 and floor.guardrail == "floor"
    recent = History(100.0, last_change_at=NOW - timedelta(minutes=30))
    cooled = recommend(W, NOW, a_pace(), SURGE, recent, Guardrails(cooldown_minutes=60), Thresholds())
    assert cooled is not None and cooled.action == "hold" and cooled.guardrail == "cooldown"
    assert cooled.budget_after == cooled.budget_before == 100.0
    later = recommend(W, NOW, a_pace(), SURGE, recent, Guardrails(cooldown_minutes=20), Thresholds())
    assert later is not None and later.action == "raise"
    maxed = recommend(W, NOW, a_pace(budget=150.0, spent=75.0), SURGE, History(100.0), Guardrails(), Thresholds())
    assert maxed is not None and maxed.action == "hold" and maxed.guardrail == "max_day_percent"


@given(
    budget=st.floats(min_value=20, max_value=10_000),
    spent=st.floats(min_value=0, max_value=20_000),
    share=st.floats(min_value=0.01, max_value=1.0),
    step=st.floats(min_value=1, max_value=100),
    day=st.floats(min_value=1, max_value=500),
    momentum=st.floats(min_value=0, max_value=10),
    ctr_change=st.floats(min_value=-0.05, max_value=0.05),
)
def test_recommendations_always_stay_within_the_guardrails(budget, spent, share, step, day, momentum, ctr_change):
    guard = Guardrails(max_step_percent=step, max_day_percent=day, floor=20.0, ceiling=8000.0)
    signals = Signals(momentum, "7", 0.01, ctr_change)
    rec = recommend(W, NOW, a_pace(budget, spent, share), signals, History(budget), guard, Thresholds())
    if rec is None or rec.action == "hold":
        return
    assert 20.0 <= rec.budget_after <= 8000.0 or rec.guardrail in ("floor", "ceiling")
    change = abs(rec.budget_after - budget)
    assert change <= budget * step / 100 + 0.01 or rec.guardrail in ("floor", "ceiling")
    assert (rec.budget_after > budget) == (rec.action == "raise")


def _page(items):
    return {"list": items, "page_info": {"page": 1, "page_size": 1000, "total_number": len(items), "total_page": 1}}


def test_adgroup_answers_are_strict_and_errors_name_the_field():
    good = {"adgroup_id": "1", "campaign_id": "2", "budget": 50, "budget_mode": "BUDGET_MODE_DAY"}
    [record], pages = parse_adgroups(_page([good]))
    assert record.budget == 50.0 and pages == 1
    for field, value in [("budget", True), ("budget", "50"), ("budget_mode", "BUDGET_MODE_WEEK"), ("adgroup_id", 1)]:
        with pytest.raises(ValueError, match=rf"adgroup/get data.list\[0\]: {field}"):
            parse_adgroups(_page([{**good, field: value}]))
    with pytest.raises(ValueError, match="adgroup/get data"):
        parse_adgroups({"list": "nope"})


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_the_adgroup_parser_answers_or_raises_value_error_on_anything(data):
    try:
        records, _ = parse_adgroups(data)
    except ValueError as exc:
        assert str(exc).startswith("adgroup/get data")
    else:
        assert all(r.budget >= 0 for r in records)


@given(
    st.fixed_dictionaries(
        {
            "adgroup_id": st.from_regex(r"^\d{1,19}$", fullmatch=True),
            "campaign_id": st.from_regex(r"^\d{1,19}$", fullmatch=True),
            "budget": st.one_of(st.integers(0, 10**7), st.floats(0, 1e7)),
            "budget_mode": st.sampled_from(["BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", "BUDGET_MODE_INFINITE"]),
        }
    )
)
def test_every_well_formed_adgroup_record_parses(item):
    [record], _ = parse_adgroups(_page([item]))
    assert record.budget == pytest.approx(float(item["budget"]))


def test_pacing_settings_errors_name_the_variable(monkeypatch):
    monkeypatch.setenv("TIKTOK_PACING_HOUR_WEIGHTS", "[1, 2]")
    with pytest.raises(SettingsError, match="TIKTOK_PACING_HOUR_WEIGHTS.*24 weights"):
        load_pacing_settings()
    monkeypatch.delenv("TIKTOK_PACING_HOUR_WEIGHTS")
    monkeypatch.setenv("TIKTOK_PACING_MODE", "yolo")
    with pytest.raises(SettingsError, match="TIKTOK_PACING_MODE"):
        load_pacing_settings()
    monkeypatch.setenv("TIKTOK_PACING_MODE", "apply")
    monkeypatch.setenv("TIKTOK_PACING_FLOOR", "100")
    monkeypatch.setenv("TIKTOK_PACING_CEILING", "50")
    with pytest.raises(SettingsError, match="TIKTOK_PACING_CEILING"):
        load_pacing_settings()
    monkeypatch.setenv("TIKTOK_PACING_CEILING", "500")
    assert load_pacing_settings().pacing_mode == "apply"


def test_the_schema_check_fails_a_budget_moving_against_its_action_or_outside_the_bounds():
    import polars as pl

    from tiktok_pipeline.quality.pacing_schemas import pacing_by_window
    from tiktok_pipeline.windows import utc_naive, window_key

    row = {
        "window_start": utc_naive(W),
        "recommendation_id": "a",
        "adgroup_id": "1",
        "action": "raise",
        "budget_before": 100.0,
        "budget_after": 120.0,
        "spent_today": 50.0,
        "pacing_ratio": 1.0,
        "reason": "surge",
    }
    bad = [
        {**row, "recommendation_id": "b", "adgroup_id": "2", "budget_after": 90.0},  # a raise that lowers
        {**row, "recommendation_id": "c", "adgroup_id": "3", "budget_after": 9000.0},  # above the ceiling
    ]
    good = pacing_by_window(pl.DataFrame([row]), [W], 20.0, 5000.0)[window_key(W)]["pacing_recommendations_schema"]
    failed = pacing_by_window(pl.DataFrame([row, *bad]), [W], 20.0, 5000.0)[window_key(W)]
    outcome = failed["pacing_recommendations_schema"]
    assert good.passed and not outcome.passed and outcome.failed_rows == 2


def test_a_bound_the_budget_already_passed_holds_instead_of_moving_it_against_the_action():
    above = recommend(
        W, NOW, a_pace(budget=8001.0, spent=4000.0), SURGE, History(8001.0), Guardrails(ceiling=8000.0), Thresholds()
    )
    assert (
        above is not None and above.action == "hold" and above.budget_after == 8001.0 and above.guardrail == "ceiling"
    )
    below = a_pace(budget=20.0, spent=16.0)
    floor = recommend(W, NOW, below, FALLING, History(20.0), Guardrails(floor=25.0), Thresholds())
    assert floor is not None and floor.action == "hold" and floor.guardrail == "floor"
