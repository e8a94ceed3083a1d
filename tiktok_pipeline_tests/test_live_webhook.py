"""The LIVE intake's local webhook, over real HTTP: POSTed JSON lines land in the intake folder as whole lines and
are taken like dropped files; the command refuses to serve an intake that is off or not admitted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tiktok_pipeline.cli import main
from tiktok_pipeline.ingest.collect.live import LiveIntake, land_live_window
from tiktok_pipeline.ingest.collect.live_webhook import MAX_BODY_BYTES, PATH, server
from tiktok_pipeline.ingest.parse.live import parse_live_window
from tiktok_pipeline.windows import latest_closed_window
from tiktok_pipeline_tests.test_live_intake import acceptance
from tiktok_pipeline_tests.unit.test_live_events import event, line


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    intake = tmp_path / "intake"
    httpd = server(intake, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", intake
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_posted_lines_are_appended_whole_and_taken_like_dropped_files(webhook, tmp_path, capsys):
    url, intake = webhook
    first = httpx.post(
        url + PATH + "?viewer=someone", content=line(event("comment", comment="secret words")) + line(event("like"))
    )
    assert first.status_code == 202 and first.json() == {"accepted_lines": 2, "source_terms": "unofficial"}
    second = httpx.post(url + PATH, content=json.dumps(event("share")).encode())  # no final newline: one is added
    assert second.json()["accepted_lines"] == 1
    assert httpx.post(url + "/other", content=b"{}").status_code == 404
    assert httpx.get(url + PATH).status_code == 405
    assert httpx.post(url + PATH, content=b"x" * (MAX_BODY_BYTES + 1)).status_code == 413
    [written] = list((intake / "webhook").glob("*.jsonl"))
    assert written.read_bytes().endswith(b"\n") and written.read_bytes().count(b"\n") == 3
    logged = capsys.readouterr().err
    assert '"POST /live-events" 202' in logged  # method, path and status are logged; never a body or a query
    assert "secret words" not in logged and "someone" not in logged
    live = LiveIntake(intake, tmp_path / "landing", 300, timedelta(minutes=15))
    now = datetime.now(UTC)
    landed = land_live_window(live, latest_closed_window(now), now=now)
    parsed = parse_live_window(latest_closed_window(now), landed.records)
    assert parsed.events["event_type"].to_list() == ["comment", "like", "share"] and parsed.rejected.is_empty()


def test_the_command_refuses_an_intake_that_is_off_or_not_admitted(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TIKTOK_LIVE_INTAKE_DIR", raising=False)
    monkeypatch.setenv("TIKTOK_RISK_ACCEPTANCES_PATH", str(tmp_path / "none.json"))
    assert main(["live", "serve", "--port", "0"]) == 2
    assert "TIKTOK_LIVE_INTAKE_DIR" in capsys.readouterr().err
    monkeypatch.setenv("TIKTOK_LIVE_INTAKE_DIR", str(tmp_path / "intake"))
    assert main(["live", "serve", "--port", "0"]) == 2
    assert "'live_events' is unofficial" in capsys.readouterr().err
    monkeypatch.setenv("TIKTOK_RISK_ACCEPTANCES_PATH", str(acceptance(tmp_path, expires_at="2026-02-01T00:00:00Z")))
    assert main(["live", "serve", "--port", "0"]) == 2
    assert "expired" in capsys.readouterr().err
