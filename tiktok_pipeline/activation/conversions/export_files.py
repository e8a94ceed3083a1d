"""Reading the shop's export files without ever raising: each is complete, still being written, or unreadable.

**The rule.** A file is read whole or not at all: gzip files are decompressed to their end-of-stream marker
and checksum, plain files read to their end. A file *modified less than the settle time ago*
(``TIKTOK_CONVERSIONS_SETTLE_SECONDS``, 300 s, against its modification time; a time in the future counts as
just modified) whose content is not complete yet — a truncated or failing gzip stream, no newline after its
last line, a 0-byte file, an I/O error — is **still being written**: it is neither read nor quarantined, and
whoever looked (a run, the exports sensor) leaves it for a later look. Once settled, a file is read as it is:
a last line without newline is an ordinary line, and a file that still cannot be read is **unreadable**.
Problems a write in progress cannot explain make a file unreadable at once, however young: a ``.gz`` that does
not start with the gzip magic bytes, a ``.jsonl`` that does, a UTF-16 byte order mark. An unreadable file is
quarantined whole (one row: its name, size, the reason, its SHA-256 and the *shape* of its first 64 bytes —
letters shown as ``a``, digits as ``9``, other bytes as ``\\xNN`` — so no personal data is kept); its
window is that of its modification time. A UTF-8 byte order mark is tolerated (stripped).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from tiktok_pipeline.settings import ConversionSettings
from tiktok_pipeline.sources.http.decode import escaped
from tiktok_pipeline.windows import window_containing

DEFAULT_SETTLE_SECONDS: float = ConversionSettings.model_fields["conversions_settle_seconds"].default
MAX_EXPORT_BYTES = 512 * 2**20
"""Largest export read (decompressed): a bigger one is unreadable (split it); this also bounds a gzip bomb."""
HEAD_BYTES = 64
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
EXTENSIONS = (".jsonl", ".jsonl.gz")

ExportState = Literal["complete", "waiting", "unreadable"]


@dataclass(frozen=True)
class ExportRead:
    """One export file as read: its raw lines when ``complete``, else why not (``problem``)."""

    name: str
    """Path relative to the exports folder, lone surrogates (undecodable file-name bytes) escaped."""
    state: ExportState
    signature: str
    """``mtime_ns:size`` as seen before reading (the exports sensor's notion of a version)."""
    window: datetime
    """The window of the file's modification time (of the read's ``now`` when that time is absurd)."""
    size: int = 0
    lines: tuple[bytes, ...] = ()
    problem: str | None = None
    payload: str = ""
    """For an unreadable file: its quarantine payload (size, SHA-256, shape of the first bytes)."""


def order_files(directory: Path) -> list[Path]:
    """The export files under ``directory`` (recursively), in path order."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*") if p.name.endswith(EXTENSIONS) and p.is_file())


def byte_shape(data: bytes) -> str:
    """``data`` with ASCII letters shown as ``a``, digits as ``9``, other printable ASCII as is and every other
    byte (and the backslash) as ``\\xNN``: what a file starts with, without any personal data."""
    out = []
    for byte in data:
        char = chr(byte)
        if char.isascii() and char.isalpha():
            out.append("a")
        elif char.isascii() and char.isdigit():
            out.append("9")
        elif 0x20 <= byte < 0x7F and char != "\\":
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def _file_payload(path: Path, size: int) -> str:
    """The quarantine payload of an unreadable file: size, SHA-256 and the shape of its first bytes."""
    digest, head = hashlib.sha256(), b""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
            digest.update(head)
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        sha256: str | None = digest.hexdigest()
    except OSError:
        sha256 = None
    return json.dumps({"bytes": size, "sha256": sha256, "head": byte_shape(head)}, sort_keys=True)


def _gzip_problem(exc: Exception) -> str:
    """Why a gzip stream could not be read, without quoting its bytes."""
    if isinstance(exc, EOFError):
        return "truncated gzip: the data ends before its end-of-stream marker (cut short or corrupt)"
    message = str(exc)
    if message.startswith("Not a gzipped file"):  # the first member was fine: what follows it is not gzip
        return "corrupt gzip data: something that is not gzip follows the compressed data"
    return f"corrupt gzip data ({escaped(message)[:120]})"


def _content(path: Path, gz: bool) -> tuple[bytes, str | None, bool]:
    """(content, problem, definite): ``definite`` when no write in progress can explain the problem."""
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
        handle.seek(0)
        if gz and not GZIP_MAGIC.startswith(head[:2]):
            plain = head.removeprefix(UTF8_BOM).lstrip()[:1] in (b"{", b"[")
            hint = " (it looks like plain JSON lines: name it .jsonl)" if plain else ""
            return b"", f"not gzip-compressed although named .gz{hint}", True
        if not gz and head.startswith(GZIP_MAGIC):
            return b"", "gzip-compressed although named .jsonl (name it .jsonl.gz)", True
        try:
            data = gzip.GzipFile(fileobj=handle).read(MAX_EXPORT_BYTES + 1) if gz else handle.read(MAX_EXPORT_BYTES + 1)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            return b"", _gzip_problem(exc), False
    if len(data) > MAX_EXPORT_BYTES:
        return b"", f"larger than {MAX_EXPORT_BYTES} bytes{' decompressed' if gz else ''}: split the export", False
    if data.startswith(UTF16_BOMS):
        return b"", "encoded as UTF-16 (byte order mark): exports must be UTF-8", True
    return data.removeprefix(UTF8_BOM), None, False


def _modified_window(mtime: float, now: datetime) -> datetime:
    try:
        return window_containing(datetime.fromtimestamp(mtime, tz=UTC))
    except (ValueError, OverflowError, OSError):
        return window_containing(now)


def read_export(path: Path, *, name: str, now: datetime, settle_seconds: float = DEFAULT_SETTLE_SECONDS) -> ExportRead:
    """Read one export by the rule above; never raises. ``name``: its path relative to the exports folder."""
    name = escaped(name)
    try:
        stat = path.stat()
    except OSError as exc:
        why = (
            "vanished while being read"
            if isinstance(exc, FileNotFoundError)
            else f"cannot be examined ({type(exc).__name__})"
        )
        return ExportRead(name, "waiting", "", window_containing(now), problem=why)
    signature, window = f"{stat.st_mtime_ns}:{stat.st_size}", _modified_window(stat.st_mtime, now)
    young = now.timestamp() - stat.st_mtime < settle_seconds
    gz = path.name.endswith(".gz")
    try:
        data, problem, definite = _content(path, gz)
    except FileNotFoundError:
        return ExportRead(name, "waiting", signature, window, stat.st_size, problem="vanished while being read")
    except OSError as exc:
        data, problem, definite = b"", f"cannot be read ({type(exc).__name__}: {escaped(exc.strerror or '')})", False
    except Exception as exc:  # anything else the bytes provoke: the file is unreadable, never a crash
        data, problem, definite = b"", f"cannot be read ({type(exc).__name__})", False
    if problem is None and young and (stat.st_size == 0 or (not gz and not data.endswith(b"\n"))):
        problem = "is empty" if stat.st_size == 0 else "has no newline after its last line yet"
    elif problem is None:
        lines = data.split(b"\n")
        return ExportRead(
            name, "complete", signature, window, stat.st_size, tuple(lines[:-1] if lines[-1] == b"" else lines)
        )
    if young and not definite:
        return ExportRead(name, "waiting", signature, window, stat.st_size, problem=problem)
    payload = _file_payload(path, stat.st_size)
    return ExportRead(name, "unreadable", signature, window, stat.st_size, problem=problem, payload=payload)
