"""The merchandising webhook's ledger: which states are pushed again, and an unanswered push is never resent."""

import random

import duckdb

from tiktok_pipeline.activation.merchandising import ledger
from tiktok_pipeline.activation.merchandising.webhook import FeedPusher
from tiktok_pipeline.sources.http import RetryPolicy
from tiktok_pipeline_tests.alerts.webhook_server import Reply, WebhookServer
from tiktok_pipeline_tests.alerts.webhook_server import server as server  # the fixture
from tiktok_pipeline_tests.conftest import T0

VERSION = "2026-11-20-10:00-0123456789abcdef"


def _finish(connection, row, *, delivered, answered):
    return ledger.finish(
        connection, row, delivered=delivered, answered=answered, attempts=1, http_status=None, error=None
    )


def test_only_a_failed_push_is_pushed_again():
    connection = duckdb.connect()
    row = ledger.begin(connection, VERSION, T0, "run-1")
    assert row is not None and row["status"] == "sending"
    assert ledger.begin(connection, VERSION, T0, "run-2") is None  # in flight, or its process died: maybe received
    assert _finish(connection, row, delivered=False, answered=True) == "failed"
    again = ledger.begin(connection, VERSION, T0, "run-3")
    assert again is not None and again["attempts"] == 1 and again["first_attempt_at"] == row["first_attempt_at"]
    assert _finish(connection, again, delivered=True, answered=True) == "delivered"
    assert ledger.begin(connection, VERSION, T0, "run-4") is None
    assert ledger.delivery(connection, VERSION)["attempts"] == 2
    other = ledger.begin(connection, VERSION.replace("0123", "9999"), T0, "run-5")
    assert other is not None and _finish(connection, other, delivered=False, answered=False) == "ambiguous"
    assert ledger.begin(connection, other["feed_version"], T0, "run-6") is None


def test_a_push_that_is_never_answered_is_not_delivered_nor_answered(server: WebhookServer):
    path = "/slow/hook-secret"
    server.script(path, Reply(200, "ok", delay=1.0))
    retry = RetryPolicy(max_attempts=2, base_seconds=0.01, cap_seconds=0.01, rng=random.Random(1))
    with FeedPusher(server.url(path), "key", retry=retry, timeout_seconds=0.2) as pusher:
        result = pusher.push(b'{"items":[]}', VERSION)
    assert (result.delivered, result.answered, result.attempts) == (False, False, 2)
    assert result.error is not None and "hook-secret" not in result.error
