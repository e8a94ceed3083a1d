"""The digest of one window as an :class:`Alert` (kind ``digest``): it travels the alerts' delivery path.

Being an alert, a digest goes to the same Slack/Teams webhooks, with the same retries, Slack pacing, secret
redaction and call log, and is sent at most once: its id ``digest:<window key>`` is the alerts store's
deduplication key. Each section keeps its own link to the Dagster UI.
"""

from __future__ import annotations

import re
from datetime import datetime

from tiktok_pipeline.activation.alerts.models import Alert, AlertSection
from tiktok_pipeline.activation.digest.model import DigestSection

DIGEST_PREFIX = "digest:"


def digest_id(window_key: str) -> str:
    """The alert id (deduplication key) of a window's digest."""
    return f"{DIGEST_PREFIX}{window_key}"


def window_digest(window_key: str, sections: list[DigestSection], ui_url: str, now: datetime) -> Alert | None:
    """The digest of ``window_key`` with one block per section (None when no section has anything to say)."""
    if not sections:
        return None
    base = ui_url.rstrip("/")
    counts = ", ".join(f"{s.title.lower()} {len(s.lines)}" for s in sections)
    return Alert(
        alert_id=digest_id(window_key),
        kind="digest",
        severity="INFO",
        title=f"Digest of the window {window_key} UTC",
        summary=f"What the pipeline saw in the window {window_key}: {counts}.",
        facts=[("Window", window_key), *((s.title, str(len(s.lines))) for s in sections)],
        link_url=base,
        link_text="Open Dagster",
        sections=[AlertSection(title=s.title, lines=list(s.lines), link_url=base + s.link_path) for s in sections],
        created_at=now,
    )


def figure_name(title: str) -> str:
    """The metadata name of a section's figure: ``digest_`` and the title in snake case."""
    return "digest_" + "_".join(re.findall(r"[a-z0-9]+", title.lower()))


def digest_figures(alert: Alert) -> dict[str, int]:
    """Lines per section of a digest (plotted in the Dagster UI across windows); empty for other alerts."""
    if alert.kind != "digest":
        return {}
    return {"digest_sections": len(alert.sections), **{figure_name(s.title): len(s.lines) for s in alert.sections}}
