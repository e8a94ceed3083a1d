"""The HTTP layer (tiktok_pipeline.sources.http): Retry-After, retries on tenacity, limiter, as-of hook, redaction."""

from __future__ import annotations

import logging
import random
import socket
import struct
import threading
import time
from datetime import UTC, datetime
from email.utils import formatdate

import httpx
import pytest

from tiktok_pipeline.simulator.asof import AS_OF_HEADER
from tiktok_pipeline.sources.http import (
    SIMULATOR_HOOKS,
    HttpSession,
    RetryPolicy,
    SlidingWindowLimiter,
    parse_retry_after,
    retry_after_seconds,
)

NOW = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC
AS_OF = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)


def http_date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


# --- Retry-After -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), ("0", 0.0), (" 7 ", 7.0), ("1.5", 1.5)])
def test_retry_after_delta_seconds(value, seconds):
    assert parse_retry_after(value, now=NOW, cap=600) == seconds


def test_retry_after_http_date_in_the_future_counts_from_now():
    assert parse_retry_after(http_date(NOW + 90), now=NOW, cap=600) == pytest.approx(90)
    # the other two forms RFC 9110 asks recipients to accept
    assert parse_retry_after("Wednesday, 18-Nov-26 11:08:10 GMT", now=NOW, cap=600) == pytest.approx(90)
    assert parse_retry_after("Wed Nov 18 11:08:10 2026", now=NOW, cap=600) == pytest.approx(90)


@pytest.mark.parametrize("value", [http_date(NOW - 30), http_date(NOW)])
def test_retry_after_http_date_in_the_past_falls_back(value):
    assert parse_retry_after(value, now=NOW, cap=600) is None


def test_retry_after_is_capped():
    assert parse_retry_after("3600", now=NOW, cap=60) == 60
    assert parse_retry_after(http_date(NOW + 3600), now=NOW, cap=60) == 60


@pytest.mark.parametrize("value", [None, "", "  ", "soon", "-5", "nan", "inf", "12 seconds", "Wed, 99 Foo 2026"])
def test_retry_after_garbage_or_negative_falls_back(value):
    assert parse_retry_after(value, now=NOW, cap=600) is None


def test_retry_after_date_counts_from_the_servers_date_header():
    """A skewed client clock does not matter when the server says what time it is."""
    response = httpx.Response(503, headers={"Retry-After": http_date(NOW + 20), "Date": http_date(NOW)})
    assert retry_after_seconds(response, now=NOW + 1000, cap=600) == pytest.approx(20)
    no_date = httpx.Response(503, headers={"Retry-After": http_date(NOW + 20)})
    assert retry_after_seconds(no_date, now=NOW + 5, cap=600) == pytest.approx(15)
    assert retry_after_seconds(httpx.Response(503), now=NOW, cap=600) is None


