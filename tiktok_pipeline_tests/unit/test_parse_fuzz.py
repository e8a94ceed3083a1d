"""Fuzz: malformed payloads never crash the parser, every record is accounted for, and the rows it emits
survive the warehouse's casts (TableSpec.conform, Arrow → DuckDB) and every blocking structural check
downstream (``raw_video_schema``, ``enriched_schema``, ``velocity_schema``): a record that passes the parser
can never stop a window's velocity, let alone a range's.

The strategies reach what crashed the parser before (issue 11): integers of any size, any timestamp,
any Unicode including lone surrogates, booleans in number fields, nulls, missing keys and deep nesting.
"""

from datetime import UTC, datetime

import pandera.errors
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiktok_pipeline.ingest.parse.display import parse_landed
from tiktok_pipeline.ingest.registry import TrackingRegistry
from tiktok_pipeline.metrics.enrichment import SNAPSHOT_COLUMNS, enrich_snapshots
from tiktok_pipeline.metrics.velocity import compute_velocity
from tiktok_pipeline.quality.checks import landed_video_records
from tiktok_pipeline.quality.schemas import QualityPolicy, enriched_schema, raw_video_schema, velocity_schema
from tiktok_pipeline.sources.display_api.models import EARLIEST_CREATE_TIME
from tiktok_pipeline.warehouse.tables import RAW_VIDEO_SNAPSHOTS
from tiktok_pipeline_tests.unit.test_parse import store

pytestmark = pytest.mark.heavy(25)  # seconds of a core, measured alone: started first under pytest-xdist

WINDOW_START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
OBSERVED_AT = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)
OBSERVED_EPOCH = int(OBSERVED_AT.timestamp())

# any Unicode, lone surrogates included (hypothesis leaves category Cs out unless told), plus surrogates on purpose
any_text = st.text(st.characters(exclude_categories=()), max_size=20) | st.sampled_from(
    ["\ud800", "\udfff", "a\ud83d", "\U0001f600", "\x00", "é", ""]
)
# integers of any size, biased towards the edges of Int32, Int64 and the create_time bounds
edges = [0, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**12, 10**20, -(2**63) - 1]
edges += [EARLIEST_CREATE_TIME - 1, EARLIEST_CREATE_TIME, OBSERVED_EPOCH, OBSERVED_EPOCH + 1, OBSERVED_EPOCH - 3600]
any_int = st.integers() | st.sampled_from(edges) | st.integers(-(2**70), 2**70)
leaves = st.none() | st.booleans() | any_int | st.floats() | any_text


def deep(depth: int, kind: str) -> object:
    value: object = []
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


deeply_nested = st.builds(deep, st.integers(1, 5_000), st.sampled_from(["list", "dict"]))
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=12,
)
anything = json_values | deeply_nested
count = any_int | st.booleans() | st.none() | st.floats() | st.text(max_size=5) | anything
video_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(any_text, st.from_regex(r"\d{19}", fullmatch=True), any_int, st.none(), anything),
        "create_time": st.one_of(any_int, st.integers(EARLIEST_CREATE_TIME, OBSERVED_EPOCH), count),
        "view_count": count,
        "like_count": count,
        "comment_count": count,
        "share_count": count,
        "duration": count,
        "title": any_text | anything,
    },
)
# a valid video now and then, so the row path is exercised as much as the quarantine path
good_video = st.fixed_dictionaries(
    {
        "id": st.from_regex(r"[0-9]{1,30}", fullmatch=True),
        "create_time": st.integers(EARLIEST_CREATE_TIME, OBSERVED_EPOCH),
        "view_count": st.integers(0, 2**63 - 1),
        "like_count": st.integers(0, 2**31 - 1),
        "comment_count": st.integers(0, 2**31 - 1),
        "share_count": st.integers(0, 2**31 - 1),
    },
    optional={"duration": st.integers(0, 2**31 - 1) | st.none(), "title": any_text | st.none()},
)
user_like = st.fixed_dictionaries(
    {},
    optional={
        "open_id": any_text | anything,
        "username": any_text | anything,
        "display_name": any_text | anything,
        "follower_count": count,
        "following_count": count,
        "likes_count": count,
        "video_count": count,
    },
)
videos = st.lists(st.one_of(video_like, good_video, anything), max_size=8)
payloads = st.one_of(
    st.fixed_dictionaries({"data": st.fixed_dictionaries({"videos": videos})}),
    st.fixed_dictionaries(
        {"data": st.fixed_dictionaries({}, optional={"videos": anything, "cursor": count, "has_more": count})}
    ),
    st.fixed_dictionaries({"data": st.fixed_dictionaries({"user": user_like})}),
    st.fixed_dictionaries({"data": anything}),
    anything,
)


def landed(calls):
    return [
        {
            "window_start": WINDOW_START.isoformat(),
            "observed_at": OBSERVED_AT.isoformat(),
            "endpoint": endpoint,
            "username": "alice",
            "payload": payload,
            "log_id": log_id,
            "error": "HTTP 500" if failed else None,
        }
        for endpoint, payload, failed, log_id in calls
    ]


POLICY = QualityPolicy()
SCHEMAS = [
    (schema, schema(WINDOW_START, OBSERVED_AT, POLICY))
    for schema in (raw_video_schema, enriched_schema, velocity_schema)
]
"""The blocking structural checks of this window, built once (building them was a tenth of each example)."""
REGISTRY = TrackingRegistry.model_validate({"creators": [{"username": "alice", "campaign_ids": ["c1"]}]}).to_frame()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["video/list", "video/query", "user/info"]),
            payloads,
            st.booleans(),
            st.none() | any_text,
        ),
        max_size=6,
    )
)
def test_parser_survives_anything_and_loses_nothing(calls):
    records = landed(calls)
    parsed = parse_landed(records, "display_api/x.jsonl.gz", asset="raw_video_snapshots")
    video_quarantine = parsed.quarantine.filter(parsed.quarantine["source"].str.starts_with("video/")).height
    assert parsed.videos.height + video_quarantine == landed_video_records(records)
    assert parsed.failed_calls == sum(1 for _, _, failed, _ in calls if failed)
    assert all(payload.isascii() for payload in parsed.quarantine["payload"])
    store(parsed)
    # no row can fail a blocking structural check: whatever would is quarantined instead
    raw = RAW_VIDEO_SNAPSHOTS.conform(parsed.videos)
    enriched = enrich_snapshots(raw.select(SNAPSHOT_COLUMNS), REGISTRY)
    velocity = compute_velocity(enriched, enriched)
    for (schema, built), rows in zip(SCHEMAS, (raw, enriched, velocity), strict=True):
        try:
            built.validate(rows, lazy=True)
        except pandera.errors.SchemaErrors as exc:  # pragma: no cover - the failure message is the point
            raise AssertionError(f"a parsed row fails {schema.__name__}: {exc.failure_cases}") from exc
