"""The approved analytics provider's validation on record: its declared facts and the benchmark's measured figures.

``benchmarks/provider_validation.py`` writes ``docs/provider-validation.json`` (refresh interval, staleness and
coverage measured against the simulator's truth, with the date measured); :func:`validation_section` puts those
figures beside the declaration's validation facts (``governance/sources.py``) for the ``governance_report`` asset.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tiktok_pipeline.governance.source_models import SourceDeclaration
from tiktok_pipeline.settings import PROJECT_ROOT

VALIDATION_PATH = PROJECT_ROOT / "docs" / "provider-validation.json"
"""Where the validation benchmark writes its figures."""
SHOWN = (
    "measured_at",
    "against",
    "hours_polled",
    "effective_refresh_minutes_median",
    "effective_refresh_minutes_p90",
    "assumed_refresh_minutes",
    "staleness_minutes_p50",
    "staleness_minutes_p90",
    "staleness_minutes_max",
    "creator_coverage",
    "covered_creators_not_authorised",
    "video_coverage",
    "video_coverage_of_covered_creators",
    "counts_exact_at_updated_at_share",
)


def load_validation(path: Path = VALIDATION_PATH) -> dict[str, Any] | None:
    """The measured figures, or None when the benchmark was never run here (or its file is unreadable)."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def validation_section(sources: Mapping[str, SourceDeclaration], measured: dict[str, Any] | None) -> str:
    """Markdown: each approved provider's declared validation facts, then the measured figures with their date."""
    lines: list[str] = []
    for source in sources.values():
        if source.terms.status != "approved_provider" or source.validation is None:
            continue
        facts = source.validation.model_dump()
        lines += [f"**{source.name}** ({source.terms.name}; contract {source.terms.contract})", ""]
        lines += ["| fact | declared |", "|---|---|"] + [f"| {k} | {v} |" for k, v in facts.items()] + [""]
        if measured is None:
            lines += ["_not measured: run `.venv/bin/python benchmarks/provider_validation.py`_", ""]
            continue
        lines += ["| figure | measured |", "|---|---|"]
        lines += [f"| {k} | {measured[k]} |" for k in SHOWN if k in measured] + [""]
    return "\n".join(lines) or "_no approved provider is declared_"
