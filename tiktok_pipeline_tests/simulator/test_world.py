"""The deterministic world: identity across instances and processes, curve shapes, id lookups."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tiktok_pipeline.simulator.world import Counts, World, WorldConfig

from .conftest import AS_OF

HOUR = 3600


def all_videos(world: World, t: float = AS_OF):
    return [v for c in world.creators() for v in world.videos_as_of(c.username, t)]


def test_same_seed_same_world_different_seed_differs():
    a, b, other = World(WorldConfig(seed=7)), World(WorldConfig(seed=7)), World(WorldConfig(seed=8))
    assert all_videos(a) == all_videos(b)
    assert [a.counts(v.id, AS_OF) for v in all_videos(a)] == [b.counts(v.id, AS_OF) for v in all_videos(b)]
    assert [v.id for v in all_videos(a)] != [v.id for v in all_videos(other)]


def test_counts_identical_in_a_fresh_process():
    world = World()
    ids = [v.id for v in all_videos(world)[:10]]
    script = (
        "import json, sys; from tiktok_pipeline.simulator.world import World; w = World(); "
        f"print(json.dumps([w.counts(i, {AS_OF!r}).__dict__ for i in {ids!r}]))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [world.counts(i, AS_OF).__dict__ for i in ids]


def test_videos_as_of_newest_first_within_history():
    world = World()
    for creator in world.creators():
        videos = world.videos_as_of(creator.username, AS_OF)
        times = [v.create_time for v in videos]
        assert videos and times == sorted(times, reverse=True)
        assert all(AS_OF - 7 * 86400 <= t <= AS_OF for t in times)
        assert all(v.creator_username == creator.username for v in videos)
    assert world.videos_as_of("nobody", AS_OF) == []


def test_ids_are_19_digit_and_decode_for_any_instant():
    world = World()
    for t in (AS_OF, AS_OF - 400 * 86400, AS_OF + 900 * 86400):
        for video in all_videos(world, t):
            assert len(video.id) == 19 and video.id.isdigit()
            assert int(video.id) >> 32 == video.create_time  # TikTok's layout: the top bits are the time
            assert World().video(video.id) == video  # a fresh world, no cache: decoded from the id
    assert world.video("7077642457847991554") is None
    assert world.video("not-an-id") is None
    assert World(WorldConfig(seed=8)).video(all_videos(world)[0].id) is None


def test_counts_zero_before_publication():
    world = World()
    video = all_videos(world)[0]
    assert world.counts(video.id, video.create_time - 1) == Counts(0, 0, 0, 0)
    assert world.counts("123", AS_OF) == Counts(0, 0, 0, 0)


def test_counts_never_decrease_without_corrections():
    world = World(WorldConfig(viral_share=0.5))
    videos = all_videos(world)[:40]
    assert any(v.is_viral for v in videos)
    for video in videos:
        previous = Counts(0, 0, 0, 0)
        for step in range(0, 9 * 24 * 12):  # every 5 minutes for 9 days
            counts = world.counts(video.id, video.create_time - 600 + step * 300)
            for field in ("view_count", "like_count", "comment_count", "share_count"):
                assert getattr(counts, field) >= getattr(previous, field), (video.id, field, step)
            previous = counts
        assert 2**31 > previous.like_count >= 0 and previous.view_count < 2**63


def test_corrections_drop_views_exactly_once():
    world = World(WorldConfig(correction_share=1.0))
    for video in all_videos(world)[:30]:
        assert video.correction_time is not None
        views = [world.counts(video.id, video.create_time + m * 60).view_count for m in range(0, 3 * 24 * 60, 2)]
        drops = [i for i in range(1, len(views)) if views[i] < views[i - 1]]
        assert len(drops) == 1, video.id
        drop_at = video.create_time + drops[0] * 120
        assert drop_at - 120 < video.correction_time <= drop_at
        before, after = views[drops[0] - 1], views[drops[0]]
        assert 0.005 * before <= before - after <= 0.06 * before


def test_viral_videos_surge_after_onset():
    world = World(WorldConfig(viral_share=1.0))
    for video in all_videos(world)[:20]:
        onset = video.viral_onset
        assert video.is_viral and onset is not None and onset > video.create_time

        def gain(start: float) -> int:
            return world.counts(video.id, start + 3 * HOUR).view_count - world.counts(video.id, start).view_count

        assert gain(onset) > 5 * max(gain(onset - 3 * HOUR), 1)
        assert world.counts(video.id, onset + 3 * 86400).view_count > 10 * world.counts(video.id, onset).view_count


def test_interactions_track_views():
    world = World()
    for video in all_videos(world)[:20]:
        counts = world.counts(video.id, video.create_time + 3 * 86400)
        assert 0 < counts.like_count < counts.view_count
        assert counts.comment_count < counts.like_count and counts.share_count < counts.like_count


def test_user_stats_are_pure_and_monotone():
    world = World()
    username = world.creators()[0].username
    stats = [world.user_stats(username, AS_OF + h * HOUR) for h in range(0, 24 * 30, 6)]
    assert stats[0] == World().user_stats(username, AS_OF)
    for key in ("follower_count", "following_count", "likes_count", "video_count"):
        assert all(a[key] <= b[key] for a, b in zip(stats, stats[1:], strict=False)), key
    assert stats[0]["video_count"] >= len(world.videos_as_of(username, AS_OF))
    with pytest.raises(KeyError):
        world.user_stats("nobody", AS_OF)


def test_decoys_burst_then_fade_and_are_truth():
    world = World(WorldConfig(decoy_share=1.0, viral_share=0.0, count_noise_seconds=0))
    videos = all_videos(world)[:20]
    assert all(v.is_decoy and v.burst_start is not None for v in videos)
    for video in videos:
        start, length = video.burst_start, video.curve.burst_seconds
        assert video.create_time + HOUR <= start <= video.create_time + 24 * HOUR and 600 <= length <= 2400
        plain = World(WorldConfig(decoy_share=0.0, viral_share=0.0, count_noise_seconds=0))

        def extra(t: float) -> int:
            return world.counts(video.id, t).view_count - plain.counts(video.id, t).view_count

        assert abs(extra(start)) <= 1
        half = extra(start + length / 2)
        assert 0.4 * video.curve.burst_views <= half <= 0.6 * video.curve.burst_views + 1
        assert abs(extra(start + length) - extra(start + length + 6 * HOUR)) <= 1  # over: nothing more (±rounding)


def test_decoy_share_is_about_the_configured_share_and_seeded():
    world = World()
    videos = all_videos(world)
    share = sum(v.is_decoy for v in videos) / len(videos)
    assert 0.15 <= share <= 0.45, share
    assert [v.burst_start for v in videos] == [v.burst_start for v in all_videos(World())]


def test_noisy_counts_jitter_short_deltas_but_not_long_ones():
    noisy, exact = World(), World(WorldConfig(count_noise_seconds=0))
    video = next(v for v in all_videos(noisy) if not v.is_viral and not v.is_decoy)
    t0 = video.create_time + 2 * HOUR
    short = [
        (noisy.counts(video.id, t0 + k * 300).view_count - noisy.counts(video.id, t0 + (k - 1) * 300).view_count)
        / max(
            exact.counts(video.id, t0 + k * 300).view_count - exact.counts(video.id, t0 + (k - 1) * 300).view_count, 1
        )
        for k in range(1, 25)
    ]
    assert max(short) - min(short) > 0.2  # 5-minute deltas are noisy
    assert all(0.5 <= r <= 1.5 for r in short)  # within ±2 × 60 s of 300 s, and rounding
    long = noisy.counts(video.id, t0 + 1800).view_count - noisy.counts(video.id, t0).view_count
    true = exact.counts(video.id, t0 + 1800).view_count - exact.counts(video.id, t0).view_count
    assert abs(long - true) <= 0.1 * true + 2
