"""Creators' consent: what each authorised creator granted, and whether the grant still holds.

The token store (:mod:`.tokens`) already keeps each creator's granted ``scope``, the refresh-token horizon
(``refresh_expires_at``), when they granted it (``granted_at``) and a refused refresh (``reauthorize``). What it cannot
keep is a revocation: a revoked creator's tokens are dead and are removed. The **consent ledger** (``consent.json``
beside the token store, owner-only, no token in it) records each revocation by ``open_id``: when, why and how it
became known (TikTok's ``authorization.removed`` webhook, an ``invalid_grant`` on refresh before the horizon, or our
own ``tokens revoke``), with the grant as it was. A creator's consent record is derived from both
(:func:`consent_records`):

- ``revoked``: a revocation is in force, i.e. no grant came after it (a creator who authorises again, ``tokens
  add``, is active again; a duplicate webhook delivered days later does not revoke the new grant);
- ``reauthorize-needed``: the refresh-token horizon ended, or TikTok refused the refresh token after it;
- ``active``: otherwise.

Revoked creators are not polled (:func:`revoked_creators`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from tiktok_pipeline.sources.display_api.tokens import LockedJsonFile, TokenSet, TokenStore

CONSENT_FILE = "consent.json"
ACTIVE, REVOKED, REAUTHORIZE_NEEDED = "active", "revoked", "reauthorize-needed"
Status = Literal["active", "revoked", "reauthorize-needed"]
Via = Literal["webhook", "invalid_grant", "tokens revoke"]
REVOKED_CODE = "authorization_removed"
"""The code of the :class:`~.calls.ReauthorizationRequired` raised for a revoked creator (no request is made)."""


class Revocation(BaseModel):
    """One creator's revoked grant (never a token): when, why, how we learnt it, and the grant as it was."""

    open_id: str
    username: str | None = None
    revoked_at: datetime
    reason: str
    via: Via
    scope: str = ""
    granted_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    purged_at: datetime | None = None
    """When ``tiktok-pipeline creators purge`` deleted the creator's data, if it did."""

    def in_force(self, tokens: TokenSet | None) -> bool:
        """True unless ``tokens`` come from a grant given after the revocation. TikTok's ``create_time`` is in whole
        seconds: a grant within the revocation's second counts as before it (a creator revoked in error authorises
        again; a revocation is never missed)."""
        if tokens is None or tokens.granted_at is None:
            return True
        return tokens.granted_at.replace(microsecond=0) <= self.revoked_at


class ConsentRecord(BaseModel):
    """A creator's consent as analysts see it (``creator_consent``)."""

    creator_username: str | None
    open_id: str
    scopes: list[str]
    granted_at: datetime | None
    refresh_expires_at: datetime | None
    status: Status
    revoked_at: datetime | None = None
    revoked_via: str | None = None
    revoked_reason: str | None = None
    purged_at: datetime | None = None


class ConsentLedger(LockedJsonFile):
    """``{open_id: Revocation}`` in ``consent.json`` beside the token store."""

    what = "consent ledger"

    @classmethod
    def beside(cls, token_store_path: Path) -> ConsentLedger:
        """The ledger of the token store at ``token_store_path``."""
        return cls(Path(token_store_path).with_name(CONSENT_FILE))

    def revocations(self) -> dict[str, Revocation]:
        """Every recorded revocation, by open_id."""
        with self._locked():
            return {open_id: Revocation.model_validate(raw) for open_id, raw in sorted(self._read().items())}

    def record(self, revocation: Revocation) -> bool:
        """Record ``revocation`` unless one as recent or newer is already there (a duplicate delivery); True if it
        was recorded. A later revocation replaces an earlier one (the creator re-authorised in between)."""
        with self._locked():
            content = self._read()
            known = content.get(revocation.open_id)
            if known is not None and Revocation.model_validate(known).revoked_at >= revocation.revoked_at:
                return False
            content[revocation.open_id] = revocation.model_dump(mode="json")
            self._write(content)
            return True

    def mark_purged(self, open_id: str, at: datetime) -> None:
        """Note that the creator's data was purged (the revocation stays: it is the record of consent withdrawn)."""
        with self._locked():
            content = self._read()
            if open_id in content:
                content[open_id] = {**content[open_id], "purged_at": at.isoformat()}
                self._write(content)

    def forget(self, open_id: str) -> bool:
        """Drop the revocation of ``open_id`` (``creators purge`` of a creator who never revoked has none)."""
        with self._locked():
            content = self._read()
            if content.pop(open_id, None) is None:
                return False
            self._write(content)
            return True


