"""The simulator's deterministic world: creators, their videos and every count at any instant.

Nothing is stored: creators post in fixed time slots since the Unix epoch, every property comes
from a stable hash of (seed, kind, ids), and counts are pure functions of (seed, video, t). Any
process with the same seed sees the same world, and tests can read the ground truth at any time.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

ID_BASE = 7_000_000_000_000_000_000
POST_PROBABILITY = 0.85
_ADJECTIVES = ("sunny", "urban", "cozy", "bold", "lazy", "vivid", "quiet", "rapid", "witty", "lunar")
_NOUNS = ("chef", "gamer", "stylist", "coach", "baker", "traveler", "maker", "dancer", "reviewer", "gardener")


class WorldConfig(BaseModel):
    """What the world looks like; the same config always gives the same world."""

    model_config = ConfigDict(frozen=True)

    seed: int = 7
    creators: int = Field(default=6, ge=1, le=999)
    mean_post_interval_hours: float = Field(default=8.0, gt=0)
    history_days: float = Field(default=7.0, gt=0)
    viral_share: float = Field(default=0.15, ge=0, le=1)
    correction_share: float = Field(default=0.0, ge=0, le=1)


@dataclass(frozen=True)
class Creator:
    index: int
    open_id: str
    username: str
    display_name: str
    follower_base: int
    following_count: int


@dataclass(frozen=True)
class VideoTruth:
    """A video's fixed properties; its counts come from :meth:`World.counts`."""

    id: str
    creator_index: int
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
    base_views: float
    decay_hours: float
    like_rate: float
    comment_rate: float
    share_rate: float
    noise: float
    is_viral: bool
    viral_onset: int | None
    viral_views: float
    viral_rise_hours: float
    correction_time: int | None
    correction_fraction: float


@dataclass(frozen=True)
class Counts:
    view_count: int
    like_count: int
    comment_count: int
    share_count: int


