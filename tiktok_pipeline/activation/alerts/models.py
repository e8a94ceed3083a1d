"""The alert every destination renders: one model, built by the alert ops, rendered per channel."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Severity = Literal["ERROR", "WARN", "INFO"]


class AlertSection(BaseModel):
    """One titled block of a digest alert: short lines and the Dagster UI page they come from."""

    title: str
    lines: list[str] = Field(default_factory=list)
    link_url: str


class Alert(BaseModel):
    """One alert. ``alert_id`` is the deduplication key: the same id is never delivered twice."""

    alert_id: str = Field(description="e.g. 'check:video_velocity:velocity_schema:2026-11-24-12:05:ERROR'")
    kind: Literal["check", "business", "run", "token", "consent", "digest"]
    severity: Severity
    title: str
    summary: str = Field(description="One or two sentences, plain text (Markdown-free).")
    facts: list[tuple[str, str]] = Field(default_factory=list, description="Label/value pairs shown as a grid.")
    table_columns: list[str] = Field(default_factory=list, description="Optional small table (e.g. top movers).")
    table_rows: list[list[str]] = Field(default_factory=list)
    link_url: str | None = Field(default=None, description="Dagster UI page of the asset, check or run.")
    link_text: str = "Open in Dagster"
    sections: list[AlertSection] = Field(
        default_factory=list, description="A digest's sections, each with its own link (empty for other alerts)."
    )
    created_at: datetime
