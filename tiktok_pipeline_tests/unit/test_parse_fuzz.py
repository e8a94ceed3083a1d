"""Fuzz: malformed payloads never crash the parser and every record is accounted for."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tiktok_pipeline.ingest.parse.display import parse_landed
from tiktok_pipeline.quality.checks import landed_video_records

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
video_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=25), st.from_regex(r"\d{19}", fullmatch=True), st.integers(), st.none()),
        "create_time": st.one_of(st.integers(-10, 2**40), st.text(max_size=5), st.none()),
        "view_count": st.one_of(st.integers(-5, 2**62), st.text(max_size=5), st.floats(allow_nan=True)),
        "like_count": st.one_of(st.integers(-5, 2**31), st.none()),
        "comment_count": st.integers(-5, 2**31),
        "share_count": st.integers(-5, 2**31),
        "title": json_values,
    },
)
payloads = st.one_of(
    st.fixed_dictionaries(
        {"data": st.fixed_dictionaries({"videos": st.lists(st.one_of(video_like, json_values), max_size=8)})}
    ),
    st.fixed_dictionaries({"data": st.fixed_dictionaries({"videos": json_values})}),
    st.fixed_dictionaries({"data": json_values}),
    json_values,
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["video/list", "video/query", "user/info"]), payloads, st.booleans()), max_size=6
    )
)
def test_parser_survives_anything_and_loses_nothing(calls):
    records = [
        {
            "window_start": "2026-11-20T10:00:00+00:00",
            "observed_at": "2026-11-20T10:05:00+00:00",
            "endpoint": endpoint,
            "username": "alice",
            "payload": payload,
            "log_id": "L",
            "error": "HTTP 500" if failed else None,
        }
        for endpoint, payload, failed in calls
    ]
    parsed = parse_landed(records, "display_api/x.jsonl.gz", asset="raw_video_snapshots")
    video_quarantine = parsed.quarantine.filter(parsed.quarantine["source"].str.starts_with("video/")).height
    assert parsed.videos.height + video_quarantine == landed_video_records(records)
    assert parsed.failed_calls == sum(1 for *_, failed in calls if failed)
