"""The merchandising feed's files (atomic replacement, never an older window over a newer one) and its signature."""

import csv
import io
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_pipeline.activation.merchandising import files
from tiktok_pipeline.activation.merchandising.files import CSV_NAME, JSON_NAME, Feed, publish
from tiktok_pipeline.activation.merchandising.webhook import parse_signature, signature, verify_signature
from tiktok_pipeline.metrics.merchandising import FEED_FIELDS, feed_version
from tiktok_pipeline_tests.conftest import T0

ITEMS = [
    {"rank": 1, "sku": "SKU-A", "creator_momentum": 6.0, "momentum": 6.0, "mean_momentum": 4.0, "views_per_minute": 80.0, "promoting_videos": 2,
     "creator_videos": 1, "top_video_id": "300", "creator_username": "cozy_traveler_3"},
    {"rank": 2, "sku": "SKU-B,\"quoted\"", "creator_momentum": None, "momentum": 4.0, "mean_momentum": 4.0, "views_per_minute": 50.0,
     "promoting_videos": 1, "creator_videos": 0, "top_video_id": "200", "creator_username": None},
]  # fmt: skip


def feed(start=T0, items=ITEMS) -> Feed:
    return Feed(feed_version(start, items), start, items)


def test_files_are_valid_json_and_csv_with_the_version(tmp_path):
    assert publish(tmp_path, feed()).outcome == "published"
    document = json.loads((tmp_path / JSON_NAME).read_text())
    assert document["feed_version"] == feed().version and document["window_start"] == "2026-11-20T10:00:00Z"
    assert document["items"] == ITEMS
    rows = list(csv.DictReader(io.StringIO((tmp_path / CSV_NAME).read_text())))
    assert list(rows[0]) == ["feed_version", "window_start", *FEED_FIELDS]
    assert [r["sku"] for r in rows] == ["SKU-A", 'SKU-B,"quoted"'] and rows[1]["creator_username"] == ""
    assert {r["feed_version"] for r in rows} == {feed().version}
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".merch")) == [CSV_NAME, JSON_NAME]


def test_a_newer_window_replaces_an_older_one_never_the_reverse(tmp_path):
    newer = feed(T0 + timedelta(minutes=5), ITEMS[:1])
    assert publish(tmp_path, feed()).outcome == "published"
    assert publish(tmp_path, feed()).outcome == "unchanged"
    assert publish(tmp_path, newer).outcome == "published"
    before = (tmp_path / JSON_NAME).read_bytes(), (tmp_path / CSV_NAME).read_bytes()
    kept = publish(tmp_path, feed())  # a backfill of the older window
    assert (kept.outcome, kept.current_version) == ("kept_newer", newer.version)
    assert ((tmp_path / JSON_NAME).read_bytes(), (tmp_path / CSV_NAME).read_bytes()) == before


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary(tmp_path, monkeypatch):
    publish(tmp_path, feed())
    before = (tmp_path / JSON_NAME).read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        publish(tmp_path, feed(T0 + timedelta(minutes=5)))
    assert (tmp_path / JSON_NAME).read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_replacement_is_a_rename_of_a_complete_file(tmp_path, monkeypatch):
    seen = []
    real = os.replace

    def watching(src, dst):
        seen.append((json.loads(Path(src).read_text()) if str(dst).endswith(".json") else None, str(dst)))
        real(src, dst)

    monkeypatch.setattr(files.os, "replace", watching)
    publish(tmp_path, feed())
    assert [d.rsplit("/", 1)[1] for _, d in seen] == [CSV_NAME, JSON_NAME]  # the JSON, the version marker, last
    assert seen[1][0]["items"] == ITEMS


def test_the_signature_is_hmac_sha256_of_t_dot_body():
    import hashlib
    import hmac

    header = signature("k3y", b'{"a":1}', 1_764_000_000)
    expected = hmac.new(b"k3y", b'1764000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1764000000,v1={expected}"
    assert verify_signature("k3y", b'{"a":1}', header, now=1_764_000_100)
    assert not verify_signature("other", b'{"a":1}', header, now=1_764_000_100)
    assert not verify_signature("k3y", b'{"a":2}', header, now=1_764_000_100)
    assert not verify_signature("k3y", b'{"a":1}', header, now=1_764_000_000 + 301)  # stale


@given(st.text(max_size=120))
def test_a_malformed_signature_header_is_refused_naming_the_header(header):
    try:
        timestamp, digest = parse_signature(header)
    except ValueError as error:
        assert "X-Tiktok-Pipeline-Signature" in str(error)
        assert not verify_signature("k", b"body", header, now=0)
    else:
        assert len(digest) == 64 and timestamp >= 0


@given(st.binary(max_size=200), st.integers(min_value=0, max_value=10**10), st.text(min_size=1, max_size=30))
def test_every_signature_parses_and_verifies(body, timestamp, secret):
    header = signature(secret, body, timestamp)
    assert parse_signature(header)[0] == timestamp
    assert verify_signature(secret, body, header, now=timestamp)
