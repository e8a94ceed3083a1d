"""Window planning: tiers from momentum, due rules, budget packing, deferral and backoff."""

from datetime import UTC, datetime, timedelta

import polars as pl

from tiktok_pipeline.ingest.polling.plan import CREATOR_STATE_SCHEMA, VIDEO_STATE_SCHEMA, plan_costs, plan_window
from tiktok_pipeline.ingest.polling.policy import PollingPolicy, Tier
from tiktok_pipeline.ingest.polling.retry_plan import cut_to, due_part

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


def test_cadence_per_tier_decides_who_waits_when_demand_exceeds_the_budget():
    state = videos(
        [
            ("hot", "a", 5, 50.0, 2.0, True),
            ("warm-due", "a", 10, 5.0, 0.7, True),
            ("warm-early", "a", 5, 5.0, 0.7, True),
            ("cold-due", "a", 15, 1.0, 0.1, True),
            ("cold-early", "a", 10, 1.0, 0.1, True),
            ("new", "a", None, None, None, False),
        ]
        + [(f"b{i:02d}", "b", 15, 0.5, 0.1, True) for i in range(40)]  # demand: 3 requests
    )
    plan = plan_window(state, ["a", "b"], discovered("a", "b"), NOW, PollingPolicy(budget_requests=1))
    assert plan.discover == []
    assert plan.videos["a"][:4] == ["new", "hot", "warm-due", "cold-due"]  # new first, then expected change
    assert plan.due_videos == 44 and plan.deferred_videos == 40 and plan.planned_requests == 1
    assert plan.tiers == {"hot": 2, "warm": 1, "cold": 41}


def test_budget_at_least_demand_plans_every_tracked_video_every_window():
    state = videos(
        [
            ("hot", "a", 5, 50.0, 2.0, True),
            ("warm-early", "a", 5, 5.0, 0.7, True),
            ("cold-early", "a", 10, 1.0, 0.1, True),
            ("cold-just-polled", "b", 5, 1.0, 0.1, True),
        ]
    )
    plan = plan_window(state, ["a", "b"], discovered("a", "b"), NOW, PollingPolicy())
    assert plan.videos == {"a": ["hot", "cold-early", "warm-early"], "b": ["cold-just-polled"]}
    assert plan.due_videos == 1 and plan.tiers == {"hot": 1} and plan.deferred_videos == 0
    assert plan.planned_requests == plan.endpoint_requests["video/query"] == 2


def shipped_registry_state(minutes_since_poll: dict[str, int]) -> tuple[list[str], pl.DataFrame]:
    """The shipped registry's creators and their recent videos in the simulator's world (seed 7, the default),
    as the polling state holds them: momentum spread over the tiers, each tier last polled as given."""
    from tiktok_pipeline.ingest.registry import load_registry
    from tiktok_pipeline.settings import DATA_DIR, DisplaySettings
    from tiktok_pipeline.simulator.world import World, WorldConfig

    creators = load_registry(DATA_DIR / "tracking_registry.json").usernames
    world = World(WorldConfig(seed=7, creators=len(creators)))
    horizon = DisplaySettings().tracking_horizon_days * 86400
    t = NOW.replace(tzinfo=UTC).timestamp()
    momentum = {"hot": 2.0, "warm": 0.7, "cold": 0.1}
    rows = []
    for creator in creators:
        for i, video in enumerate(world.videos_as_of(creator, t)):
            if video.create_time >= t - horizon:
                tier = ("hot", "warm", "cold", "cold")[i % 4]
                rows.append((video.id, creator, minutes_since_poll[tier], 1.0 + i, momentum[tier], True))
    return creators, videos(rows)


def test_with_the_defaults_the_shipped_registry_is_refreshed_whole_every_window():
    creators, state = shipped_registry_state({"hot": 5, "warm": 5, "cold": 5})
    assert state.height > 50
    plan = plan_window(state, creators, discovered(*creators), NOW, PollingPolicy())
    assert sorted(v for ids in plan.videos.values() for v in ids) == sorted(state["video_id"])
    assert plan.deferred_videos == 0 and plan.endpoint_requests["video/query"] == len(creators)


