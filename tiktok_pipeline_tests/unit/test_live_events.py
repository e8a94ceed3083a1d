"""LIVE intake (unofficial source): the line models, the parser, and taking each line exactly once."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiktok_pipeline.ingest.collect.live import LiveIntake, land_live_window, pending_lines, read_ledger, take_file
from tiktok_pipeline.ingest.land import WindowNotObservableError
from tiktok_pipeline.ingest.landing import read_landing
from tiktok_pipeline.ingest.parse.live import parse_line, parse_live_window
from tiktok_pipeline.metrics.live import stream_metrics
from tiktok_pipeline.windows import WINDOW

W0 = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
MS = 1764964800000  # 2025-12-05T20:00:00Z


def event(kind: str = "comment", **fields) -> dict:
    base = {"type": kind, "room_id": "7301", "creator": "maker", "timestamp": MS, "user": "viewer1"}
    extra = {
        "comment": {"comment": "hello"},
        "chat": {"comment": "hello"},
        "gift": {"gift_id": 5655, "gift_name": "Rose", "repeat_count": 3, "repeat_end": True, "diamond_count": 1},
        "like": {"like_count": 15, "total_like_count": 1200},
        "roomUser": {"viewer_count": 900},
    }.get(kind, {})
    return {**base, **extra, **fields}


def line(record: dict) -> bytes:
    return json.dumps(record).encode() + b"\n"


def intake(tmp_path: Path, settle: float = 300.0) -> LiveIntake:
    (tmp_path / "intake").mkdir(exist_ok=True)
    return LiveIntake(tmp_path / "intake", tmp_path / "landing", settle, timedelta(minutes=15))


def age(path: Path, seconds: float, now: datetime) -> None:
    stamp = now.timestamp() - seconds
    os.utime(path, (stamp, stamp))


# --- models and parser ---


def test_every_event_type_parses_with_its_fields_and_connector_names():
    assert parse_line(json.dumps(event("gift")))["gifts_counted"] == 3
    streak = parse_line(json.dumps(event("gift", repeat_end=False)))
    assert streak["gifts_counted"] == 0 and streak["repeat_count"] == 3
    chat = parse_line(
        json.dumps(
            {"type": "chat", "roomId": "1", "creator": "c", "createTime": "1764964800000", "uniqueId": "u"}
            | {"comment": "hey"}
        )
    )
    assert chat["event_type"] == "comment" and chat["comment_chars"] == 3
    assert chat["event_at"] == datetime(2025, 12, 5, 20, 0)
    viewers = parse_line(json.dumps({**event("roomUser"), "viewerCount": 5, "viewer_count": 5}))
    assert viewers["event_type"] == "viewer_count" and viewers["viewer_count"] == 5
    iso = parse_line(json.dumps(event("follow", timestamp="2026-12-05T21:00:00+01:00")))
    assert iso["event_at"] == datetime(2026, 12, 5, 20, 0)


def test_the_viewer_id_is_hashed_and_the_comment_text_is_not_kept():
    row = parse_line(json.dumps(event("comment", user="secret_viewer", comment="my phone is 555")))
    assert "secret_viewer" not in json.dumps(row, default=str) and "555" not in json.dumps(row, default=str)
    assert len(row["viewer_sha256"]) == 64


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (event("like", like_count=True), "like_count"),
        (event("like", like_count="15"), "like_count"),
        (event("roomUser", viewer_count=-1), "viewer_count"),
        (event("comment", room_id=""), "room_id"),
        (event("comment", timestamp=True), "timestamp"),
        (event("comment", timestamp=1764964800), "seconds instead of milliseconds"),
        (event("comment", timestamp="2026-12-05T21:00:00"), "offset"),
        (event("zap"), "does not match any of the expected tags"),
        ({k: v for k, v in event("gift").items() if k != "gift_id"}, "gift_id"),
    ],
)
def test_a_bad_field_is_refused_naming_it_and_the_source(record, reason):
    with pytest.raises(ValueError, match=reason) as caught:
        parse_line(json.dumps(record))
    assert str(caught.value).startswith("live_events: ")


def test_bad_lines_are_rejected_with_payload_and_reason_and_the_rest_goes_on():
    records = [
        {"kind": "line", "file": "a.jsonl", "start": 0, "end": 10, "line": json.dumps(event("gift")), "utf8": True},
        {"kind": "line", "file": "a.jsonl", "start": 10, "end": 20, "line": "{not json", "utf8": True},
        {"kind": "line", "file": "a.jsonl", "start": 20, "end": 30, "line": "[1, 2]", "utf8": True},
        {"kind": "line", "file": "a.jsonl", "start": 30, "end": 40, "line": "\\xff{}", "utf8": False},
        {"kind": "blank", "file": "a.jsonl", "start": 40, "end": 41},
        {"kind": "file_problem", "file": "b.jsonl", "problem": "cannot be read (PermissionError)"},
        {
            "kind": "line",
            "file": "a.jsonl",
            "start": 41,
            "end": 50,
            "line": json.dumps(event("roomUser")),
            "utf8": True,
        },
    ]
    parsed = parse_live_window(W0, records)
    assert parsed.events["line_start"].to_list() == [0, 41]
    rejected = parsed.rejected.to_dicts()
    assert [r["source"] for r in rejected] == ["a.jsonl:10", "a.jsonl:20", "a.jsonl:30", "b.jsonl"]
    assert rejected[0]["payload"] == "{not json" and "not JSON" in rejected[0]["reason"]
    assert "JSON object" in rejected[1]["reason"] and "not UTF-8" in rejected[2]["reason"]
    assert "PermissionError" in rejected[3]["reason"]
    assert set(parsed.events["source_terms"]) == set(parsed.rejected["source_terms"]) == {"unofficial"}


def test_stream_metrics_count_each_kind_and_a_streak_once():
    lines = [event("comment"), event("comment"), event("gift", repeat_end=False), event("gift", repeat_count=5)]
    lines += [event("like"), event("follow"), event("share"), event("roomUser"), event("roomUser", viewer_count=1500)]
    lines.append(event("comment", room_id="other"))
    records = [
        {"kind": "line", "file": "a.jsonl", "start": i, "end": i + 1, "line": json.dumps(e), "utf8": True}
        for i, e in enumerate(lines)
    ]
    metrics = stream_metrics(parse_live_window(W0, records).events).to_dicts()
    assert [(m["room_id"], m["events"]) for m in metrics] == [("7301", 9), ("other", 1)]
    first = metrics[0]
    assert (first["comments"], first["gifts"], first["gift_diamonds"], first["likes"]) == (2, 5, 5, 15)
    assert (first["follows"], first["shares"], first["peak_viewers"]) == (1, 1, 1500)
    assert metrics[1]["peak_viewers"] is None and first["source_terms"] == "unofficial"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
FIELDS = st.sampled_from(
    [
        "type",
        "room_id",
        "creator",
        "timestamp",
        "user",
        "comment",
        "gift_id",
        "repeat_count",
        "repeat_end",
        "diamond_count",
        "like_count",
        "viewer_count",
        "viewerCount",
        "createTime",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(["comment", "chat", "gift", "like", "roomUser", "viewer_count", "follow", "share"]),
    changes=st.dictionaries(FIELDS, JSON_VALUES, max_size=4),
    text=st.text(max_size=40),
)
def test_the_parser_survives_anything_and_loses_no_line(base, changes, text):
    """Any mutation of a valid event, or any text, is an event or a rejected line with a reason: never a crash."""
    records = [
        {
            "kind": "line",
            "file": "f.jsonl",
            "start": 0,
            "end": 1,
            "line": json.dumps(event(base) | changes),
            "utf8": True,
        },
        {"kind": "line", "file": "f.jsonl", "start": 1, "end": 2, "line": text, "utf8": True},
    ]
    parsed = parse_live_window(W0, records)
    assert parsed.events.height + parsed.rejected.height == 2
    assert all(r.startswith("live_events: ") for r in parsed.rejected["reason"])
    first = parsed.events.filter(pl.col("line_start") == 0)
    for name in ("like_count", "viewer_count", "repeat_count", "diamond_count", "gift_id"):
        if isinstance(changes.get(name), bool) and first.height:
            assert first[name][0] is None, f"a boolean {name} was taken for a count"


# --- taking lines exactly once ---


def test_a_partial_last_line_waits_until_it_is_whole_or_the_file_settles(tmp_path):
    now = W0 + WINDOW + timedelta(seconds=30)
    path = tmp_path / "a.jsonl"
    path.write_bytes(line(event()) + b'{"type": "comm')
    age(path, 10, now)
    young = take_file(path, "a.jsonl", 0, now=now, settle_seconds=300)
    assert [r["kind"] for r in young] == ["line"] and young[0]["end"] == len(line(event()))
    age(path, 600, now)
    settled = take_file(path, "a.jsonl", young[0]["end"], now=now, settle_seconds=300)
    assert [r["line"] for r in settled] == ['{"type": "comm']
    assert take_file(tmp_path / "gone.jsonl", "gone.jsonl", 0, now=now, settle_seconds=300)[0]["kind"] == "file_problem"


def test_each_line_is_taken_by_exactly_one_window_and_a_rerun_reads_its_landing(tmp_path):
    live = intake(tmp_path)
    path = live.intake_dir / "stream.jsonl"
    path.write_bytes(line(event()) + line(event("like")))
    first_now = W0 + WINDOW + timedelta(seconds=20)
    first = land_live_window(live, W0, now=first_now)
    assert first.collected and [r["start"] for r in first.records] == [0, len(line(event()))]
    with path.open("ab") as handle:
        handle.write(line(event("share")) + b'{"partial"')
    again = land_live_window(live, W0, now=first_now + timedelta(minutes=2))  # a re-run of the same window
    assert not again.collected and again.records == first.records
    second = land_live_window(live, W0 + WINDOW, now=first_now + WINDOW)
    assert [json.loads(r["line"])["type"] for r in second.records] == ["share"]
    assert pending_lines(live, first_now + WINDOW) == []  # a partial line alone is nothing to take yet
    settled = LiveIntake(live.intake_dir, live.landing_dir, 0, live.max_age)  # a finished file: its rest is due
    assert pending_lines(settled, datetime.now(UTC) + timedelta(seconds=1)) == ["stream.jsonl"]
    with path.open("ab") as handle:
        handle.write(b"}\n")
    third = land_live_window(live, W0 + 2 * WINDOW, now=first_now + 2 * WINDOW)
    assert [r["line"] for r in third.records] == ['{"partial"}']
    assert pending_lines(live, first_now + 2 * WINDOW) == []
    taken = [r["start"] for w in (first, second, third) for r in w.records]
    assert len(taken) == len(set(taken)) == 4


def test_a_landing_file_the_ledger_missed_is_read_back_so_nothing_is_taken_twice(tmp_path):
    live = intake(tmp_path)
    (live.intake_dir / "s.jsonl").write_bytes(line(event()))
    now = W0 + WINDOW + timedelta(seconds=20)
    land_live_window(live, W0, now=now)
    (live.root / "taken.json").unlink()  # a crash after landing, before the ledger was written
    assert read_ledger(live).taken == {"s.jsonl": len(line(event()))}
    later = land_live_window(live, W0 + WINDOW, now=now + WINDOW)
    assert later.collected and later.records == []


def test_a_replaced_shorter_file_is_taken_from_its_start_and_a_bad_file_stops_no_other(tmp_path):
    live = intake(tmp_path)
    (live.intake_dir / "s.jsonl").write_bytes(line(event()) + line(event()))
    now = W0 + WINDOW + timedelta(seconds=20)
    land_live_window(live, W0, now=now)
    (live.intake_dir / "s.jsonl").write_bytes(line(event("follow")))
    (live.intake_dir / "broken.jsonl").write_bytes(b"\xff\xfe garbage\n")
    landed = land_live_window(live, W0 + WINDOW, now=now + WINDOW)
    parsed = parse_live_window(W0 + WINDOW, landed.records)
    assert parsed.events["event_type"].to_list() == ["follow"]
    assert parsed.rejected["source"].to_list() == ["broken.jsonl:0"]
    assert read_landing(landed.path) == landed.records


def test_a_window_too_old_to_take_is_refused_rather_than_filled_with_todays_lines(tmp_path):
    live = intake(tmp_path)
    (live.intake_dir / "s.jsonl").write_bytes(line(event()))
    with pytest.raises(WindowNotObservableError):
        land_live_window(live, W0, now=W0 + timedelta(hours=2))
    with pytest.raises(WindowNotObservableError, match="cannot be observed before it has closed"):
        land_live_window(live, W0, now=W0 + timedelta(minutes=1))
