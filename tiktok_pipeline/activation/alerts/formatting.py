"""Render an :class:`~tiktok_pipeline.activation.alerts.models.Alert` as a Slack or Microsoft Teams webhook body.

Both functions are pure: they return the JSON-serialisable dict to POST and never touch the network.

* Slack: an incoming-webhook message built from Block Kit blocks, kept within Slack's limits
  (header ≤ 150 chars, ≤ 10 section fields, ≤ 3000 chars of text per block). Every mrkdwn text
  has ``&``, ``<`` and ``>`` escaped, as Slack requires.
* Teams: a Workflows ("Post to a channel when a webhook request is received") message holding
  one Adaptive Card. Cards are version 1.4 unless the alert has a table: then the card uses the
  native ``Table`` element, which needs version 1.5 (supported by Teams desktop, web and mobile).
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from tiktok_pipeline.activation.alerts.models import Alert, AlertSection, Severity

SLACK_HEADER_LIMIT = 150
SLACK_TEXT_LIMIT = 3000
SLACK_FIELD_LIMIT = 2000
SLACK_MAX_FIELDS = 10
SLACK_BUTTON_TEXT_LIMIT = 75
SLACK_MAX_BLOCKS = 50
SECTION_LINK_TEXT = "Open in Dagster"

SLACK_EMOJI: dict[Severity, str] = {
    "ERROR": ":rotating_light:",
    "WARN": ":warning:",
    "INFO": ":chart_with_upwards_trend:",
}
TEAMS_COLOR: dict[Severity, str] = {"ERROR": "Attention", "WARN": "Warning", "INFO": "Good"}

_PARTIAL_ENTITY = re.compile(r"&[a-z]*$")
# Room kept after the table's code block for the "N more rows not shown" note.
_MORE_ROWS_RESERVE = 40


def slack_escape(text: str) -> str:
    """Escape the three characters Slack treats as control characters in mrkdwn text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str, limit: int) -> str:
    """Escape ``text`` for mrkdwn and cut it to ``limit`` characters without splitting an entity."""
    escaped = slack_escape(text)
    if len(escaped) <= limit:
        return escaped
    return _PARTIAL_ENTITY.sub("", escaped[: limit - 1]) + "…"


def _created(alert: Alert) -> str:
    """``created_at`` as UTC text; a naive datetime is taken to be UTC already."""
    created = alert.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _slack_table(columns: list[str], rows: list[list[str]]) -> str:
    """The table as an aligned, preformatted mrkdwn block of at most 3000 characters.

    Rows that do not fit are dropped from the end and counted in a short note after the block.
    """
    grid = [columns, *rows] if columns else list(rows)
    width = max(len(row) for row in grid)
    cells = [[" ".join(cell.split()) for cell in row] + [""] * (width - len(row)) for row in grid]
    widths = [max(len(row[i]) for row in cells) for i in range(width)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in cells]
    header_lines = 0
    if columns:
        lines.insert(1, "  ".join("-" * w for w in widths))
        header_lines = 2
    budget = SLACK_TEXT_LIMIT - len("```\n\n```") - _MORE_ROWS_RESERVE
    kept: list[str] = []
    used = 0
    for line in lines:
        line = _mrkdwn(line, budget)
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    text = "```\n" + "\n".join(kept) + "\n```"
    omitted = len(rows) - max(0, len(kept) - header_lines)
    if omitted:
        text += f"\n_{omitted} more rows not shown_"
    return text


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook message (Block Kit) for ``alert``.

    Blocks, in order: header (severity emoji, severity and title), summary section, facts as
    section fields (the first 10), the table as a preformatted section, a context line with the
    creation time in UTC, and a link button when ``alert.link_url`` is set. ``text`` is the
    notification fallback.
    """
    heading = f"{SLACK_EMOJI[alert.severity]} {alert.severity}: {alert.title}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _truncate(heading, SLACK_HEADER_LIMIT), "emoji": True},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(alert.summary, SLACK_TEXT_LIMIT)}},
    ]
    if alert.facts:
        fields = [
            {"type": "mrkdwn", "text": _mrkdwn(f"*{label}*\n{value}", SLACK_FIELD_LIMIT)}
            for label, value in alert.facts[:SLACK_MAX_FIELDS]
        ]
        blocks.append({"type": "section", "fields": fields})
    if alert.table_rows:
        table = _slack_table(alert.table_columns, alert.table_rows)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": table}})
    blocks += [_slack_section(i, section) for i, section in enumerate(alert.sections)][
        : SLACK_MAX_BLOCKS - len(blocks) - 2
    ]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Created {_created(alert)}"}]})
    if alert.link_url:
        button = {
            "type": "button",
            "action_id": "open_link",
            "text": {"type": "plain_text", "text": _truncate(alert.link_text, SLACK_BUTTON_TEXT_LIMIT)},
            "url": alert.link_url,
        }
        blocks.append({"type": "actions", "elements": [button]})
    return {"text": _mrkdwn(f"{alert.severity}: {alert.title}", SLACK_TEXT_LIMIT), "blocks": blocks}


def _slack_section(index: int, section: AlertSection) -> dict[str, Any]:
    """A digest section as one Slack section block: bold title, one bullet per line, and a button to its page
    (``index`` keeps the buttons' action ids unique within the message)."""
    text = "\n".join([f"*{section.title}*", *(f"• {line}" for line in section.lines)])
    button = {
        "type": "button",
        "action_id": f"open_section_{index}",
        "text": {"type": "plain_text", "text": SECTION_LINK_TEXT},
        "url": section.link_url,
    }
    return {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(text, SLACK_TEXT_LIMIT)}, "accessory": button}