def test_the_last_request_of_a_creator_is_filled_with_its_stalest_videos_not_due():
    rows = (
        [(f"a-due{i:02d}", "a", 15, 100.0 + i, 0.1, True) for i in range(25)]  # 2 requests: 20 + 5 ids
        + [(f"a-early{i:02d}", "a", 10 - i % 10, 1.0, 0.1, True) for i in range(30)]
        + [(f"b-due{i:02d}", "b", 15, 1.0, 0.1, True) for i in range(10)]  # less valuable: waits
    )
    plan = plan_window(videos(rows), ["a", "b"], discovered("a", "b"), NOW, PollingPolicy(budget_requests=2))
    assert plan.planned_requests == 2 and list(plan.videos) == ["a"]
    ids = plan.videos["a"]
    assert len(ids) == 40 and plan.ids_per_request == 20.0 and plan.filled_videos == 15
    assert ids[:25] == [f"a-due{i:02d}" for i in reversed(range(25))]
    # the 15 stalest of the videos not due: polled 10, 9 and 8 minutes ago (and 7 minutes ago for the last 3)
    fill = ids[25:]
    assert [int(v[-2:]) % 10 for v in fill] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert plan.deferred_videos == 10 and plan.due_videos == 35


def test_each_endpoint_has_its_own_budget_from_the_rate_limit():
    policy = PollingPolicy()
    assert policy.endpoint_budget() == {"user/info": 2655, "video/list": 2655, "video/query": 2655}
    assert policy.budget() == 3 * 2655  # no overall cap by default: the capacity of the three endpoints
    assert PollingPolicy().endpoint_budgets(requests_per_minute=300)["video/query"] == 1350
    own = PollingPolicy(budget_video_list=5, budget_video_query=7)
    assert own.endpoint_budget() == {"user/info": 2655, "video/list": 5, "video/query": 7}
    assert own.endpoint_budget(backoff=2.0) == {"user/info": 1327, "video/list": 2, "video/query": 3}
    assert PollingPolicy(budget_requests=100).budget() == 100


def test_discovery_within_video_list_budget_and_refresh_within_video_query_budget():
    rows = [(f"{c}{i:02d}", c, 15, 1.0, 0.1, True) for c in "abc" for i in range(30)]  # 2 list pages + 1 each
    creators = pl.concat([discovered("a", ago=70), discovered("b", ago=65), discovered("c", ago=60)])
    policy = PollingPolicy(budget_video_list=3, budget_video_query=3)
    plan = plan_window(videos(rows), ["a", "b", "c"], creators, NOW, policy)
    assert plan.discover == ["a"] and plan.deferred_creators == 2  # b and c do not fit video/list
    assert plan.endpoint_requests == {"user/info": 1, "video/list": 3, "video/query": 3}
    assert plan.polled_videos == 50 and plan.deferred_videos == 10  # b's and c's videos: 3 of their 4 requests
    assert plan.endpoint_budget == {"user/info": 2655, "video/list": 3, "video/query": 3}


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


def simulator_client(tmp_path):
    """A Display API client of the in-process simulator, and its creators."""
    from pydantic import SecretStr

    from tiktok_pipeline.simulator.app import Simulator
    from tiktok_pipeline.sources.display_api.client import DisplayApiClient, simulator_code
    from tiktok_pipeline.sources.display_api.tokens import TokenStore
    from tiktok_pipeline.sources.http import SIMULATOR_HOOKS

    sim = Simulator()
    client = DisplayApiClient(
        "http://sim",
        client_key="k",
        client_secret=SecretStr("sim-secret"),
        token_store=TokenStore(tmp_path / "t.json"),
        transport=sim.transport(),
        request_hooks=SIMULATOR_HOOKS,
        unattended_code=simulator_code,
    )
    return client, [c.username for c in sim.world.creators()]