def unit(seed: int, *parts: object) -> float:
    """A stable pseudo-random number in [0, 1) for (seed, parts)."""
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class World:
    """Creators and videos of one seed, queried as of any instant (epoch seconds)."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        self.slot_seconds = int(self.config.mean_post_interval_hours * 3600 / POST_PROBABILITY)
        self._creators = [self._make_creator(i) for i in range(self.config.creators)]
        self._by_username = {c.username: c for c in self._creators}
        self._by_open_id = {c.open_id: c for c in self._creators}
        self.video = lru_cache(maxsize=65536)(self._video)  # type: ignore[method-assign]

    # --- creators ----------------------------------------------------------------------------
    def _make_creator(self, index: int) -> Creator:
        seed = self.config.seed
        adjective = _ADJECTIVES[int(unit(seed, "adj", index) * len(_ADJECTIVES))]
        noun = _NOUNS[int(unit(seed, "noun", index) * len(_NOUNS))]
        username = f"{adjective}_{noun}_{index + 1}"
        open_id = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=16).hexdigest()
        return Creator(
            index=index,
            open_id=open_id,
            username=username,
            display_name=f"{adjective.title()} {noun.title()} {index + 1}",
            follower_base=int(10 ** (3 + 3 * unit(seed, "followers", index))),
            following_count=int(50 + 950 * unit(seed, "following", index)),
        )

    def creators(self) -> list[Creator]:
        return list(self._creators)

    def creator(self, username: str) -> Creator | None:
        return self._by_username.get(username)

    def creator_by_open_id(self, open_id: str) -> Creator | None:
        return self._by_open_id.get(open_id)

    # --- videos ------------------------------------------------------------------------------
    def _posts(self, creator: int, slot: int) -> bool:
        return unit(self.config.seed, "posts", creator, slot) < POST_PROBABILITY

    def _check(self, creator: int, slot: int) -> int:
        return int(unit(self.config.seed, "check", creator, slot) * 1000)

    def video_id(self, creator: int, slot: int) -> str:
        return str(ID_BASE + slot * 1_000_000 + creator * 1000 + self._check(creator, slot))

    def _video(self, video_id: str) -> VideoTruth | None:
        """The video with this id, or None if this world never published it."""
        if not isinstance(video_id, str) or not video_id.isdigit() or len(video_id) != 19:
            return None
        number = int(video_id) - ID_BASE
        if number < 0:
            return None
        slot, rest = divmod(number, 1_000_000)
        creator, check = divmod(rest, 1000)
        if creator >= self.config.creators or check != self._check(creator, slot) or not self._posts(creator, slot):
            return None
        return self._make_video(creator, slot)

    def _make_video(self, c: int, slot: int) -> VideoTruth:
        seed, creator = self.config.seed, self._creators[c]

        def u(name: str) -> float:
            return unit(seed, name, c, slot)

        create_time = slot * self.slot_seconds + int(u("offset") * self.slot_seconds)
        video_id = self.video_id(c, slot)
        is_viral = u("viral") < self.config.viral_share
        corrected = u("corrected") < self.config.correction_share
        return VideoTruth(
            id=video_id,
            creator_index=c,
            creator_username=creator.username,
            create_time=create_time,
            duration=int(8 + 172 * u("duration")),
            title=f"{creator.display_name} #{slot % 1000}",
            video_description=f"A video by {creator.display_name}"[:150],
            share_url=f"https://www.tiktok.com/@{creator.username}/video/{video_id}",
            cover_image_url=f"https://p16-sign.tiktokcdn.com/sim/{video_id}.jpeg",
            embed_link=f"https://www.tiktok.com/player/v1/{video_id}",
            height=1920,
            width=1080,
            base_views=10 ** (3 + 3 * u("views")),
            decay_hours=2 + 22 * u("decay"),
            like_rate=0.03 + 0.09 * u("likes"),
            comment_rate=0.002 + 0.008 * u("comments"),
            share_rate=0.001 + 0.019 * u("shares"),
            noise=u("noise"),
            is_viral=is_viral,
            viral_onset=create_time + int(3600 * (1 + 23 * u("onset"))) if is_viral else None,
            viral_views=10 ** (4 + 2 * u("viral_views")) * (10 + 90 * u("viral_mult")) if is_viral else 0.0,
            viral_rise_hours=1 + 2 * u("rise"),
            correction_time=create_time + int(3600 * (2 + 46 * u("correction_at"))) if corrected else None,
            correction_fraction=0.01 + 0.04 * u("correction_frac"),
        )

    def videos_as_of(self, username: str, t: float) -> list[VideoTruth]:
        """The creator's videos published within ``history_days`` before ``t``, newest first."""
        creator = self._by_username.get(username)
        if creator is None:
            return []
        oldest = t - self.config.history_days * 86400
        first, last = int(oldest // self.slot_seconds), int(t // self.slot_seconds)
        videos = []
        for slot in range(last, first - 1, -1):
            if not self._posts(creator.index, slot):
                continue
            video = self.video(self.video_id(creator.index, slot))
            if video is not None and oldest <= video.create_time <= t:
                videos.append(video)
        return videos

    # --- counts ------------------------------------------------------------------------------
    @staticmethod
    def _raw_views(video: VideoTruth, t: float) -> float:
        age = t - video.create_time
        if age <= 0:
            return 0.0
        views = video.base_views * (1 - math.exp(-age / (video.decay_hours * 3600)))
        if video.viral_onset is not None and t > video.viral_onset:
            views += video.viral_views * (1 - math.exp(-(t - video.viral_onset) / (video.viral_rise_hours * 3600)))
        return views

    def _views(self, video: VideoTruth, t: float) -> float:
        views = self._raw_views(video, t)
        if video.correction_time is not None and t >= video.correction_time:
            views -= video.correction_fraction * self._raw_views(video, video.correction_time)
        return max(views, 0.0)

    def counts(self, video_id: str, t: float) -> Counts:
        """Ground truth for a video at ``t`` (zeros before it is published or if unknown)."""
        video = self.video(video_id)
        if video is None or t < video.create_time:
            return Counts(0, 0, 0, 0)

        def track(rate: float, lag_minutes: float) -> int:
            # interactions follow views with a lag; the sqrt term is monotone per-video noise
            base = rate * self._views(video, t - lag_minutes * 60)
            return int(base + video.noise * math.sqrt(base))

        return Counts(
            view_count=int(self._views(video, t)),
            like_count=track(video.like_rate, 3 + 10 * video.noise),
            comment_count=track(video.comment_rate, 10 + 20 * video.noise),
            share_count=track(video.share_rate, 5 + 15 * video.noise),
        )

    def user_stats(self, username: str, t: float) -> dict[str, int]:
        """follower_count, following_count, likes_count and video_count of a creator at ``t``."""
        creator = self._by_username[username]
        videos = self.videos_as_of(username, t)
        views = sum(self.counts(v.id, t).view_count for v in videos)
        likes = sum(self.counts(v.id, t).like_count for v in videos)
        return {
            "follower_count": creator.follower_base + views // 200,
            "following_count": creator.following_count,
            "likes_count": likes,
            "video_count": creator.following_count // 3 + len(videos),  # older videos + the recent ones
        }
