"""Hostile Display API answers over real HTTP (a served simulator with some answers replaced).

Bodies that cannot be decoded (too deep, not UTF-8, not JSON) become failed calls landed with the
raw body and a reason, never an exception out of the client; endless ``has_more`` pagination stops
and says why (issue 11, items 1 and 4).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tiktok_pipeline.ingest.collect import display as collect
from tiktok_pipeline.ingest.landing import read_landing, write_landing
from tiktok_pipeline.ingest.parse.display import parse_landed
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.world import WorldConfig
from tiktok_pipeline.sources.display_api.client import TikTokApiError
from tiktok_pipeline.sources.display_api.models import VIDEO_FIELDS
from tiktok_pipeline.sources.http.decode import MAX_UNDECODABLE_BODY_BYTES
from tiktok_pipeline_tests.display_api.test_client_http import make_client

AS_OF = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)
WINDOW = AS_OF - timedelta(minutes=5)
HORIZON = timedelta(days=7)

# (request body, page number) -> the raw answer body, or None to let the simulator answer
Craft = Callable[[dict, int], bytes | None]


class Crafted(Simulator):
    """The seeded simulator, except ``video/list`` of ``target``, answered by ``craft``."""

    def __init__(self, craft: Craft, target: str | None = None) -> None:
        super().__init__(WorldConfig(seed=7))
        self.craft, self.target, self.pages = craft, target, 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.rstrip("/") == "/v2/video/list":
            creator, _ = self._authenticate(request)
            if self.target in (None, creator.username):
                self.pages += 1
                body = self.craft(json.loads(request.content or b"{}"), self.pages)
                if body is not None:
                    return httpx.Response(200, content=body, headers={"content-type": "application/json"})
        return super().handle(request)


def envelope(data: dict) -> bytes:
    return json.dumps({"data": data, "error": {"code": "ok", "message": "", "log_id": "LOG1"}}).encode()


def nested(depth: int) -> bytes:
    return b'{"data": {"videos": ' + b"[" * depth + b"]" * depth + b'}, "error": {"code": "ok", "log_id": "x"}}'


UNDECODABLE = {
    "nested 200,000 deep": (nested(200_000), "nested too deeply"),
    "nested 100 deep": (nested(100), "nested deeper than 64 levels"),
    "invalid UTF-8": (b'{"data": {"videos": []}, "error": {"code": "ok", "message": "\xff\xfe"}}', "not valid UTF-8"),
    "truncated JSON": (b'{"data": {"videos": [{"id": "1"', "not JSON"),
    "integer of 5,000 digits": (b'{"data": {"cursor": ' + b"9" * 5000 + b"}}", "not JSON"),
}


@pytest.fixture
def usernames():
    return [c.username for c in Simulator(WorldConfig(seed=7)).world.creators()[:2]]


@pytest.mark.parametrize("case", UNDECODABLE)
def test_an_undecodable_body_is_a_failed_call_with_its_raw_bytes(tmp_path, case):
    raw, reason = UNDECODABLE[case]
    sim = Crafted(lambda body, page: raw)
    username = sim.world.creators()[0].username
    with serve_in_thread(sim) as url, make_client(url, tmp_path) as client, pytest.raises(TikTokApiError) as caught:
        client.call(username, "video/list", fields=VIDEO_FIELDS, body={"max_count": 20}, as_of=AS_OF)
    call = caught.value.call
    assert call is not None and call.status == 200
    assert reason in call.body_error and reason in call.error and "undecodable body" in str(caught.value)
    assert call.body_bytes == len(raw)
    assert isinstance(call.payload, str) and len(call.payload) <= MAX_UNDECODABLE_BODY_BYTES + 100
    assert call.payload.encode("utf-8")[:1000] == raw[:1000].decode("utf-8", "backslashreplace").encode()[:1000]
    record = {"window_start": WINDOW.isoformat(), "observed_at": AS_OF.isoformat(), **call.to_record()}
    path = tmp_path / "w.jsonl.gz"
    write_landing(path, [record])
    (landed,) = read_landing(path)
    assert landed["body_error"] == call.body_error
    parsed = parse_landed([landed], "w.jsonl.gz", asset="raw_video_snapshots")
    assert parsed.failed_calls == 1 and parsed.videos.height == 0 and parsed.quarantine.height == 0


def test_a_deeply_nested_answer_costs_only_its_creator(tmp_path, usernames):
    sim = Crafted(lambda body, page: nested(200_000), target=usernames[0])
    with serve_in_thread(sim) as url, make_client(url, tmp_path) as client:
        collection = collect.collect_window(client, usernames, WINDOW, AS_OF, HORIZON)
    assert set(collection.failures) == {usernames[0]} and "nested too deeply" in collection.failures[usernames[0]]
    records = collection.records()
    write_landing(tmp_path / "w.jsonl.gz", records)
    parsed = parse_landed(read_landing(tmp_path / "w.jsonl.gz"), "w.jsonl.gz", asset="raw_video_snapshots")
    assert parsed.failed_calls == 1
    assert set(parsed.videos["creator_username"]) == {usernames[1]} and parsed.videos.height > 0


# --- item 4: pagination is bounded without a plan --------------------------------------------------------------


def empty_pages_cursor(step: int) -> Craft:
    """Empty pages, ``has_more`` for ever, the cursor moving by ``step`` ms each page."""

    def craft(body: dict, page: int) -> bytes:
        cursor = body.get("cursor", int(AS_OF.timestamp() * 1000))
        return envelope({"videos": [], "cursor": cursor + step, "has_more": True})

    return craft


def same_recent_video(body: dict, page: int) -> bytes:
    """A full page of recent videos every time, the cursor moving back 1 ms a page: never reaches the horizon."""
    cursor = body.get("cursor", int(AS_OF.timestamp() * 1000))
    created = int(AS_OF.timestamp()) - 60
    video = {"create_time": created, "view_count": 1, "like_count": 0, "comment_count": 0, "share_count": 0}
    videos = [{**video, "id": str(10_000 + page * 20 + i)} for i in range(20)]
    return envelope({"videos": videos, "cursor": cursor - 1, "has_more": True})


@pytest.mark.parametrize(
    ("craft", "stop", "pages"),
    [
        (empty_pages_cursor(-1), collect.EMPTY_PAGES, collect.MAX_EMPTY_PAGES),
        (empty_pages_cursor(+1000), collect.CURSOR_NOT_OLDER, 2),
        (empty_pages_cursor(0), collect.CURSOR_NOT_OLDER, 2),
        (lambda body, page: envelope({"videos": [], "has_more": True}), collect.NO_CURSOR, 1),
        (same_recent_video, collect.PAGE_CAP, 30),
    ],
    ids=["empty-pages-moving-back", "cursor-moving-forward", "cursor-standing-still", "no-cursor", "page-cap"],
)
def test_endless_pagination_stops_and_says_why(tmp_path, usernames, craft, stop, pages):
    sim = Crafted(craft, target=usernames[0])
    with serve_in_thread(sim) as url, make_client(url, tmp_path) as client:
        collection = collect.collect_window(client, usernames, WINDOW, AS_OF, HORIZON, plan=None, max_pages=30)
    assert sim.pages == pages
    assert collection.truncated == {usernames[0]: f"video/list pagination stopped: {stop}"}
    assert not collection.failures
    stops = {(r["username"], r["pagination_stop"]) for r in collection.records() if "pagination_stop" in r}
    assert stops == {(usernames[0], stop), (usernames[1], collect.HORIZON)} or stops == {
        (usernames[0], stop),
        (usernames[1], collect.END_OF_LIST),
    }
    last = [r for r in collection.records() if r["username"] == usernames[0] and r["endpoint"] == "video/list"]
    assert len(last) == pages and last[-1]["pagination_stop"] == stop
    assert all("pagination_stop" not in r for r in last[:-1])


def test_empty_pages_are_bounded_with_the_default_caps(tmp_path, usernames):
    sim = Crafted(empty_pages_cursor(-1), target=usernames[0])
    with serve_in_thread(sim) as url, make_client(url, tmp_path) as client:
        collection = collect.collect_window(client, usernames[:1], WINDOW, AS_OF, HORIZON)
    assert sim.pages == collect.MAX_EMPTY_PAGES
    assert collection.records()[-1]["pagination_stop"] == collect.EMPTY_PAGES


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps({"data": {}, "error": {"code": "invalid_params", "message": "bad \ud800", "log_id": "L\udfff"}}),
        '{"data": {}, "error": {"code": "ok", "message": "bad \\ud800", "log_id": "L\\udfff"}, "x": ',
    ],
    ids=["error-envelope", "undecodable"],
)
def test_lone_surrogates_in_an_answer_never_reach_messages_unescaped(tmp_path, raw):
    sim = Crafted(lambda body, page: raw.encode())
    username = sim.world.creators()[0].username
    with serve_in_thread(sim) as url, make_client(url, tmp_path) as client, pytest.raises(TikTokApiError) as caught:
        client.call(username, "video/list", fields=VIDEO_FIELDS, body={"max_count": 20}, as_of=AS_OF)
    str(caught.value).encode("utf-8")  # loggable, storable as Dagster metadata and in the warehouse
    call = caught.value.call
    call.error.encode("utf-8")
    if "invalid_params" in raw:
        assert call.log_id == "L\\udfff" and "bad \\ud800" in call.error
