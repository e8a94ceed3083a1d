"""Parsing landed responses: good rows through, bad records quarantined with field and source."""

import json

import duckdb
import pytest

from tiktok_pipeline.ingest.parse.display import parse_landed
from tiktok_pipeline.quality.checks import landed_video_records
from tiktok_pipeline.warehouse.tables import QUARANTINED_RECORDS, RAW_CREATOR_SNAPSHOTS, RAW_VIDEO_SNAPSHOTS

BASE = {"window_start": "2026-11-24T12:00:00+00:00", "observed_at": "2026-11-24T12:05:00+00:00", "username": "alice"}
GOOD = {
    "id": "7077642457847991554",
    "create_time": 1763980000,
    "view_count": 10,
    "like_count": 1,
    "comment_count": 0,
    "share_count": 0,
    "duration": 12,
    "title": "hi",
}


def record(endpoint, data, **extra):
    return {
        **BASE,
        "endpoint": endpoint,
        "payload": {"data": data, "error": {"code": "ok", "log_id": "L1"}},
        "log_id": "L1",
        "error": None,
        **extra,
    }


def test_good_and_bad_records_are_all_accounted_for():
    bad_views = {**GOOD, "id": "2", "view_count": "lots"}
    negative = {**GOOD, "id": "3", "like_count": -1}
    no_id = {k: v for k, v in GOOD.items() if k != "id"}
    records = [
        record("user/info", {"user": {"open_id": "o", "username": "alice", "follower_count": 5}}),
        record("video/list", {"videos": [{**GOOD, "id": "42"}], "cursor": 1, "has_more": False}),
        record("video/query", {"videos": [GOOD, bad_views, negative, no_id, GOOD, "junk"]}),
        {**BASE, "endpoint": "video/query", "payload": "<html>502</html>", "log_id": None, "error": "HTTP 502"},
    ]
    parsed = parse_landed(records, "display_api/2026-11-24/1200.jsonl.gz", asset="raw_video_snapshots")
    assert parsed.videos["video_id"].to_list() == ["42", "7077642457847991554"]
    assert parsed.creators["follower_count"].to_list() == [5]
    assert parsed.failed_calls == 1
    reasons = parsed.quarantine["reason"].to_list()
    assert len(reasons) == 5
    assert any("view_count" in r for r in reasons)
    assert any("like_count" in r for r in reasons)
    assert any("id:" in r and "Field required" in r for r in reasons)
    assert any("duplicate observation" in r for r in reasons)
    assert all(s.startswith("video/query (display_api/2026-11-24/1200.jsonl.gz)") for s in parsed.quarantine["source"])
    assert json.loads(parsed.quarantine["payload"][0]) == bad_views


# --- issue 11: one bad value never costs a window ---------------------------------------------------------------

OBSERVED_EPOCH = 1795521900  # BASE["observed_at"], 2026-11-24T12:05:00Z


SCRATCH = duckdb.connect(":memory:")
"""One in-memory DuckDB for every ``store_frames`` call (the fuzz tests call it hundreds of times; a connection each
cost about as much as the writes): each call's tables live in a transaction it rolls back."""


def store_frames(*frames) -> None:
    """Write each ``(spec, frame)`` through TableSpec.conform and Arrow into an in-memory DuckDB: the casts must hold."""
    SCRATCH.begin()
    try:
        for spec, frame in frames:
            SCRATCH.execute(spec.ddl)
            arrow = spec.conform(frame).to_arrow()  # noqa: F841 (read by DuckDB's replacement scan)
            SCRATCH.execute(f'INSERT INTO "{spec.name}" SELECT * FROM arrow')
            assert SCRATCH.execute(f'SELECT count(*) FROM "{spec.name}"').fetchone()[0] == frame.height
    finally:
        SCRATCH.rollback()


def store(parsed):
    """A parse's videos, creators and quarantine through ``store_frames``."""
    store_frames(
        (RAW_VIDEO_SNAPSHOTS, parsed.videos),
        (RAW_CREATOR_SNAPSHOTS, parsed.creators),
        (QUARANTINED_RECORDS, parsed.quarantine),
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("view_count", 2**63),
        ("view_count", 10**30),
        ("view_count", True),
        ("view_count", False),
        ("view_count", "12"),
        ("view_count", 12.0),
        ("like_count", 2**63 - 1),
        ("like_count", 2**31),
        ("like_count", True),
        ("comment_count", 2**40),
        ("share_count", "3"),
        ("create_time", 10**12),
        ("create_time", 10**20),
        ("create_time", -1),
        ("create_time", 0),
        ("create_time", 1_300_000_000),  # 2011: before TikTok and musical.ly
        ("create_time", OBSERVED_EPOCH + 1),  # after the observation instant: would fail raw_video_schema
        ("create_time", "1763980000"),
        ("create_time", True),
        ("duration", 2**31),
        ("duration", True),
        ("title", "caf\u00e9 \ud800"),
        ("title", "\udfff"),
        ("id", 7077642457847991554),
        ("id", "\u0663\u0664"),  # Arabic-Indic digits are digits to a regex, not a TikTok id
    ],
)
def test_one_out_of_range_value_is_quarantined_and_the_window_goes_on(field, value):
    bad = {**GOOD, "id": "99", field: value}
    records = [
        record("user/info", {"user": {"open_id": "o", "username": "alice", "follower_count": 5}}),
        record("video/list", {"videos": [GOOD, bad, {**GOOD, "id": "43"}], "cursor": 1, "has_more": False}),
    ]
    parsed = parse_landed(records, "display_api/2026-11-24/1200.jsonl.gz", asset="raw_video_snapshots")
    assert parsed.videos["video_id"].to_list() == ["7077642457847991554", "43"]
    assert parsed.creators.height == 1
    assert parsed.quarantine.height == 1
    reason = parsed.quarantine["reason"][0]
    assert reason.startswith("video/list for alice: ") and f"{field}:" in reason, reason
    assert parsed.quarantine["source"][0] == "video/list (display_api/2026-11-24/1200.jsonl.gz)"
    assert json.loads(parsed.quarantine["payload"][0]) == bad  # the raw record, lone surrogates included
    assert parsed.quarantine["payload"][0].isascii()
    assert parsed.videos.height + parsed.quarantine.height == landed_video_records(records)
    store(parsed)


