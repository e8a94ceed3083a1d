"""The simulator's deterministic world: creators, their videos and every count at any instant.

Nothing is stored. Time is cut into fixed slots since the Unix epoch; in each slot a creator posts
at most one video (at a hashed offset, with a hashed chance to skip). Every property is a stable
hash of (seed, kind, ids) and every count a pure function of (seed, video, t), so the world is
infinite in time, identical in every process, and its ground truth is readable at any instant.

Video ids are 19-digit numbers laid out like TikTok's: the top bits are the publication time in
epoch seconds (``id >> 32``), then the creator index and a hashed check value. A video can
therefore be looked up from its id alone, without enumerating time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from pydantic import BaseModel, ConfigDict, Field

from tiktok_pipeline.simulator.curves import NOISE_KNOT_SECONDS, CurveParams, interactions_at, observed_time, views_at
from tiktok_pipeline.simulator.randomness import bits, unit

POST_PROBABILITY = 0.85
CREATOR_BITS = 10
CHECK_BITS = 22
YEAR_SECONDS = 365.25 * 86400
JOINED_EARLIEST = 1_546_300_800  # 2019-01-01T00:00:00Z: creators joined within three years of it
_ADJECTIVES = ("sunny", "urban", "cozy", "bold", "lazy", "vivid", "quiet", "rapid", "witty", "lunar")
_NOUNS = ("chef", "gamer", "stylist", "coach", "baker", "traveler", "maker", "dancer", "reviewer", "gardener")


class WorldConfig(BaseModel):
    """What the world looks like; the same config always gives the same world."""

    model_config = ConfigDict(frozen=True)

    seed: int = 7
    creators: int = Field(default=6, ge=1, le=2**CREATOR_BITS)
    mean_post_interval_hours: float = Field(default=8.0, gt=0)
    history_days: int = Field(default=7, gt=0, description="Older videos are not listed.")
    viral_share: float = Field(default=0.15, ge=0, le=1)
    correction_share: float = Field(default=0.0, ge=0, le=1, description="Videos with one downward correction.")
    decoy_share: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Videos with one short burst of views that fades (10-40 minutes, a share or a brief feature): "
        "decoys a surge detector must not take for a viral onset.",
    )
    count_noise_seconds: float = Field(
        default=60.0,
        ge=0,
        le=NOISE_KNOT_SECONDS / 2,
        description="Counts are read up to this many seconds off the true instant (cached counters): noisy deltas.",
    )


@dataclass(frozen=True)
class Creator:
    """A seeded creator who has authorised the app."""

    index: int
    open_id: str
    username: str
    display_name: str
    avatar_url: str
    bio_description: str
    joined_at: int
    follower_base: int
    follower_growth_per_year: float
    following_count: int
    likes_per_year: int
    video_base: int


@dataclass(frozen=True)
class VideoTruth:
    """A video's fixed properties; its counts come from :meth:`World.counts`."""

    id: str
    creator_username: str
    create_time: int
    duration: int
    title: str
    video_description: str
    share_url: str
    cover_image_url: str
    embed_link: str
    height: int
    width: int
    is_viral: bool
    viral_onset: int | None
    correction_time: int | None
    curve: CurveParams
    burst_start: int | None = None
    """A decoy's burst (truth for benchmarks): when its extra views start; they stop ``curve.burst_seconds`` later."""

    @property
    def is_decoy(self) -> bool:
        """Whether the video has a burst that fades (it may be viral too, at another time)."""
        return self.burst_start is not None


@dataclass(frozen=True)
class Counts:
    """A video's public counters at one instant."""

    view_count: int
    like_count: int
    comment_count: int
    share_count: int


ZERO = Counts(0, 0, 0, 0)


