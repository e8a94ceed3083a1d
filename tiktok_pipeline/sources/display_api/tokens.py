"""Per-creator OAuth tokens, persisted so the newest (rotated) refresh token is never lost.

The store is a JSON file readable only by its owner. Writes are atomic (temp file + rename)
under an exclusive file lock, so two runs refreshing at once cannot lose a rotation.
Token values are ``SecretStr`` everywhere in memory: printing a ``TokenSet`` shows ``**********``.

``refresh_expires_at`` is what TikTok says: the moment of each grant plus its ``refresh_expires_in``, the *remaining*
lifetime of the refresh token chain (a fixed horizon from the first authorization; refreshing does not extend it).
It is None until TikTok has said (a bare refresh token stored with ``tokens add``, before its first refresh).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, SecretStr

from tiktok_pipeline.sources.display_api.models import TokenGrant

REFRESH_MARGIN = timedelta(minutes=5)


class TokenSet(BaseModel):
    """What the store keeps for one creator."""

    open_id: str
    access_token: SecretStr
    access_expires_at: datetime
    refresh_token: SecretStr
    refresh_expires_at: datetime | None = None
    scope: str = ""
    reauthorize: str | None = None
    """Why the creator must authorise the app again (TikTok's error code and log_id, never a token), set when TikTok
    refused the refresh token: no refresh is attempted until ``tokens add`` stores new tokens."""
    granted_at: datetime | None = None
    """When the creator granted the app these scopes (the authorization, or ``tokens add``); kept across refreshes.
    None for tokens stored before it was recorded."""

    @classmethod
    def from_grant(cls, grant: TokenGrant, now: datetime) -> TokenSet:
        """Absolute expiry times from the grant's relative ``expires_in`` values, granted ``now`` (a refresh keeps
        the original ``granted_at``: the caller's)."""
        return cls(
            granted_at=now,
            open_id=grant.open_id,
            access_token=grant.access_token,
            access_expires_at=now + timedelta(seconds=grant.expires_in),
            refresh_token=grant.refresh_token,
            refresh_expires_at=now + timedelta(seconds=grant.refresh_expires_in),
            scope=grant.scope,
        )

    def needs_refresh(self, now: datetime) -> bool:
        """True once the access token is within ``REFRESH_MARGIN`` of expiring."""
        return now >= self.access_expires_at - REFRESH_MARGIN

    def to_json(self) -> dict[str, str | None]:
        """The stored form (token values in clear: the file is owner-only)."""
        return {
            "open_id": self.open_id,
            "access_token": self.access_token.get_secret_value(),
            "access_expires_at": self.access_expires_at.isoformat(),
            "refresh_token": self.refresh_token.get_secret_value(),
            "refresh_expires_at": self.refresh_expires_at.isoformat() if self.refresh_expires_at else None,
            "scope": self.scope,
            "reauthorize": self.reauthorize,
            "granted_at": self.granted_at.isoformat() if self.granted_at else None,
        }


class LockedJsonFile:
    """A small JSON object in a file readable by its owner only: read under an exclusive file lock, replaced
    atomically (temp file, fsync, rename), so concurrent writers never lose each other's changes."""

    what = "JSON file"
    """What the file is, for errors."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_suffix(self.path.suffix + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, dict[str, str | None]]:
        if not self.path.exists():
            return {}
        try:
            return json.loads(self.path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.what} {self.path} is not valid JSON: {exc.msg}") from exc

    def _write(self, content: dict[str, dict[str, str | None]]) -> None:
        """Replace the file with ``content`` (temp file, fsync, rename); the caller holds the lock."""
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(content, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


class TokenStore(LockedJsonFile):
    """A JSON file of ``{username: TokenSet}``."""

    what = "token store"

    def get(self, username: str) -> TokenSet | None:
        """The stored tokens of ``username``, or None."""
        with self._locked():
            raw = self._read().get(username)
        return TokenSet.model_validate(raw) if raw else None

    def put(self, username: str, tokens: TokenSet) -> None:
        """Store ``tokens`` for ``username`` atomically, readable by the owner only."""
        with self._locked():
            content = self._read()
            content[username] = tokens.to_json()
            self._write(content)

    def mark_reauthorize(self, username: str, reason: str) -> None:
        """Record that ``username`` must authorise again (see :attr:`TokenSet.reauthorize`); tokens stay as they are."""
        with self._locked():
            content = self._read()
            if username in content:
                content[username] = {**content[username], "reauthorize": reason}
                self._write(content)

    def remove(self, username: str) -> None:
        """Forget ``username``'s tokens (after a revocation)."""
        with self._locked():
            content = self._read()
            if content.pop(username, None) is not None:
                self._write(content)

    def all(self) -> dict[str, TokenSet]:
        """Every creator's tokens."""
        with self._locked():
            return {username: TokenSet.model_validate(raw) for username, raw in sorted(self._read().items())}

    def usernames(self) -> list[str]:
        """Creators that have tokens."""
        with self._locked():
            return sorted(self._read())


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