def revocation_for(username: str, tokens: TokenSet | None, revocations: dict[str, Revocation]) -> Revocation | None:
    """The revocation in force for ``username`` (matched by open_id, else by handle), or None."""
    found = revocations.get(tokens.open_id) if tokens is not None and tokens.open_id else None
    if found is None:
        found = next((r for r in revocations.values() if r.username == username), None)
    return found if found is not None and found.in_force(tokens) else None


def revoke(
    tokens: TokenStore, ledger: ConsentLedger, *, open_id: str, revoked_at: datetime, reason: str, via: Via
) -> Revocation:
    """Record that ``open_id``'s grant was revoked at ``revoked_at`` and remove their tokens, unless the tokens come
    from a later grant (then the revocation is recorded but not in force). Idempotent."""
    username = next((name for name, t in tokens.all().items() if t.open_id == open_id), None)
    current = tokens.get(username) if username else None
    known = ledger.revocations().get(open_id)
    grant = current or known  # the grant as it was: the tokens, else an earlier revocation's copy of it
    revocation = Revocation(
        open_id=open_id,
        username=username or (known.username if known else None),
        revoked_at=revoked_at,
        reason=reason,
        via=via,
        scope=grant.scope if grant else "",
        granted_at=grant.granted_at if grant else None,
        refresh_expires_at=grant.refresh_expires_at if grant else None,
    )
    ledger.record(revocation)
    if username and current is not None and revocation.in_force(current) and via != "invalid_grant":
        tokens.remove(username)
    return revocation


def consent_records(
    tokens: dict[str, TokenSet], revocations: dict[str, Revocation], now: datetime
) -> list[ConsentRecord]:
    """Every authorised creator's consent record (those with tokens, and those whose revocation removed them)."""
    records, seen = [], set[str]()
    for username, held in sorted(tokens.items()):
        revoked = revocation_for(username, held, revocations)
        if revoked is not None:
            seen.add(revoked.open_id)
            records.append(_revoked_record(revoked, username, held))
            continue
        seen.add(held.open_id)
        ended = held.refresh_expires_at is not None and held.refresh_expires_at <= now
        records.append(
            ConsentRecord(
                creator_username=username,
                open_id=held.open_id,
                scopes=_scopes(held.scope),
                granted_at=held.granted_at,
                refresh_expires_at=held.refresh_expires_at,
                status=REAUTHORIZE_NEEDED if held.reauthorize or ended else ACTIVE,
                revoked_reason=held.reauthorize,
            )
        )
    for open_id, revoked in revocations.items():
        if open_id not in seen and not any(t.open_id == open_id for t in tokens.values()):
            records.append(_revoked_record(revoked, revoked.username, None))
    return records


def _revoked_record(revoked: Revocation, username: str | None, held: TokenSet | None) -> ConsentRecord:
    return ConsentRecord(
        creator_username=username,
        open_id=revoked.open_id,
        scopes=_scopes(revoked.scope or (held.scope if held else "")),
        granted_at=revoked.granted_at or (held.granted_at if held else None),
        refresh_expires_at=revoked.refresh_expires_at or (held.refresh_expires_at if held else None),
        status=REVOKED,
        revoked_at=revoked.revoked_at,
        revoked_via=revoked.via,
        revoked_reason=revoked.reason,
        purged_at=revoked.purged_at,
    )


def _scopes(scope: str) -> list[str]:
    return sorted({s.strip() for s in scope.split(",") if s.strip()})


def read_consent(token_store_path: Path, now: datetime) -> list[ConsentRecord]:
    """The consent records of the token store at ``token_store_path`` and its ledger."""
    return consent_records(
        TokenStore(token_store_path).all(), ConsentLedger.beside(token_store_path).revocations(), now
    )


def revoked_creators(token_store_path: Path, now: datetime) -> frozenset[str]:
    """Handles of creators whose grant is revoked: not polled, not collected, not expected to report. (A creator who
    must authorise again stays tracked: the client refuses their calls without a request, and each window counts
    them in ``creators_to_reauthorise``.)"""
    return frozenset(
        r.creator_username for r in read_consent(token_store_path, now) if r.status == REVOKED and r.creator_username
    )
