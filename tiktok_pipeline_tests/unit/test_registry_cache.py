"""The tracking registry is validated once per process and content: an edit is read again (even with the same
modification time and size), and still validated."""

import json
import os
from pathlib import Path

import pytest

from tiktok_pipeline.ingest.registry import load_registry


def _write(path: Path, creators: list[dict], mtime_ns: int) -> None:
    path.write_text(json.dumps({"creators": creators}))
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_an_unchanged_file_is_not_validated_again_and_an_edit_is(tmp_path: Path):
    path = tmp_path / "tracking_registry.json"
    _write(path, [{"username": "alice", "campaign_ids": ["c1"]}], 1_000_000_000_000_000_000)
    first = load_registry(path)
    assert load_registry(path) is first  # the same validated registry (frozen, so shared safely)
    assert first.to_frame() is load_registry(path).to_frame()
    with pytest.raises(ValueError):  # frozen: no caller can change the shared registry
        first.creators = []  # type: ignore[misc]

    _write(path, [{"username": "alice"}, {"username": "bob", "audience_tags": ["t"]}], 1_000_000_000_000_000_001)
    edited = load_registry(path)
    assert edited.usernames == ["alice", "bob"]
    assert edited.to_frame()["audience_tags"].to_list() == [[], ["t"]]

    _write(path, [{"username": "alice"}, {"username": "alice"}], 1_000_000_000_000_000_002)
    with pytest.raises(ValueError, match="listed twice"):
        load_registry(path)

    # the same size and modification time as the first version, another creator: still read again
    _write(path, [{"username": "carol", "campaign_ids": ["c1"]}], 1_000_000_000_000_000_000)
    assert load_registry(path).usernames == ["carol"]
