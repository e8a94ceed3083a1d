"""What the simulated analytics provider knows: the world as its crawler last saw it.

The provider is not TikTok: it crawls public profiles and videos on its own schedule. Each creator is re-crawled
every ``refresh_minutes`` at a phase of its own (a hash of the seed and the creator), and everything the provider
says about that creator and their videos is the simulator's ground truth *as of that crawl instant*
(``updated_at``), not as of the request. Between crawls the same numbers come back. It covers every creator of a
world of ``creators`` (more than the Display API's world: the ones beyond never authorised the app) and only a
share (``coverage``) of their videos: a video outside its coverage is never listed. A video published after the
creator's last crawl is not listed yet.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tiktok_pipeline.simulator.randomness import unit
from tiktok_pipeline.simulator.world import Creator, VideoTruth, World, WorldConfig

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
"""How the provider writes instants (``updated_at``): UTC, without an offset, as its documentation says."""


class ProviderConfig(BaseModel):
    """How the simulated provider behaves; the same config always gives the same answers (but for rate limits)."""

    model_config = ConfigDict(frozen=True)

    refresh_minutes: float = Field(default=15.0, gt=0, description="Each creator is re-crawled this often.")
    creators: int = Field(default=12, ge=1, le=1024, description="Creators the provider covers (world indices 0..n-1).")
    coverage: float = Field(default=0.8, ge=0, le=1, description="Share of a covered creator's videos it lists.")
    string_count_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Share of video and influencer records whose counts come as strings of digits.",
    )
    duplicate_page_share: float = Field(
        default=0.1, ge=0, le=1, description="Share of video/list pages that repeat the previous page's last video."
    )
    requests_per_minute: int = Field(default=120, ge=1, description="The account's limit over a sliding minute.")
    username: str = "sim-provider"
    password: str = "sim-provider-secret"


class Catalog:
    """The provider's view of one seed's world, answered as of any instant (epoch seconds)."""

    def __init__(self, seed: int, config: ProviderConfig) -> None:
        self.config = config
        self.world = World(WorldConfig(seed=seed, creators=config.creators))
        self._seed = seed

    def draw(self, *parts: object) -> float:
        return unit(self._seed, "provider", *parts)

    # --- crawl schedule ------------------------------------------------------------------------------------------
    def crawled_at(self, creator: Creator, t: float) -> int:
        """The creator's last crawl at or before ``t`` (whole seconds)."""
        period = self.config.refresh_minutes * 60.0
        phase = self.draw("phase", creator.index) * period
        return int(math.floor((t - phase) / period) * period + phase)

    def covers(self, video: VideoTruth) -> bool:
        """Whether the provider lists this video at all (its coverage is partial)."""
        return self.draw("covered", video.id) < self.config.coverage

    # --- records ---------------------------------------------------------------------------------------------------
    def creators(self) -> list[Creator]:
        return self.world.creators()

    def creator_by_id(self, user_id: str) -> Creator | None:
        return self.world.creator_by_open_id(user_id)

    def influencer(self, creator: Creator, t: float) -> dict[str, Any]:
        """The provider's influencer record as of ``t`` (its last crawl)."""
        crawl = self.crawled_at(creator, t)
        stats = self.world.user_stats(creator.username, crawl)
        as_text = self.draw("influencer strings", creator.index, crawl) < self.config.string_count_share

        def count(value: int) -> int | str:
            return str(value) if as_text else value

        return {
            "user_id": creator.open_id,
            "unique_id": creator.username,
            "nick_name": creator.display_name,
            "follower_count": count(stats["follower_count"]),
            "following_count": count(stats["following_count"]),
            "total_likes": count(stats["likes_count"]),
            "video_count": count(stats["video_count"]),
            "updated_at": _stamp(crawl),
        }

    def videos(self, creator: Creator, t: float) -> list[dict[str, Any]]:
        """The creator's covered videos as of their last crawl before ``t``, newest first."""
        crawl = self.crawled_at(creator, t)
        return [self.video_record(v, crawl) for v in self.world.videos_as_of(creator.username, crawl) if self.covers(v)]

    def video(self, video_id: str, t: float) -> dict[str, Any] | None:
        """One covered video as of its creator's last crawl before ``t``; None when unknown, uncovered or unseen."""
        truth = self.world.video(video_id)
        if truth is None or not self.covers(truth):
            return None
        creator = self.world.creator(truth.creator_username)
        assert creator is not None
        crawl = self.crawled_at(creator, t)
        return self.video_record(truth, crawl) if truth.create_time <= crawl else None

    def video_record(self, video: VideoTruth, crawl: int) -> dict[str, Any]:
        counts = self.world.counts(video.id, crawl)
        creator = self.world.creator(video.creator_username)
        assert creator is not None
        as_text = self.draw("strings", video.id, crawl) < self.config.string_count_share

        def count(value: int) -> int | str:
            return str(value) if as_text else value

        return {
            "video_id": video.id,
            "user_id": creator.open_id,
            "unique_id": creator.username,
            "desc": video.video_description,
            "create_time": video.create_time,
            "duration": video.duration,
            "play_count": count(counts.view_count),
            "digg_count": count(counts.like_count),
            "comment_count": count(counts.comment_count),
            "share_count": count(counts.share_count),
            "updated_at": _stamp(crawl),
        }

    def products(self, t: float) -> list[dict[str, Any]]:
        """A small product catalogue: one product per creator, its sales a smooth function of the crawl instant."""
        rows = []
        for creator in self.creators():
            crawl = self.crawled_at(creator, t)
            rows.append(
                {
                    "product_id": f"17{creator.index:04d}{int(self.draw('product', creator.index) * 1e8):08d}",
                    "title": f"{creator.display_name} pick",
                    "price": round(5 + 95 * self.draw("price", creator.index), 2),
                    "sold_count": int(crawl / 3600 * self.draw("sales", creator.index)) % 100_000,
                    "updated_at": _stamp(crawl),
                }
            )
        return rows


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(TIME_FORMAT)
