"""The tracking registry: which creators we poll and the business context of each.

Shipped as ``data/tracking_registry.json`` (path from ``TIKTOK_REGISTRY_PATH``); growth teams
edit it to add creators, campaigns, SKUs and audience tags.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import polars as pl
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator


class TrackedCreator(BaseModel):
    """One authorised creator and the business context of their videos."""

    model_config = ConfigDict(frozen=True)

    username: str = Field(min_length=1)
    campaign_ids: list[str] = Field(default_factory=list)
    product_skus: list[str] = Field(default_factory=list)
    audience_tags: list[str] = Field(default_factory=list)


class TrackingRegistry(BaseModel):
    """All tracked creators; usernames are unique (frozen: one validated registry is shared within a process)."""

    model_config = ConfigDict(frozen=True)

    creators: list[TrackedCreator]
    _frame: pl.DataFrame | None = PrivateAttr(default=None)

    @field_validator("creators")
    @classmethod
    def _unique(cls, creators: list[TrackedCreator]) -> list[TrackedCreator]:
        seen: set[str] = set()
        for creator in creators:
            if creator.username in seen:
                raise ValueError(f"creator {creator.username!r} is listed twice")
            seen.add(creator.username)
        return creators

    @property
    def usernames(self) -> list[str]:
        return [c.username for c in self.creators]

    def to_frame(self) -> pl.DataFrame:
        """One row per creator: ``creator_username`` and the three list columns (built once per registry)."""
        if self._frame is None:
            self._frame = self._build_frame()
        return self._frame

    def _build_frame(self) -> pl.DataFrame:
        # Through Arrow: building list columns from Python lists is ~50x faster in pyarrow than in Polars.
        lists = pa.list_(pa.string())
        table = pa.table(
            {
                "creator_username": pa.array([c.username for c in self.creators], pa.string()),
                "campaign_ids": pa.array([c.campaign_ids for c in self.creators], lists),
                "product_skus": pa.array([c.product_skus for c in self.creators], lists),
                "audience_tags": pa.array([c.audience_tags for c in self.creators], lists),
            }
        )
        return pl.DataFrame(pl.from_arrow(table)).cast(
            {"creator_username": pl.String, **{column: pl.List(pl.String) for column in _LISTS}}
        )


_LISTS = ("campaign_ids", "product_skus", "audience_tags")


def load_registry(path: Path) -> TrackingRegistry:
    """Read and validate the registry, with an error that names the file and the field.

    Validated once per process and content: the file is read every time (a fraction of a millisecond), but the
    same bytes give the registry already validated (the same frozen object, its frame built once). Keyed by the
    content, not the modification time, which can stay the same across two quick edits of the same size.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"tracking registry {path} does not exist (set TIKTOK_REGISTRY_PATH)")
    return _validated(path, path.read_bytes())


@lru_cache(maxsize=8)
def _validated(path: Path, content: bytes) -> TrackingRegistry:
    """The registry ``content`` read from ``path`` (both the cache key: the error names the file)."""
    try:
        return TrackingRegistry.model_validate_json(content)
    except ValidationError as exc:
        raise ValueError(f"tracking registry {path} is invalid: {exc}") from exc
