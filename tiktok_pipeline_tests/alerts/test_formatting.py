"""Slack Block Kit and Teams Adaptive Card rendering of alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tiktok_pipeline.activation.alerts.formatting import slack_payload, teams_payload
from tiktok_pipeline.activation.alerts.models import Alert

CREATED = datetime(2026, 11, 24, 12, 5, 30, tzinfo=UTC)


def make_alert(**overrides: Any) -> Alert:
    """A check alert with facts, a small table and a link; ``overrides`` replace any field."""
    fields: dict[str, Any] = {
        "alert_id": "check:video_velocity:velocity_schema:2026-11-24-12:05:ERROR",
        "kind": "check",
        "severity": "ERROR",
        "title": "velocity_schema failed",
        "summary": "3 rows have views < 0 & likes > views.",
        "facts": [("Asset", "video_velocity"), ("Rows", "3")],
        "table_columns": ["video", "views"],
        "table_rows": [["v1", "-5"], ["v2", "<10>"]],
        "link_url": "http://dagster.local/assets/video_velocity",
        "created_at": CREATED,
    }
    return Alert(**(fields | overrides))


def blocks_of(payload: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The blocks of one type, in order."""
    return [b for b in payload["blocks"] if b["type"] == kind]


def test_slack_payload_shape() -> None:
    payload = slack_payload(make_alert())
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "section", "section", "context", "actions"]
    assert "ERROR" in payload["text"] and "velocity_schema failed" in payload["text"]
    header = payload["blocks"][0]["text"]
    assert header["type"] == "plain_text"
    assert header["text"] == ":rotating_light: ERROR: velocity_schema failed"
    summary, facts, table = payload["blocks"][1:4]
    assert summary["text"] == {"type": "mrkdwn", "text": "3 rows have views &lt; 0 &amp; likes &gt; views."}
    assert facts["fields"] == [
        {"type": "mrkdwn", "text": "*Asset*\nvideo_velocity"},
        {"type": "mrkdwn", "text": "*Rows*\n3"},
    ]
    assert table["text"]["text"] == "```\nvideo  views\n-----  -----\nv1     -5\nv2     &lt;10&gt;\n```"
    assert "Created 2026-11-24 12:05:30 UTC" in blocks_of(payload, "context")[0]["elements"][0]["text"]
    (button,) = blocks_of(payload, "actions")[0]["elements"]
    assert button["type"] == "button"
    assert button["url"] == "http://dagster.local/assets/video_velocity"
    assert button["text"] == {"type": "plain_text", "text": "Open in Dagster"}
    json.dumps(payload)  # serialisable as is


@pytest.mark.parametrize(
    ("severity", "kind", "emoji"),
    [
        ("ERROR", "check", ":rotating_light:"),
        ("WARN", "check", ":warning:"),
        ("INFO", "business", ":chart_with_upwards_trend:"),
    ],
)
def test_slack_header_emoji_per_severity(severity: str, kind: str, emoji: str) -> None:
    header = slack_payload(make_alert(severity=severity, kind=kind))["blocks"][0]["text"]["text"]
    assert header.startswith(f"{emoji} {severity}:")


def test_slack_header_is_cut_to_150_chars() -> None:
    header = slack_payload(make_alert(title="x" * 500))["blocks"][0]["text"]["text"]
    assert len(header) == 150 and header.endswith("…")


def test_slack_fields_are_at_most_ten_and_escaped() -> None:
    facts = [(f"<label {i}>", f"a & b {i}") for i in range(14)]
    (section,) = [b for b in slack_payload(make_alert(facts=facts))["blocks"] if "fields" in b]
    assert len(section["fields"]) == 10
    assert section["fields"][0]["text"] == "*&lt;label 0&gt;*\na &amp; b 0"


def test_slack_without_link_facts_or_table_has_no_such_blocks() -> None:
    payload = slack_payload(make_alert(link_url=None, facts=[], table_columns=[], table_rows=[]))
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "context"]


def test_slack_long_table_is_truncated_below_3000_chars() -> None:
    rows = [[f"video-{i:04d}", "<&>" * 10] for i in range(500)]
    text = slack_payload(make_alert(table_rows=rows))["blocks"][3]["text"]["text"]
    assert len(text) <= 3000
    assert text.startswith("```\nvideo")
    block, note = text.rsplit("\n", 1)
    assert block.endswith("```")
    shown = block.count("video-")
    assert 0 < shown < 500
    assert note == f"_{500 - shown} more rows not shown_"
    assert "&amp;" in block and "<" not in block


def test_slack_long_summary_is_cut_without_splitting_an_entity() -> None:
    text = slack_payload(make_alert(summary="&" * 2000))["blocks"][1]["text"]["text"]
    assert len(text) <= 3000
    assert text.endswith("&amp;…")


def test_slack_naive_created_at_is_taken_as_utc() -> None:
    payload = slack_payload(make_alert(created_at=datetime(2026, 11, 24, 12, 5, 30)))
    assert blocks_of(payload, "context")[0]["elements"][0]["text"] == "Created 2026-11-24 12:05:30 UTC"


def card_of(payload: dict[str, Any]) -> dict[str, Any]:
    """The Adaptive Card inside a Teams message, after checking the envelope."""
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["type"] == "AdaptiveCard"
    return card


def test_teams_payload_shape() -> None:
    card = card_of(teams_payload(make_alert()))
    assert card["version"] == "1.5"  # the Table element needs 1.5
    title, summary, facts, table, created = card["body"]
    assert title == {
        "type": "TextBlock",
        "text": "ERROR: velocity_schema failed",
        "weight": "Bolder",
        "size": "Medium",
        "color": "Attention",
        "wrap": True,
    }
    assert summary == {"type": "TextBlock", "text": "3 rows have views < 0 & likes > views.", "wrap": True}
    assert facts == {
        "type": "FactSet",
        "facts": [{"title": "Asset", "value": "video_velocity"}, {"title": "Rows", "value": "3"}],
    }
    assert table["type"] == "Table" and table["firstRowAsHeaders"] is True
    assert len(table["columns"]) == 2
    cells = [[c["items"][0]["text"] for c in row["cells"]] for row in table["rows"]]
    assert cells == [["video", "views"], ["v1", "-5"], ["v2", "<10>"]]
    assert created["isSubtle"] is True and created["text"] == "Created 2026-11-24 12:05:30 UTC"
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open in Dagster", "url": "http://dagster.local/assets/video_velocity"}
    ]
    json.dumps(teams_payload(make_alert()))


@pytest.mark.parametrize(("severity", "color"), [("ERROR", "Attention"), ("WARN", "Warning"), ("INFO", "Good")])
def test_teams_title_color_per_severity(severity: str, color: str) -> None:
    assert card_of(teams_payload(make_alert(severity=severity)))["body"][0]["color"] == color


def test_teams_without_link_facts_or_table() -> None:
    card = card_of(teams_payload(make_alert(link_url=None, facts=[], table_columns=[], table_rows=[])))
    assert card["version"] == "1.4"
    assert [b["type"] for b in card["body"]] == ["TextBlock", "TextBlock", "TextBlock"]
    assert card["actions"] == []


def test_teams_ragged_table_rows_are_padded() -> None:
    card = card_of(teams_payload(make_alert(table_columns=[], table_rows=[["a"], ["b", "c", "d"]])))
    table = card["body"][3]
    assert table["firstRowAsHeaders"] is False
    assert [len(row["cells"]) for row in table["rows"]] == [3, 3]