def test_collection_keeps_each_endpoint_within_its_budget(tmp_path):
    from tiktok_pipeline.ingest.collect.display import collect_window
    from tiktok_pipeline.ingest.polling.plan import WindowPlan

    client, creators = simulator_client(tmp_path)
    budgets = {"user/info": 100, "video/list": 2, "video/query": 100}
    with client:
        discover = collect_window(
            client,
            creators,
            NOW,
            NOW,
            timedelta(days=7),
            WindowPlan(discover=creators, budget=300, endpoint_budget=budgets),
        )
    endpoints = [c.endpoint for c in discover.calls]
    assert endpoints.count("video/list") == 2 and endpoints.count("user/info") <= 2  # none for a discovery that waits
    assert any("video/list request budget" in why for why in discover.deferred.values()) and not discover.failures


def test_collection_stops_at_the_budget_even_if_the_plan_underestimated(tmp_path):
    from tiktok_pipeline.ingest.collect.display import collect_window
    from tiktok_pipeline.ingest.polling.plan import WindowPlan

    client, creators = simulator_client(tmp_path)
    with client:
        collection = collect_window(
            client, creators, NOW, NOW, timedelta(days=7), WindowPlan(discover=creators, budget=4)
        )
    assert sum(len(c.attempt_statuses) for c in collection.calls) == 4
    assert any("request budget" in why for why in collection.deferred.values()) and not collection.failures


def aged(rows: list[tuple]) -> pl.DataFrame:
    """rows of (video_id, creator, minutes since last poll, views_per_minute, momentum, hours since publication)."""
    state = videos([(v, c, ago, vpm, m, True) for v, c, ago, vpm, m, _ in rows])
    return state.with_columns(create_time=pl.Series([NOW - timedelta(hours=h) for *_, h in rows]))


def test_young_videos_are_due_every_window_and_win_a_short_budget_over_older_faster_ones():
    state = aged(
        [
            ("young", "a", 5, 1.0, 0.2, 3),  # cold by momentum, polled a window ago, 3 hours old
            ("old", "b", 15, 100.0, 0.1, 120),  # due on the cold cadence, far more views a minute, 5 days old
        ]
    )
    plan = plan_window(state, ["a", "b"], discovered("a", "b"), NOW, PollingPolicy(budget_requests=1))
    assert plan.videos == {"a": ["young"]} and plan.tiers == {"hot": 1, "cold": 1} and plan.deferred_videos == 1
    # with the age signal off, the cold cadence and expected change decide, as before
    off = plan_window(state, ["a", "b"], discovered("a", "b"), NOW, PollingPolicy(budget_requests=1, young_hours=0))
    assert off.videos == {"b": ["old"]} and off.tiers == {"cold": 1}


def test_a_videos_claim_on_a_short_budget_halves_with_each_young_hours_of_age():
    # all due (hot by age or cold and 15 minutes stale): 10 minutes stale at 1 hour beats 15 at 30 hours
    rows = [(f"a{i:02d}", "a", 10, 1.0, 0.2, 1) for i in range(20)]
    rows += [(f"b{i:02d}", "b", 15, 50.0, 0.2, 30) for i in range(20)]
    rows += [(f"c{i:02d}", "c", 15, 50.0, 0.2, 72) for i in range(20)]
    plan = plan_window(aged(rows), ["a", "b", "c"], discovered("a", "b", "c"), NOW, PollingPolicy(budget_requests=2))
    assert list(plan.videos) == ["a", "b"] and plan.deferred_videos == 20


def test_new_videos_on_a_short_budget_go_youngest_and_stalest_first():
    # no velocity yet (a creator just tracked, or the pipeline's first hour): every video is new and hot, so their
    # expected change is unknown alike; the chance a breakout began since the last poll orders them, not the id
    rows = [(f"a{i:02d}", "a", 5, None, None, False, 120) for i in range(20)]  # 5 days old
    rows += [(f"b{i:02d}", "b", 5, None, None, False, 2) for i in range(20)]  # 2 hours old
    rows += [(f"c{i:02d}", "c", 10, None, None, False, 30) for i in range(20)]  # 30 hours old, polled longer ago
    state = videos([row[:6] for row in rows]).with_columns(
        create_time=pl.Series([NOW - timedelta(hours=row[6]) for row in rows])
    )
    plan = plan_window(state, ["a", "b", "c"], discovered("a", "b", "c"), NOW, PollingPolicy(budget_requests=2))
    assert plan.tiers == {"hot": 60} and list(plan.videos) == ["b", "c"] and plan.deferred_videos == 20


