"""The per-window digest, pure: composing it from sections, its Slack and Teams rendering, its figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb

from tiktok_pipeline.activation.alerts.formatting import slack_payload, teams_payload
from tiktok_pipeline.activation.digest.compose import digest_figures, window_digest
from tiktok_pipeline.activation.digest.model import DigestSection
from tiktok_pipeline.activation.digest.sections import build_sections

NOW = datetime(2026, 11, 20, 10, 41, tzinfo=UTC)
UI = "http://dagster.example:3000/"
SECTIONS = [
    DigestSection(
        "Top movers", ("video 1: momentum 4.2x, 310 views/min", "video 2 <b> & co"), "/assets/video_velocity"
    ),
    DigestSection("Budget pacing", ("adgroup 9: raise 10%",), "/assets/pacing_recommendations"),
]


def test_no_section_no_digest() -> None:
    assert window_digest("2026-11-20-10:35", [], UI, NOW) is None


def test_slack_digest_has_one_block_and_one_link_per_section() -> None:
    digest = window_digest("2026-11-20-10:35", SECTIONS, UI, NOW)
    assert digest is not None and digest.alert_id == "digest:2026-11-20-10:35" and digest.kind == "digest"
    payload = slack_payload(digest)
    sections = [b for b in payload["blocks"] if b["type"] == "section" and "accessory" in b]
    assert [s["accessory"]["url"] for s in sections] == [
        "http://dagster.example:3000/assets/video_velocity",
        "http://dagster.example:3000/assets/pacing_recommendations",
    ]
    assert len({s["accessory"]["action_id"] for s in sections}) == 2  # unique within the message
    movers = sections[0]["text"]["text"]
    assert movers.startswith("*Top movers*\n• video 1: momentum 4.2x")
    assert "&lt;b&gt; &amp; co" in movers  # mrkdwn escaped
    assert "2026-11-20-10:35" in payload["text"]
    json.dumps(payload)


def test_teams_digest_has_one_container_and_one_link_per_section() -> None:
    digest = window_digest("2026-11-20-10:35", SECTIONS, UI, NOW)
    assert digest is not None
    card = teams_payload(digest)["attachments"][0]["content"]
    containers = [b for b in card["body"] if b["type"] == "Container"]
    assert [c["items"][0]["text"] for c in containers] == ["Top movers", "Budget pacing"]
    links = [c["items"][-1]["actions"][0]["url"] for c in containers]
    assert links == [
        "http://dagster.example:3000/assets/video_velocity",
        "http://dagster.example:3000/assets/pacing_recommendations",
    ]
    assert containers[1]["items"][1]["text"] == "- adgroup 9: raise 10%"
    json.dumps(card)


def test_figures_count_lines_per_section() -> None:
    digest = window_digest("2026-11-20-10:35", SECTIONS, UI, NOW)
    assert digest is not None
    assert digest_figures(digest) == {"digest_sections": 2, "digest_top_movers": 2, "digest_budget_pacing": 1}
    assert ("Window", "2026-11-20-10:35") in digest.facts  # the alerts table's window_key


def test_a_failing_or_empty_builder_leaves_only_its_section_out() -> None:
    def broken(connection, window_start):
        raise RuntimeError("a domain's bug")

    def empty(connection, window_start):
        return None

    def fine(connection, window_start):
        return DigestSection("Fine", (f"window {window_start:%H:%M}",), "/assets/x")

    with duckdb.connect() as connection:
        sections = build_sections(connection, datetime(2026, 11, 20, 10, 35), (broken, empty, fine))
    assert sections == [DigestSection("Fine", ("window 10:35",), "/assets/x")]


def test_built_in_sections_on_an_empty_warehouse_say_nothing() -> None:
    with duckdb.connect() as connection:
        assert build_sections(connection, datetime(2026, 11, 20, 10, 35)) == []
