"""Taking LIVE event lines from the intake folder, each exactly once, and landing them per window.

The user's connector appends JSON lines to ``*.jsonl`` files under ``TIKTOK_LIVE_INTAKE_DIR`` (one file per
stream, say, still growing while the stream lasts). A window *takes* the lines added since the previous take, up
to the last newline (a partial last line is still being written: it waits), or to the end of a file not modified
for ``TIKTOK_LIVE_SETTLE_SECONDS`` (then a last line without newline is whole). What a window took is landed
through the one landing path (:func:`tiktok_pipeline.ingest.land.land`) under ``<landing>/live_events/``: one
record per line with its file and byte range, plus one per file that could not be read (a bad file never stops
the others). Re-running a window re-reads its landing file, so nothing is taken or counted twice.

Which bytes of each file were taken is kept in ``<landing>/live_events/taken.json`` (the *ledger*), written after
the landing file; a landing file the ledger does not list yet (a crash between the two) is read back into it
before the next take, so a line is never taken twice. Takes hold a file lock, so two runs never take the same
lines. A file that shrank was replaced: it is taken again from its start.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from filelock import FileLock
from pydantic import BaseModel

from tiktok_pipeline.ingest.land import Collected, LandedWindow, land, observation_instant
from tiktok_pipeline.ingest.landing import read_landing
from tiktok_pipeline.sources.http.decode import escaped

LANDING_SOURCE = "live_events"
EXTENSION = ".jsonl"
MAX_TAKE_BYTES = 64 * 2**20
"""Most bytes taken from one file by one window; the rest waits for the next window."""
PEEK_BYTES = 2**20
"""Bytes the sensor reads past a file's taken offset looking for a whole line."""


@dataclass(frozen=True)
class LiveIntake:
    """Where the lines come from and go, and when a file or a window counts as finished."""

    intake_dir: Path
    landing_dir: Path
    settle_seconds: float
    max_age: timedelta

    @property
    def root(self) -> Path:
        return Path(self.landing_dir) / LANDING_SOURCE


class Ledger(BaseModel):
    """What has been taken: bytes per intake file (relative path), and the landing files that account for them."""

    taken: dict[str, int] = {}
    landed: list[str] = []


def intake_files(intake_dir: Path) -> list[Path]:
    """The ``*.jsonl`` files under ``intake_dir`` (recursively, hidden ones left out), in path order."""
    directory = Path(intake_dir)
    if not directory.is_dir():
        return []
    return sorted(
        p
        for p in directory.rglob(f"*{EXTENSION}")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )


def _ledger_path(intake: LiveIntake) -> Path:
    return intake.root / "taken.json"


def read_ledger(intake: LiveIntake) -> Ledger:
    """The ledger, with every landing file it does not list yet read back into it."""
    path = _ledger_path(intake)
    ledger = Ledger.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else Ledger()
    known = set(ledger.landed)
    for landed in sorted(intake.root.glob(f"*/*{EXTENSION}.gz")):
        name = landed.relative_to(intake.root).as_posix()
        if name in known:
            continue
        for record in read_landing(landed):
            if "end" in record:
                ledger.taken[record["file"]] = max(ledger.taken.get(record["file"], 0), int(record["end"]))
        ledger.landed.append(name)
    return ledger


def _write_ledger(intake: LiveIntake, ledger: Ledger) -> None:
    path = _ledger_path(intake)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".taken.", suffix=".partial")
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(ledger.model_dump_json())
    os.replace(name, path)


def take_file(path: Path, name: str, offset: int, *, now: datetime, settle_seconds: float) -> list[dict[str, Any]]:
    """The landing records of the lines of ``path`` after byte ``offset`` that are whole now; never raises."""
    try:
        stat = path.stat()
        if stat.st_size < offset:  # replaced by a shorter file: its content is new
            offset = 0
        settled = now.timestamp() - stat.st_mtime >= settle_seconds
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(MAX_TAKE_BYTES)
    except OSError as exc:
        return [{"kind": "file_problem", "file": name, "problem": f"cannot be read ({type(exc).__name__})"}]
    whole = len(data) if settled and offset + len(data) >= stat.st_size else data.rfind(b"\n") + 1
    records, start = [], offset
    for raw in data[:whole].splitlines(keepends=True):
        end = start + len(raw)
        line = raw.rstrip(b"\r\n")
        if line.strip():
            records.append({"kind": "line", "file": name, "start": start, "end": end, **_decoded(line)})
        else:
            records.append({"kind": "blank", "file": name, "start": start, "end": end})
        start = end
    return records


def _decoded(line: bytes) -> dict[str, Any]:
    try:
        return {"line": line.decode("utf-8"), "utf8": True}
    except UnicodeDecodeError:
        return {"line": line.decode("utf-8", "backslashreplace"), "utf8": False}


def take_lines(intake: LiveIntake, ledger: Ledger, now: datetime) -> list[dict[str, Any]]:
    """Every intake file's lines not taken yet (``ledger`` is advanced past them)."""
    records: list[dict[str, Any]] = []
    for path in intake_files(intake.intake_dir):
        name = escaped(path.relative_to(intake.intake_dir).as_posix())
        taken = take_file(path, name, ledger.taken.get(name, 0), now=now, settle_seconds=intake.settle_seconds)
        for record in taken:
            if "end" in record:
                ledger.taken[name] = record["end"]
        records += taken
    return records


def land_live_window(intake: LiveIntake, window_start: datetime, *, now: datetime) -> LandedWindow:
    """The lines window ``window_start`` took: read back from its landing file, or taken now (when the window
    closed at most ``max_age`` ago; else :class:`~tiktok_pipeline.ingest.land.WindowNotObservableError`)."""
    intake.root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(intake.root / ".take.lock")):
        ledger = read_ledger(intake)

        def collect(observed_at: datetime) -> Collected:
            return Collected(take_lines(intake, ledger, observed_at))

        def observe(start: datetime) -> datetime:
            return observation_instant(start, now, at_window_end=False, max_age=intake.max_age)

        landed = land(intake.landing_dir, LANDING_SOURCE, window_start, observe=observe, collect=collect)
        if landed.collected:
            ledger.landed.append(landed.path.relative_to(intake.root).as_posix())
            _write_ledger(intake, ledger)
    return landed


def pending_lines(intake: LiveIntake, now: datetime) -> list[str]:
    """Intake files (relative names) with something a take would take now: a whole line not taken yet, or the
    rest of a settled file. What the sensor launches a run for (a partial line alone launches nothing)."""
    try:
        ledger = read_ledger(intake)
    except (OSError, ValueError):
        return []
    waiting = []
    for path in intake_files(intake.intake_dir):
        name = escaped(path.relative_to(intake.intake_dir).as_posix())
        offset = ledger.taken.get(name, 0)
        try:
            stat = path.stat()
            if stat.st_size == offset:
                continue
            settled = now.timestamp() - stat.st_mtime >= intake.settle_seconds
            with open(path, "rb") as handle:
                handle.seek(offset if stat.st_size > offset else 0)
                whole = settled or b"\n" in handle.read(PEEK_BYTES)
        except OSError:
            whole = True  # a take records why it cannot be read
        if whole:
            waiting.append(name)
    return waiting


def describe(records: list[dict[str, Any]]) -> dict[str, int]:
    """Lines and files of a window's landing records."""
    return {
        "lines": sum(1 for r in records if r.get("kind") == "line"),
        "files": len({r["file"] for r in records if "file" in r}),
        "file_problems": sum(1 for r in records if r.get("kind") == "file_problem"),
    }
