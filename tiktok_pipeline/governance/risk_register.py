"""The risk acceptances on record, each with its state against the declared sources (for ``governance_report``).

:func:`tiktok_pipeline.governance.risk.admit_sources` decides at every load and logs each admission and refusal;
this is the durable view of the same file: the report's materialisation (kept in Dagster's event log) lists every
acceptance recorded, whether it is current, expired or not yet valid, and whether its source is a declared
unofficial one. A refusal stops the definitions from loading, so no asset can record it: refusals stay in the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from tiktok_pipeline.governance.risk import RiskAcceptance
from tiktok_pipeline.governance.source_models import SourceDeclaration


def acceptance_states(
    sources: Mapping[str, SourceDeclaration], recorded: list[RiskAcceptance], now: datetime
) -> list[dict[str, str]]:
    """One row per recorded acceptance (newest expiry first): who, when, scope, expiry, contingency and its state."""
    rows = []
    for acceptance in sorted(recorded, key=lambda a: (a.source, a.expires_at), reverse=True):
        source = sources.get(acceptance.source)
        if acceptance.expires_at <= now:
            state = "expired"
        elif acceptance.accepted_at > now:
            state = "not yet valid"
        else:
            state = "current"
        if source is None:
            standing = "no declared source of that name"
        elif source.terms.status != "unofficial":
            standing = f"not needed: the source is {source.terms.status}"
        else:
            standing = "admits the source" if state == "current" else "does not admit the source"
        rows.append(
            {
                "source": acceptance.source,
                "state": state,
                "standing": standing,
                "accepted_by": acceptance.accepted_by,
                "accepted_at": acceptance.accepted_at.isoformat(),
                "expires_at": acceptance.expires_at.isoformat(),
                "scope": acceptance.scope,
                "contingency": acceptance.contingency,
            }
        )
    return rows
