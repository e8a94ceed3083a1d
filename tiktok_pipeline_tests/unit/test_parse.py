"""Parsing landed responses: good rows through, bad records quarantined with field and source."""

import json

from tiktok_pipeline.ingest.parse.display import parse_landed

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