def test_what_due_videos_leave_of_a_short_budget_goes_to_the_stalest_videos_not_due():
    rows = [(f"a{i:02d}", "a", 15, 1.0, 0.1, True) for i in range(20)]  # due: one request
    rows += [(f"{c}{i:02d}", c, ago, 1.0, 0.1, True) for c, ago in (("b", 10), ("c", 12), ("d", 6)) for i in range(20)]
    plan = plan_window(videos(rows), list("abcd"), discovered(*"abcd"), NOW, PollingPolicy(budget_requests=3))
    assert plan.planned_requests == 3 and list(plan.videos) == ["a", "c", "b"]
    assert plan.due_videos == 20 and plan.deferred_videos == 0 and plan.filled_videos == 40


def test_a_pending_retrys_requests_are_held_back_from_polls_of_videos_not_due_only():
    rows = [(f"a{i:02d}", "a", 15, 1.0, 0.1, True) for i in range(20)]  # due: one request
    rows += [(f"{c}{i:02d}", c, ago, 1.0, 0.1, True) for c, ago in (("b", 10), ("c", 12), ("d", 6)) for i in range(20)]
    state, creators, policy = videos(rows), list("abcd"), PollingPolicy(budget_requests=3)
    retry = {"total": 1, "user/info": 0, "video/list": 0, "video/query": 1}
    plan = plan_window(state, creators, discovered(*creators), NOW, policy, reserve=retry)
    assert list(plan.videos) == ["a", "c"] and plan.planned_requests == 2 and plan.reserved == retry
    assert plan.deferred_videos == 0 and plan.due_per_creator == {"a": 20}
    # the due videos still come first: a reserve larger than what they leave takes all of that, never theirs
    big = plan_window(state, creators, discovered(*creators), NOW, policy, reserve={"total": 3, "video/query": 3})
    assert list(big.videos) == ["a"] and big.planned_requests == 1 and big.deferred_videos == 0
    # a retry whose discoveries cannot be sent (user/info spent) holds nothing back
    spent = PollingPolicy(budget_requests=3, budget_user_info=1)
    futile = plan_window(state, creators, discovered(*creators), NOW, spent, reserve={"total": 3, "user/info": 2})
    assert futile.planned_requests == 3 and futile.reserved == {}
    # a reserve of user/info (a retry's discoveries) counts against the overall budget too
    info = plan_window(state, creators, discovered(*creators), NOW, policy, reserve={"total": 2, "user/info": 2})
    assert list(info.videos) == ["a"] and info.planned_requests == 1
    # no retry pending: the whole budget is spent; with budget to spare, every video as before
    assert plan_window(state, creators, discovered(*creators), NOW, policy).planned_requests == 3
    roomy = plan_window(state, creators, discovered(*creators), NOW, PollingPolicy(), reserve=retry)
    assert roomy.polled_videos == 80 and roomy.reserved == {}


def test_a_plans_due_part_drops_the_requests_opened_by_videos_not_due():
    rows = [(f"a{i:02d}", "a", 15, 1.0, 0.1, True) for i in range(25)]  # 25 due: two requests
    rows += [(f"a-fill{i:02d}", "a", 6, 1.0, 0.1, True) for i in range(30)]  # 15 fill the second request
    rows += [(f"b{i:02d}", "b", 12, 1.0, 0.1, True) for i in range(20)]  # not due: its own request
    plan = plan_window(
        videos(rows), ["a", "b"], discovered("a", "b"), NOW, PollingPolicy(budget_requests=4)
    ).model_dump()
    assert plan["planned_requests"] == 4 and plan["due_per_creator"] == {"a": 25}
    due = due_part(plan)
    assert due["videos"] == {"a": plan["videos"]["a"][:40]} and due["filled_videos"] == 15
    assert plan_costs(due) == {"total": 2, "user/info": 0, "video/list": 0, "video/query": 2}
    old = {k: v for k, v in plan.items() if k != "due_per_creator"}  # a plan made before due_per_creator: whole
    assert due_part(old) == old