# --- Retries ---------------------------------------------------------------------------------------
class Script:
    """A mock transport answering with the queued replies (the last repeats); records every request."""

    def __init__(self, *replies: httpx.Response | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply


def session(script: Script, sleeps: list[float], **options) -> HttpSession:
    retry = RetryPolicy(
        **{"max_attempts": 4, "base_seconds": 0.1, "cap_seconds": 1.0, "rng": random.Random(3)} | options
    )
    return HttpSession(
        "http://api.test",
        retry=retry,
        transport=httpx.MockTransport(script),
        sleep=sleeps.append,
        wall_clock=lambda: NOW,
    )


def test_retry_after_is_the_wait_when_sent_else_full_jitter_backoff():
    script = Script(
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(503, headers={"Retry-After": "soon"}),
        httpx.Response(503),
        httpx.Response(200, json={"ok": True}),
    )
    sleeps: list[float] = []
    with session(script, sleeps) as http:
        exchange = http.request("GET", "/x")
    assert [a.status for a in exchange.attempts] == [429, 503, 503, 200]
    assert exchange.answered and not exchange.exhausted and exchange.response.json() == {"ok": True}
    assert sleeps[0] == 2.0
    assert 0 <= sleeps[1] <= 0.2 and 0 <= sleeps[2] <= 0.4  # full jitter under base·2^(n-1)


def test_retry_after_above_the_cap_waits_the_cap():
    script = Script(httpx.Response(429, headers={"Retry-After": "100"}), httpx.Response(200))
    sleeps: list[float] = []
    with session(script, sleeps, retry_after_cap_seconds=5.0, max_retry_seconds=120.0) as http:
        assert http.request("GET", "/x").answered
    assert sleeps == [5.0]


@pytest.mark.parametrize("retry_after", ["86400", http_date(NOW + 86400)])
def test_retry_after_beyond_the_retry_budget_ends_the_call_at_once(retry_after):
    script = Script(httpx.Response(429, headers={"Retry-After": retry_after}), httpx.Response(200))
    sleeps: list[float] = []
    with session(script, sleeps, retry_after_cap_seconds=60.0, max_retry_seconds=120.0) as http:
        exchange = http.request("GET", "/x")
    assert sleeps == [] and len(script.requests) == 1  # neither a day nor 4 × the 60 s cap
    assert exchange.exhausted and exchange.stop == "retry_budget" and exchange.last.retry_after == pytest.approx(86400)
    assert exchange.gave_up.startswith("gave up after 1 attempt: Retry-After 86400 s would pass the 120 s retry budget")


def test_the_retry_budget_counts_waits_and_attempts_and_a_caller_may_pass_what_is_left():
    sleeps: list[float] = []
    with session(Script(httpx.Response(503, headers={"Retry-After": "30"})), sleeps, max_attempts=10) as http:
        exchange = http.request("GET", "/x", retry_seconds=100.0)
    assert sleeps == [30.0, 30.0, 30.0] and exchange.stop == "retry_budget"  # a fourth wait would reach 120 s
    assert exchange.seconds == pytest.approx(90.0, abs=1.0) and exchange.budget_seconds == 100.0
    with session(Script(httpx.Response(503)), sleeps := [], max_attempts=3) as http:
        assert http.request("GET", "/x").stop == "attempts"  # attempts ran out first


def test_invalid_retry_budget():
    with pytest.raises(ValueError, match="max_retry_seconds"):
        RetryPolicy(max_retry_seconds=-1)


def test_retries_exhausted_and_what_the_caller_declares_final():
    sleeps: list[float] = []
    with session(Script(httpx.Response(502)), sleeps, max_attempts=3) as http:
        exchange = http.request("GET", "/x")
    assert len(exchange.attempts) == 3 and exchange.exhausted and len(sleeps) == 2

    # the caller's classifier decides: a 200 carrying a retryable envelope code is retried, a 404 is final
    script = Script(httpx.Response(200, json={"code": 40100}), httpx.Response(200, json={"code": 0}))
    with session(script, []) as http:
        exchange = http.request("GET", "/x", retryable=lambda r: r.json()["code"] == 40100)
    assert [a.response.json()["code"] for a in exchange.attempts] == [40100, 0]
    with session(Script(httpx.Response(404)), sleeps := []) as http:
        exchange = http.request("GET", "/x")
    assert len(exchange.attempts) == 1 and not exchange.exhausted and sleeps == []


def test_timeouts_are_resent_only_when_idempotent():
    timeout = httpx.ReadTimeout("lost")
    with session(Script(timeout, httpx.Response(200)), []) as http:
        exchange = http.request("GET", "/x")
    assert [a.describe() for a in exchange.attempts] == ["timeout", "HTTP 200"]

    script = Script(timeout, httpx.Response(200))
    sleeps: list[float] = []
    with session(script, sleeps) as http:
        exchange = http.request("POST", "/send", json={"e": 1}, idempotent=False)
    assert len(script.requests) == 1 and sleeps == []
    assert not exchange.answered and not exchange.exhausted and exchange.last.timed_out  # ambiguous: not resent

    with session(Script(httpx.ConnectError("refused")), []) as http:
        exchange = http.request("GET", "/x", max_attempts=2)
    assert [a.describe() for a in exchange.attempts] == ["transport error (ConnectError)"] * 2 and exchange.exhausted


def test_on_attempt_and_on_retry_see_every_attempt():
    seen, retries, sleeps = [], [], []
    with session(Script(httpx.Response(500), httpx.Response(200)), sleeps) as http:
        http.request(
            "GET",
            "/x",
            on_attempt=lambda a: seen.append((a.number, a.status, a.retryable)),
            on_retry=lambda a, delay: retries.append((a.number, delay)),
        )
    assert seen == [(1, 500, True), (2, 200, False)] and retries == [(1, sleeps[0])]


def test_invalid_max_attempts():
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


# --- Limiter ---------------------------------------------------------------------------------------
def test_limiter_is_applied_to_every_attempt_per_key():
    now, waits = [0.0], []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = SlidingWindowLimiter(2, 60, clock=lambda: now[0], sleep=sleep)
    script = Script(httpx.Response(503, headers={"Retry-After": "0"}), httpx.Response(200))
    with HttpSession("http://api.test", limiter=limiter, transport=httpx.MockTransport(script), sleep=sleep) as http:
        http.request("GET", "/a", limit_key="a")  # two attempts: the 503 and the 200
        assert waits == [0.0]  # Retry-After: 0, and two slots free
        http.request("GET", "/b", limit_key="b")  # another endpoint has its own slots
        http.request("GET", "/oauth")  # no key: not limited
        http.request("GET", "/a", limit_key="a")
    assert waits == [0.0, 60.0]  # the third request to "a" waited for a slot
    assert len(script.requests) == 5


# --- As-of hook ------------------------------------------------------------------------------------
def test_as_of_header_only_when_the_hook_is_installed():
    script = Script(httpx.Response(200))
    transport = httpx.MockTransport(script)
    with HttpSession("http://sim.test", transport=transport, request_hooks=SIMULATOR_HOOKS) as simulator:
        simulator.request("GET", "/x", as_of=AS_OF)
        simulator.request("GET", "/x")  # no as-of: no header
    with HttpSession("http://real.test", transport=transport) as real:
        real.request("GET", "/x", as_of=AS_OF)
    first, without, real_host = (r.headers.get(AS_OF_HEADER) for r in script.requests)
    assert first == repr(AS_OF.timestamp()) and without is None and real_host is None


def test_resources_install_the_hook_only_for_a_simulator(tmp_path, monkeypatch):
    from tiktok_pipeline.defs.resources import BusinessApiResource, DisplayApiResource
    from tiktok_pipeline.settings import Settings

    monkeypatch.setenv("TIKTOK_CLIENT_SECRET", "not-a-secret")
    monkeypatch.setenv("TIKTOK_BUSINESS_ACCESS_TOKEN", "not-a-token")
    embedded = Settings(token_store_path=tmp_path / "t.json", landing_dir=tmp_path)
    real = embedded.replace(
        display__api_base_url="https://open.tiktokapis.com",
        ads__business_api_base_url="https://business-api.tiktok.com",
    )
    resources = [
        (DisplayApiResource.from_settings(real), False),
        (DisplayApiResource.from_settings(embedded), True),  # the embedded simulator
        (BusinessApiResource.from_settings(real), False),
        (BusinessApiResource.from_settings(embedded), True),
    ]
    for resource, simulator in resources:
        with resource.client() as client:
            assert client.request_hooks == (list(SIMULATOR_HOOKS) if simulator else [])
        assert resource.observe_at_window_end is simulator


# --- Secrets ---------------------------------------------------------------------------------------
def test_secrets_never_reach_logs_or_error_text(caplog):
    caplog.set_level(logging.DEBUG)
    url = "https://hooks.example.com/services/T0/B0/hook-secret?sig=query-secret"
    script = Script(httpx.Response(503, text=f"cannot post to {url}"), httpx.ConnectError("refused"))
    with HttpSession(
        transport=httpx.MockTransport(script),
        secrets=[url, "/services/T0/B0/hook-secret?sig=query-secret", "token-secret"],
        sleep=lambda _: None,
        retry=RetryPolicy(max_attempts=2),
    ) as http:
        exchange = http.request("POST", url, json={}, headers={"Authorization": "Bearer token-secret"})
        text = http.redact(exchange.attempts[0].response.text)
        assert logging.getLogger("httpx").filters
    assert text == "cannot post to [redacted]"
    assert "HTTP Request: POST [redacted]" in caplog.text  # httpx's own line, redacted
    for secret in ("hook-secret", "query-secret", "token-secret"):
        assert secret not in caplog.text + text
    assert not logging.getLogger("httpx").filters  # removed on close


# --- No answer: timeouts and dropped connections ---------------------------------------------------------
class SilentServer:
    """A loopback TCP server that reads each request, then does ``what``: drop the connection, reset it, or
    answer garbage. Nothing is ever answered properly."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)  # the whole (small) request was sent
                if self.what == "reset":
                    time.sleep(0.1)  # the client is waiting for the answer
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif self.what == "garbage":
                    conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(
    ("what", "described"),
    [
        ("drop", "timeout (RemoteProtocolError: connection dropped without an answer)"),
        ("reset", "timeout (ReadError: connection dropped without an answer)"),
        ("garbage", "transport error (RemoteProtocolError)"),
    ],
)
def test_a_connection_dropped_after_the_request_was_sent_is_a_timeout(what, described):
    server = SilentServer(what)
    try:
        with HttpSession(server.url, retry=RetryPolicy(max_attempts=1), timeout_seconds=5.0) as http:
            exchange = http.request("POST", "/x", json={"a": 1})
    finally:
        server.close()
    assert not exchange.answered and exchange.last.timed_out is (what != "garbage")
    assert exchange.last.describe() == described


def test_nothing_sent_is_a_transport_error_not_a_timeout():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: connections are refused
    with HttpSession(f"http://127.0.0.1:{port}", retry=RetryPolicy(max_attempts=1)) as http:
        exchange = http.request("GET", "/x")
    assert not exchange.last.timed_out and exchange.last.describe() == "transport error (ConnectError)"
