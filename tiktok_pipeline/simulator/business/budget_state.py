"""The simulated ad account's applied budget changes in a file, so an in-process simulator remembers them.

The pipeline's embedded simulator is created afresh by every run (and by ``tiktok-pipeline pacing revert``): without
this file a change applied by one run would be gone in the next run's ``adgroup/get``, unlike TikTok and unlike a
served ``tiktok-sim``. The file is JSON (``{"seed", "advertiser_id", "changes": [...]}``), replaced atomically
(written beside, synced, renamed); an append holds an exclusive ``flock`` on ``<file>.lock``, re-reads the file and
numbers the change after the last one in it, so two processes appending at once both land, in some order. Readers
re-read the file when it changed (its size, inode or modification time), at most every :data:`RECHECK_SECONDS`.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RECHECK_SECONDS = 0.2
"""A reader looks at the file's stamp at most this often (another process's change shows within it)."""


@dataclass(frozen=True)
class BudgetChange:
    """One applied budget change (``adgroup/budget/update``): what it was, what it became, and when."""

    serial: int
    adgroup_id: str
    before: float
    after: float
    applied_at: float


class BudgetStateFile:
    """The changes of one ad account (``seed``, ``advertiser_id``) in ``path``."""

    def __init__(self, path: Path, seed: int, advertiser_id: str) -> None:
        self.path = Path(path)
        self.seed, self.advertiser_id = seed, advertiser_id
        self._stamp: tuple[int, int, int] | None = None
        self._checked = -float("inf")

    def _current_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def changed(self, *, force: bool = False) -> list[BudgetChange] | None:
        """The file's changes when it changed since the last read (None: unchanged, or not checked yet)."""
        now = time.monotonic()
        if not force and now - self._checked < RECHECK_SECONDS:
            return None
        self._checked = now
        stamp = self._current_stamp()
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        return self._read() if stamp is not None else []

    def _read(self) -> list[BudgetChange]:
        try:
            data: Any = json.loads(self.path.read_text())
            if data.get("seed") != self.seed or data.get("advertiser_id") != self.advertiser_id:
                raise ValueError(f"it holds seed {data.get('seed')!r}, advertiser {data.get('advertiser_id')!r}")
            return [BudgetChange(**change) for change in data["changes"]]
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            raise ValueError(f"simulator budget state {self.path} is unreadable for this account: {error}") from error

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, make: Callable[[list[BudgetChange]], BudgetChange]) -> tuple[BudgetChange, list[BudgetChange]]:
        """Under the lock: read the file, add ``make(changes)`` and write it back; the change and every change."""
        with self._locked():
            changes = self._read() if self.path.exists() else []
            change = make(changes)
            changes.append(change)
            body = {"seed": self.seed, "advertiser_id": self.advertiser_id, "changes": [asdict(c) for c in changes]}
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".partial")
            with os.fdopen(fd, "w") as out:
                json.dump(body, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            self._stamp, self._checked = self._current_stamp(), time.monotonic()
        return change, changes