def test_a_due_part_is_cut_to_the_budget_left_its_most_valuable_creators_first():
    rows = [(f"a{i:02d}", "a", None, None, None, False) for i in range(30)]  # new: first, two requests
    rows += [(f"{c}{i:02d}", c, 15, 1.0, 0.1, True) for c in "bc" for i in range(20)]  # due: one request each
    plan = plan_window(videos(rows), list("abc"), discovered(*"abc"), NOW, PollingPolicy()).model_dump()
    assert list(plan["videos"]) == ["a", "b", "c"] and plan["planned_requests"] == 4
    left = {"total": 3, "user/info": 5, "video/list": 5, "video/query": 10}
    cut = cut_to(due_part(plan), left)
    assert cut is not None and cut["videos"] == {"a": plan["videos"]["a"], "b": plan["videos"]["b"]}
    assert (
        plan_costs(cut)["total"] == 3 and cut["deferred_videos"] == 20 and cut["due_per_creator"] == {"a": 30, "b": 20}
    )
    assert cut_to(plan, {**left, "total": 1})["videos"] == {"b": plan["videos"]["b"]}  # a's two do not fit, b's one
    assert cut_to(plan, {**left, "total": 0}) is None  # nothing would be sent: the retry waits
    listed = {"discover": ["a"], "endpoint_requests": {"user/info": 1, "video/list": 2, "video/query": 4}}
    assert cut_to(plan | listed | {"planned_requests": 7}, {**left, "total": 2}) is None  # its discoveries do not fit
    assert cut_to(plan, left | {"total": 9}) == plan | {
        "deferred_videos": 0,
        "due_per_creator": plan["due_per_creator"],
    }


def test_discoveries_spread_over_their_cadence_when_the_budget_is_short():
    creators = [f"c{i:02d}" for i in range(24)]
    rows = [(f"{c}-{i}", c, 15, 1.0, 0.1, True) for c in creators for i in range(10)]
    stale = discovered(*creators, ago=61)
    # 24 discoveries of 3 requests and 24 refreshes against 30: 2 creators a window (24 over 12 windows)
    plan = plan_window(videos(rows), creators, stale, NOW, PollingPolicy(budget_requests=30))
    assert len(plan.discover) == 2 and plan.deferred_creators == 22
    assert plan.endpoint_requests == {"user/info": 2, "video/list": 4, "video/query": 22}
    # when the budget covers them all, every due creator is discovered at once
    assert len(plan_window(videos(rows), creators, stale, NOW, PollingPolicy()).discover) == 24
    # separate endpoint budgets: discoveries spend user/info and video/list, not what video/query needs
    own = PollingPolicy(budget_user_info=30, budget_video_list=30, budget_video_query=22)
    apart = plan_window(videos(rows), creators, stale, NOW, own)
    assert len(apart.discover) == 15 and apart.endpoint_requests == {
        "user/info": 15,
        "video/list": 30,
        "video/query": 9,
    }


def test_a_polling_state_written_before_create_time_reads_with_it_empty(tmp_path):
    from tiktok_pipeline.ingest.polling.state import read_polling_state

    old = videos([("v", "a", 15, 1.0, 0.1, True)]).drop("create_time")
    old.write_parquet(tmp_path / "videos.parquet")
    discovered("a").write_parquet(tmp_path / "creators.parquet")
    state = read_polling_state(tmp_path)
    assert state.videos.columns == list(VIDEO_STATE_SCHEMA) and state.videos["create_time"].null_count() == 1
    assert plan_window(state.videos, ["a"], state.creators, NOW, PollingPolicy()).videos == {"a": ["v"]}
