"""Unofficial sources are refused when the definitions load, unless a risk acceptance is recorded and current.

A risk acceptance is a JSON file named by ``TIKTOK_RISK_ACCEPTANCES_PATH`` (default
``data/risk_acceptances.json``)::

    {"acceptances": [{"source": "live_events", "accepted_by": "jane@example.com",
      "accepted_at": "2026-12-01T09:00:00Z", "expires_at": "2027-03-01T00:00:00Z",
      "scope": "LIVE comments of our own creators' streams, for the live dashboard only",
      "contingency": "switch the intake off (remove the source); dashboards fall back to official data"}]}

Every field is required; times without an offset are UTC. :func:`admit_sources` checks every declared
``unofficial`` source: without an acceptance, or with only expired ones, it is refused (:class:`SourceRefused`,
naming the source, the file and the setting), and every refusal is logged; an admitted one is logged with who
accepted it, its scope and expiry, at every load (a run's process loads the definitions too, so an acceptance
that expires stops the next run).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tiktok_pipeline.governance.source_models import SourceDeclaration

log = logging.getLogger(__name__)

SETTING = "TIKTOK_RISK_ACCEPTANCES_PATH"


class SourceRefused(RuntimeError):
    """An unofficial source without a current risk acceptance (or an unreadable acceptances file)."""


class RiskAcceptance(BaseModel):
    """Who accepted the risk of using an unofficial source, when, for what, until when, and the way back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1)
    accepted_by: str = Field(min_length=1)
    accepted_at: datetime
    scope: str = Field(min_length=1)
    expires_at: datetime
    contingency: str = Field(min_length=1)

    @field_validator("accepted_at", "expires_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _expires_after_acceptance(self) -> RiskAcceptance:
        if self.expires_at <= self.accepted_at:
            raise ValueError(f"expires_at {self.expires_at.isoformat()} is not after accepted_at")
        return self

    def describe(self) -> str:
        """One line: who, when, scope, expiry, contingency."""
        return (
            f"accepted by {self.accepted_by} on {self.accepted_at.isoformat()}, scope: {self.scope};"
            f" expires {self.expires_at.isoformat()}; contingency: {self.contingency}"
        )


class RiskAcceptances(BaseModel):
    """The acceptances file."""

    model_config = ConfigDict(extra="forbid")

    acceptances: list[RiskAcceptance]


def load_acceptances(path: Path) -> list[RiskAcceptance]:
    """The acceptances recorded in ``path`` (none when it does not exist); an unreadable file is refused."""
    if not path.exists():
        return []
    try:
        return RiskAcceptances.model_validate(json.loads(path.read_text(encoding="utf-8"))).acceptances
    except (OSError, ValueError, ValidationError) as exc:  # JSONDecodeError and ValidationError are ValueErrors
        detail = str(exc).splitlines()
        raise SourceRefused(
            f"the risk acceptances file {path} ({SETTING}) cannot be read: {'; '.join(detail[:6])}"
        ) from None


def admit_sources(
    sources: Mapping[str, SourceDeclaration], acceptances_path: Path, *, now: datetime | None = None
) -> dict[str, RiskAcceptance]:
    """The acceptance under which each unofficial source is admitted; :class:`SourceRefused` naming every source
    refused (no acceptance, or only expired ones). Official and approved-provider sources need none."""
    now = now or datetime.now(UTC)
    unofficial = [s for s in sources.values() if s.terms.status == "unofficial"]
    if not unofficial:
        return {}
    recorded = load_acceptances(acceptances_path)
    admitted: dict[str, RiskAcceptance] = {}
    refusals: list[str] = []
    for source in unofficial:
        own = [a for a in recorded if a.source == source.name]
        current = [a for a in own if a.accepted_at <= now < a.expires_at]
        if current:
            chosen = max(current, key=lambda a: a.expires_at)
            admitted[source.name] = chosen
            log.warning("unofficial source %r admitted under a risk acceptance: %s", source.name, chosen.describe())
            continue
        if own:
            latest = max(own, key=lambda a: a.expires_at)
            reason = (
                f"its risk acceptance by {latest.accepted_by} expired on {latest.expires_at.isoformat()}"
                if latest.expires_at <= now
                else f"its risk acceptance by {latest.accepted_by} starts only on {latest.accepted_at.isoformat()}"
            )
        else:
            reason = "no risk acceptance is recorded for it"
        refusal = (
            f"source {source.name!r} is unofficial ({source.terms.name}) and is refused: {reason}"
            f" (file {acceptances_path}, setting {SETTING}). Record one (source, accepted_by, accepted_at, scope,"
            " expires_at, contingency; README → Sources) or remove the source"
            + (f" (unset {source.switch} to switch it off)" if source.switch else "")
        )
        log.error("%s", refusal)
        refusals.append(refusal)
    if refusals:
        raise SourceRefused("\n".join(refusals))
    return admitted
