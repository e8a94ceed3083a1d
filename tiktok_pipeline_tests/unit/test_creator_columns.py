"""Every column that may name a creator is declared one way or the other, so ``creators purge`` cannot miss one: a
new creator-like column fails here until it is declared ``identifies=`` (purged) or listed below with why not."""

from __future__ import annotations

import re

from tiktok_pipeline.warehouse.tables import ALL_TABLES
from tiktok_pipeline.warehouse.tables.spec import Identifies

CREATOR_LIKE = re.compile(r"creator|username|handle|open_id|user|author|identity|subject|display_name|nickname")
NOT_A_CREATOR = {
    ("poll_telemetry", "deferred_creators"): "a count of creators",
    ("merchandising_feed", "creator_momentum"): "a figure",
    ("merchandising_feed", "creator_videos"): "a count of videos",
    ("raw_creator_snapshots", "display_name"): "in rows deleted by their creator_username",
    ("daily_creator_metrics", "display_name"): "in rows deleted by their creator_username",
    ("raw_ad_metrics", "identity_id"): (
        "the advertiser's Spark Ad identity (ad/get), not a Display API handle or open_id; the advertiser's own"
        " ad data is not a creator's to purge"
    ),
}


def test_every_creator_like_column_is_declared():
    undeclared = [
        (spec.name, column.name)
        for spec in ALL_TABLES
        if not spec.view
        for column in spec.columns
        if CREATOR_LIKE.search(column.name)
        and column.name not in dict(spec.creator_columns)
        and (spec.name, column.name) not in NOT_A_CREATOR
    ]
    assert not undeclared, f"declare identifies= (purged) or list in NOT_A_CREATOR with why: {undeclared}"


def test_the_purge_covers_swap_fading_creators_live_handles_and_open_ids():
    columns = {spec.name: dict(spec.creator_columns) for spec in ALL_TABLES}
    assert columns["creative_swap_recommendations"] == {
        "fading_creator_username": Identifies.HANDLE,
        "creator_username": Identifies.HANDLE,
    }
    assert columns["live_events_raw"] == {"creator": Identifies.HANDLE}
    assert columns["raw_creator_snapshots"]["open_id"] == Identifies.OPEN_ID
    assert columns["api_call_log"] == {"subject": Identifies.HANDLE}
    assert all(not spec.creator_columns for spec in ALL_TABLES if spec.view)