class World:
    """Creators and videos of one seed, queried as of any instant (epoch seconds)."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        self.slot_seconds = int(self.config.mean_post_interval_hours * 3600 / POST_PROBABILITY)
        self._creators = [self._make_creator(i) for i in range(self.config.creators)]
        self._by_username = {c.username: c for c in self._creators}
        self._by_open_id = {c.open_id: c for c in self._creators}
        self._lookup = lru_cache(maxsize=65_536)(self._decode)

    def _u(self, *parts: object) -> float:
        return unit(self.config.seed, *parts)

    # --- creators ----------------------------------------------------------------------------
    def _make_creator(self, i: int) -> Creator:
        adjective = _ADJECTIVES[int(self._u("adj", i) * len(_ADJECTIVES))]
        noun = _NOUNS[int(self._u("noun", i) * len(_NOUNS))]
        open_id = hashlib.blake2b(f"{self.config.seed}:{i}".encode(), digest_size=16).hexdigest()
        follower_base = int(10 ** (3 + 3 * self._u("followers", i)))
        return Creator(
            index=i,
            open_id=open_id,
            username=f"{adjective}_{noun}_{i + 1}",
            display_name=f"{adjective.title()} {noun.title()} {i + 1}",
            avatar_url=f"https://p16-sign.tiktokcdn.com/sim/avatar/{open_id}.jpeg",
            bio_description=f"{adjective.title()} {noun} sharing daily clips",
            joined_at=JOINED_EARLIEST + int(3 * YEAR_SECONDS * self._u("joined", i)),
            follower_base=follower_base,
            follower_growth_per_year=0.2 + 1.8 * self._u("growth", i),
            following_count=int(50 + 950 * self._u("following", i)),
            likes_per_year=int(follower_base * (5 + 45 * self._u("likes", i))),
            video_base=int(20 * self._u("video_base", i)),
        )

    def creators(self) -> list[Creator]:
        """All creators, in index order."""
        return list(self._creators)

    def creator(self, username: str) -> Creator | None:
        """The creator with this username, if any."""
        return self._by_username.get(username)

    def creator_by_open_id(self, open_id: str) -> Creator | None:
        """The creator with this open_id, if any."""
        return self._by_open_id.get(open_id)

    def user_stats(self, username: str, t: float) -> dict[str, int]:
        """Profile counters at ``t``: smooth, monotone functions of the time since the creator joined.

        They cover the creator's whole history, not just the listed videos, and never decrease.
        Raises ``KeyError`` for an unknown username.
        """
        creator = self._by_username[username]
        tenure = max(t - creator.joined_at, 0.0)
        years = tenure / YEAR_SECONDS
        return {
            "follower_count": creator.follower_base
            + int(creator.follower_base * creator.follower_growth_per_year * years),
            "following_count": creator.following_count,
            "likes_count": int(creator.likes_per_year * years),
            "video_count": creator.video_base + int(tenure / self.slot_seconds * POST_PROBABILITY),
        }

    # --- videos ------------------------------------------------------------------------------
    def _posts(self, creator: int, slot: int) -> bool:
        return self._u("posts", creator, slot) < POST_PROBABILITY

    def _create_time(self, creator: int, slot: int) -> int:
        return slot * self.slot_seconds + int(self._u("offset", creator, slot) * self.slot_seconds)

    def _video_id(self, creator: int, slot: int) -> str:
        check = bits(self.config.seed, CHECK_BITS, "check", creator, slot)
        return str((self._create_time(creator, slot) << 32) | (creator << CHECK_BITS) | check)

    def video(self, video_id: str) -> VideoTruth | None:
        """The video with this id, or None if this world never publishes it (works for any instant)."""
        if not isinstance(video_id, str) or not video_id.isdigit() or len(video_id) > 20:
            return None
        return self._lookup(video_id)

    def _decode(self, video_id: str) -> VideoTruth | None:
        number = int(video_id)
        create_time, creator = number >> 32, (number >> CHECK_BITS) & (2**CREATOR_BITS - 1)
        slot = create_time // self.slot_seconds
        if (
            creator >= self.config.creators
            or not self._posts(creator, slot)
            or self._video_id(creator, slot) != video_id
        ):
            return None
        return self._make_video(creator, slot)

    def _make_video(self, c: int, slot: int) -> VideoTruth:
        creator = self._creators[c]

        def u(name: str) -> float:
            return self._u(name, c, slot)

        create_time = self._create_time(c, slot)
        video_id = self._video_id(c, slot)
        base_views = 10 ** (3 + 3 * u("views"))
        is_viral = u("viral") < self.config.viral_share
        viral_onset = create_time + int(3600 * (1 + 23 * u("onset"))) if is_viral else None
        corrected = u("corrected") < self.config.correction_share
        correction_time = create_time + int(3600 * (6 + 42 * u("correction_at"))) if corrected else None
        decoy = u("decoy") < self.config.decoy_share
        burst_start = create_time + int(3600 * (1 + 23 * u("burst_at"))) if decoy else None
        curve = CurveParams(
            create_time=create_time,
            base_views=base_views,
            tau_seconds=3600 * (2 + 22 * u("tau")),
            viral_onset=viral_onset,
            viral_views=base_views * (10 + 90 * u("viral_mult")) if is_viral else 0.0,
            viral_rise_seconds=60 * (10 + 20 * u("rise")),
            like_rate=0.03 + 0.09 * u("likes"),
            comment_rate=0.002 + 0.008 * u("comments"),
            share_rate=0.001 + 0.019 * u("shares"),
            wobble=u("wobble"),
            lag_seconds=(
                60 * (3 + 10 * u("like_lag")),
                60 * (10 + 20 * u("comment_lag")),
                60 * (5 + 15 * u("share_lag")),
            ),
            correction_time=correction_time,
            correction_fraction=0.01 + 0.04 * u("correction_fraction"),
            burst_start=burst_start,
            burst_views=base_views * (0.05 + 0.45 * u("burst_views")) if decoy else 0.0,
            burst_seconds=60 * (10 + 30 * u("burst_minutes")),
            noise_seconds=self.config.count_noise_seconds,
            noise_key=video_id,
        )
        return VideoTruth(
            id=video_id,
            creator_username=creator.username,
            create_time=create_time,
            duration=int(8 + 172 * u("duration")),
            title=f"{creator.display_name} #{slot % 1000}",
            video_description=f"Clip {slot % 1000} by {creator.display_name} #fyp #{creator.username}"[:150],
            share_url=f"https://www.tiktok.com/@{creator.username}/video/{video_id}",
            cover_image_url=f"https://p16-sign.tiktokcdn.com/sim/cover/{video_id}.jpeg",
            embed_link=f"https://www.tiktok.com/player/v1/{video_id}",
            height=1920,
            width=1080,
            is_viral=is_viral,
            viral_onset=viral_onset,
            correction_time=correction_time,
            curve=curve,
            burst_start=burst_start,
        )

    def videos_as_of(self, username: str, t: float) -> list[VideoTruth]:
        """The creator's videos published within ``history_days`` up to ``t``, newest first."""
        creator = self._by_username.get(username)
        if creator is None:
            return []
        oldest = t - self.config.history_days * 86400
        first, last = int(oldest // self.slot_seconds), int(t // self.slot_seconds)
        videos = []
        for slot in range(last, first - 1, -1):
            if self._posts(creator.index, slot) and oldest <= self._create_time(creator.index, slot) <= t:
                videos.append(cast(VideoTruth, self._lookup(self._video_id(creator.index, slot))))
        return videos

    def counts(self, video_id: str, t: float) -> Counts:
        """Ground-truth counters of a video at ``t`` (zeros before publication or for unknown ids)."""
        video = self.video(video_id)
        if video is None or t < video.create_time:
            return ZERO
        seen = observed_time(video.curve, t, self.config.seed)
        likes, comments, shares = interactions_at(video.curve, t, seen)
        return Counts(views_at(video.curve, t, seen), likes, comments, shares)