def test_create_time_at_the_observation_instant_and_int_bounds_are_accepted():
    edge = {
        **GOOD,
        "create_time": OBSERVED_EPOCH,
        "view_count": 2**63 - 1,
        "like_count": 2**31 - 1,
        "comment_count": 2**31 - 1,
        "share_count": 2**31 - 1,
        "duration": 2**31 - 1,
        "title": "emoji \U0001f600 ok",
    }
    parsed = parse_landed([record("video/query", {"videos": [edge]})], "f.jsonl.gz", asset="raw_video_snapshots")
    assert parsed.quarantine.height == 0
    assert parsed.videos["view_count"].to_list() == [2**63 - 1]
    store(parsed)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("follower_count", 10**20),
        ("likes_count", 2**63),
        ("video_count", True),
        ("following_count", "7"),
        ("display_name", "bad \ud800 name"),
        ("username", "\ud83d"),
    ],
)
def test_one_bad_creator_value_is_quarantined(field, value):
    user = {"open_id": "o", "username": "alice", "display_name": "Alice", "follower_count": 5, field: value}
    records = [record("user/info", {"user": user}), record("video/query", {"videos": [GOOD]})]
    parsed = parse_landed(records, "f.jsonl.gz", asset="raw_video_snapshots")
    assert parsed.creators.height == 0 and parsed.videos.height == 1
    assert parsed.quarantine.height == 1 and f"{field}:" in parsed.quarantine["reason"][0]
    assert json.loads(parsed.quarantine["payload"][0]) == user
    store(parsed)


def test_lone_surrogate_in_log_id_or_error_message_does_not_break_the_frames():
    records = [{**record("video/query", {"videos": [GOOD]}), "log_id": "L\ud800"}]
    parsed = parse_landed(records, "f.jsonl.gz", asset="raw_video_snapshots")
    assert parsed.videos["log_id"].to_list() == ["L\\ud800"]
    store(parsed)


def test_unserialisable_payloads_are_quarantined_with_a_bounded_repr():
    deep: list = []
    for _ in range(50_000):
        deep = [deep]
    huge = 10**5000  # beyond str()'s 4,300-digit limit
    records = [record("video/query", {"videos": [{**GOOD, "title": deep}, {**GOOD, "id": "5", "view_count": huge}]})]
    parsed = parse_landed(records, "f.jsonl.gz", asset="raw_video_snapshots")
    assert parsed.videos.height == 0 and parsed.quarantine.height == 2
    for payload in parsed.quarantine["payload"]:
        assert len(payload) < 20_000 and "unserialisable_payload" in json.loads(payload)
    assert "title:" in parsed.quarantine["reason"][0] and "view_count:" in parsed.quarantine["reason"][1]
    store(parsed)


# --- issue 11 item 2: malformed answers never drop a creator's videos silently ----------------------------------


@pytest.mark.parametrize("endpoint", ["video/list", "video/query"])
@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"videos": None, "cursor": 1, "has_more": False}, "data.videos is null"),
        ({"cursor": 1, "has_more": False}, "data.videos missing"),
        ({}, "data.videos missing"),
        ({"videos": {"0": GOOD}}, "data.videos is not a list (got dict)"),
    ],
)
def test_a_response_without_a_videos_list_is_quarantined_whole(endpoint, data, problem):
    records = [record(endpoint, data), record("video/query", {"videos": [{**GOOD, "id": "43"}]})]
    parsed = parse_landed(records, "f.jsonl.gz", asset="raw_video_snapshots")
    assert parsed.videos["video_id"].to_list() == ["43"]
    assert parsed.quarantine["reason"].to_list() == [f"{problem} on {endpoint} for alice"]
    assert json.loads(parsed.quarantine["payload"][0]) == data
    # landed_matches_parsed: the malformed response counts as one landed record, quarantined
    assert parsed.videos.height + parsed.quarantine.height == landed_video_records(records)


def test_an_empty_page_is_a_valid_answer():
    records = [
        record("video/list", {"videos": [], "cursor": 1763980000000, "has_more": False}),
        record("video/query", {"videos": []}),
    ]
    parsed = parse_landed(records, "f.jsonl.gz", asset="raw_video_snapshots")
    assert parsed.videos.height == 0 and parsed.quarantine.height == 0 and landed_video_records(records) == 0
