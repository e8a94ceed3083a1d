"""The risk acceptances on record, each with its state against the declared sources (for ``governance_report``).

:func:`tiktok_pipeline.governance.risk.admit_sources` decides at every load and logs each admission and refusal;
this is the durable view of the same file: the report's materialisation (kept in Dagster's event log) lists every
acceptance recorded, whether it is current, expired or not yet valid, and whether its source is a declared
unofficial one. A refusal stops the definitions from loading, so no asset can record it: refusals stay in the log.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from tiktok_pipeline.governance.risk import RiskAcceptance
from tiktok_pipeline.governance.source_models import SourceDeclaration


def acceptance_states(
    sources: Mapping[str, SourceDeclaration],
    recorded: list[RiskAcceptance],
    now: datetime,
    switched_on: Collection[str] = (),
) -> list[dict[str, str]]:
    """One row per recorded acceptance (newest expiry first): who, when, scope, expiry, contingency and its state.

    ``switched_on``: the source switches set in this deployment (``Settings.switched_on()``); an unofficial
    source whose switch is not among them is not in use, so its acceptance admits nothing now."""
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
        elif state != "current":
            standing = "does not admit the source"
        elif source.switch is not None and source.switch not in switched_on:
            standing = f"would admit the source, which is switched off ({source.switch} unset)"
        else:
            standing = "admits the source"
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
