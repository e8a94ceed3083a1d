"""One section of the per-window digest (Slack/Teams): what a domain contributes, built by a pure function."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DigestSection:
    """A titled list of short lines for one window, and the Dagster UI path (e.g. ``/assets/pacing_recommendations``)
    the digest links to. Lines carry no secret and no personal data."""

    title: str
    lines: tuple[str, ...]
    link_path: str