def _teams_section(section: AlertSection) -> dict[str, Any]:
    """A digest section as an Adaptive Card container: bold title, one line per fact, and a link to its page."""
    items: list[dict[str, Any]] = [{"type": "TextBlock", "text": section.title, "weight": "Bolder", "wrap": True}]
    items += [{"type": "TextBlock", "text": f"- {line}", "wrap": True, "spacing": "None"} for line in section.lines]
    items.append(
        {
            "type": "ActionSet",
            "actions": [{"type": "Action.OpenUrl", "title": SECTION_LINK_TEXT, "url": section.link_url}],
        }
    )
    return {"type": "Container", "separator": True, "items": items}


def _teams_table(columns: list[str], rows: list[list[str]]) -> dict[str, Any]:
    """An Adaptive Card 1.5 ``Table`` element; the column names, when given, form a bold header row."""
    width = max(len(row) for row in [columns, *rows])

    def row(values: list[str], weight: str = "Default") -> dict[str, Any]:
        padded = values + [""] * (width - len(values))
        cells = [
            {"type": "TableCell", "items": [{"type": "TextBlock", "text": v, "wrap": True, "weight": weight}]}
            for v in padded
        ]
        return {"type": "TableRow", "cells": cells}

    header = [row(columns, "Bolder")] if columns else []
    return {
        "type": "Table",
        "gridStyle": "accent",
        "firstRowAsHeaders": bool(columns),
        "columns": [{"width": 1}] * width,
        "rows": header + [row(values) for values in rows],
    }


def teams_payload(alert: Alert) -> dict[str, Any]:
    """A Microsoft Teams Workflows webhook message holding one Adaptive Card for ``alert``.

    Body: bold title coloured by severity, wrapped summary, a FactSet, the table (native
    ``Table`` element, card version 1.5; otherwise the card is 1.4), a subtle creation time, and
    an ``Action.OpenUrl`` when ``alert.link_url`` is set.
    """
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": f"{alert.severity}: {alert.title}",
            "weight": "Bolder",
            "size": "Medium",
            "color": TEAMS_COLOR[alert.severity],
            "wrap": True,
        },
        {"type": "TextBlock", "text": alert.summary, "wrap": True},
    ]
    if alert.facts:
        body.append({"type": "FactSet", "facts": [{"title": label, "value": value} for label, value in alert.facts]})
    if alert.table_rows:
        body.append(_teams_table(alert.table_columns, alert.table_rows))
    body += [_teams_section(section) for section in alert.sections]
    body.append(
        {"type": "TextBlock", "text": f"Created {_created(alert)}", "isSubtle": True, "size": "Small", "wrap": True}
    )
    actions = [{"type": "Action.OpenUrl", "title": alert.link_text, "url": alert.link_url}] if alert.link_url else []
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.5" if alert.table_rows else "1.4",
        "msteams": {"width": "Full"},
        "body": body,
        "actions": actions,
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
