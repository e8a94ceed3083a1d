"""Window planning: tiers from momentum, due rules, budget packing, deferral and backoff."""

from datetime import datetime, timedelta

import polars as pl

from tiktok_pipeline.ingest.polling.plan import CREATOR_STATE_SCHEMA, VIDEO_STATE_SCHEMA, plan_window
from tiktok_pipeline.ingest.polling.policy import PollingPolicy, Tier

NOW = datetime(2026, 11, 20, 12, 0)


def videos(rows: list[tuple]) -> pl.DataFrame:
    """rows of (video_id, creator, minutes since last poll or None, views_per_minute, momentum, has_history)."""
    return pl.DataFrame(
        [
            {
                "video_id": v,
                "creator_username": c,
                "last_polled_at": None if ago is None else NOW - timedelta(minutes=ago),
                "views_per_minute": vpm,
                "momentum": m,
                "has_history": h,
            }
            for v, c, ago, vpm, m, h in rows
        ],
        schema=VIDEO_STATE_SCHEMA,
    )


def discovered(*creators: str, ago: int = 5) -> pl.DataFrame:
    return pl.DataFrame(
        {"creator_username": list(creators), "last_discovered_at": [NOW - timedelta(minutes=ago)] * len(creators)},
        schema=CREATOR_STATE_SCHEMA,
    )


def test_tiers_from_momentum_and_new_videos_are_hot():
    policy = PollingPolicy()
    assert policy.tier(None, has_history=False) is Tier.HOT
    assert policy.tier(0.1, has_history=False) is Tier.HOT
    assert policy.tier(1.5, has_history=True) is Tier.HOT
    assert policy.tier(0.7, has_history=True) is Tier.WARM
    assert policy.tier(0.2, has_history=True) is Tier.COLD
    assert policy.tier(None, has_history=True) is Tier.HOT


def test_cadence_per_tier():
    state = videos(
        [
            ("hot", "a", 5, 50.0, 2.0, True),
            ("warm-due", "a", 10, 5.0, 0.7, True),
            ("warm-early", "a", 5, 5.0, 0.7, True),
            ("cold-due", "a", 15, 1.0, 0.1, True),
            ("cold-early", "a", 10, 1.0, 0.1, True),
            ("new", "a", None, None, None, False),
        ]
    )
    plan = plan_window(state, ["a"], discovered("a"), NOW, PollingPolicy())
    assert plan.discover == []
    assert plan.videos == {"a": ["new", "hot", "warm-due", "cold-due"]}  # new first, then expected change
    assert plan.due_videos == 4 and plan.deferred_videos == 0 and plan.planned_requests == 1
    assert plan.tiers == {"hot": 2, "warm": 1, "cold": 1}


def test_budget_is_never_exceeded_and_the_most_valuable_polls_win():
    rows = [(f"v{i:03d}", f"c{i % 3}", 15, float(i), 0.1, True) for i in range(120)]
    policy = PollingPolicy(budget_requests=3)
    plan = plan_window(videos(rows), ["c0", "c1", "c2"], discovered("c0", "c1", "c2"), NOW, policy)
    assert plan.planned_requests <= 3 and plan.budget == 3
    polled = [v for ids in plan.videos.values() for v in ids]
    assert len(polled) == 60 and plan.deferred_videos == 60 and plan.due_videos == 120
    assert min(int(v[1:]) for v in polled) == 60  # the fastest 60 videos won


def test_discovery_is_due_per_creator_and_costs_budget_first():
    state = videos([("x", "a", 15, 1.0, 0.1, True), ("y", "b", 15, 1.0, 0.1, True)])
    creators = pl.concat([discovered("a", ago=61), discovered("b", ago=20)])
    plan = plan_window(state, ["a", "b", "new-creator"], creators, NOW, PollingPolicy())
    assert plan.discover == ["new-creator", "a"]  # never discovered first, then the stalest
    assert plan.videos == {"b": ["y"]}  # a's videos come with its discovery
    tight = plan_window(state, ["a", "b", "new-creator"], creators, NOW, PollingPolicy(budget_requests=3))
    assert tight.discover == ["new-creator"] and tight.deferred_creators == 1


def test_backoff_widens_cadence_shrinks_budget_and_recovers_gradually():
    policy = PollingPolicy(budget_requests=100)
    state = videos([("warm", "a", 10, 5.0, 0.7, True), ("cold", "a", 15, 1.0, 0.1, True)])
    calm = plan_window(state, ["a"], discovered("a"), NOW, policy, backoff=1.0)
    throttled = plan_window(state, ["a"], discovered("a"), NOW, policy, backoff=2.0)
    assert calm.due_videos == 2 and throttled.due_videos == 0 and throttled.budget == 50
    assert policy.next_backoff(1.0, throttled=3, server_errors=0) == 2.0
    assert policy.next_backoff(2.0, throttled=0, server_errors=1) == 4.0
    assert policy.next_backoff(4.0, throttled=1, server_errors=0) == 4.0  # capped
    assert policy.next_backoff(4.0, 0, 0) == 3.0 and policy.next_backoff(1.1, 0, 0) == 1.0


def test_collection_stops_at_the_budget_even_if_the_plan_underestimated(tmp_path):
    from pydantic import SecretStr

    from tiktok_pipeline.ingest.collect.display import collect_window
    from tiktok_pipeline.ingest.polling.plan import WindowPlan
    from tiktok_pipeline.simulator.app import Simulator
    from tiktok_pipeline.sources.display_api.client import DisplayApiClient, simulator_code
    from tiktok_pipeline.sources.display_api.tokens import TokenStore
    from tiktok_pipeline.sources.http import SIMULATOR_HOOKS

    sim = Simulator()
    creators = [c.username for c in sim.world.creators()]
    plan = WindowPlan(discover=creators, budget=4)
    client = DisplayApiClient(
        "http://sim",
        client_key="k",
        client_secret=SecretStr("sim-secret"),
        token_store=TokenStore(tmp_path / "t.json"),
        transport=sim.transport(),
        request_hooks=SIMULATOR_HOOKS,
        unattended_code=simulator_code,
    )
    with client:
        collection = collect_window(client, creators, NOW, NOW, timedelta(days=7), plan)
    assert sum(len(c.attempt_statuses) for c in collection.calls) == 4
    assert any("request budget" in why for why in collection.deferred.values()) and not collection.failures
