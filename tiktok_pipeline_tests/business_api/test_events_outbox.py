"""The outbox protocol: exactly-once sending across re-runs, retries, timeouts, crashes and rejections."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pytest
from pydantic import SecretStr

from tiktok_pipeline.activation.conversions.hashing import hash_email, hash_phone
from tiktok_pipeline.activation.conversions.orders import load_orders
from tiktok_pipeline.activation.conversions.relay import relay_conversions
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.app import SIM_ACCESS_TOKEN
from tiktok_pipeline.simulator.business.events import SIM_PIXEL_CODE
from tiktok_pipeline.sources.business_api.client import BusinessApiClient
from tiktok_pipeline.sources.http import RetryPolicy
from tiktok_pipeline.warehouse.io import connect

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
W = timedelta(minutes=5)


class Clock:
    """The wall clock of the relay (datetime) and of the simulator (epoch seconds), moved together."""

    def __init__(self) -> None:
        self.now = T0 + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock()
        self.sim = Simulator(clock=self.clock.epoch)
        self.store = self.sim.business.events
        self.orders_dir = tmp_path / "incoming"
        self.warehouse = tmp_path / "warehouse.duckdb"
        self.transport: httpx.BaseTransport = self.sim.transport()
        self.token = SIM_ACCESS_TOKEN

    def write(self, name: str, orders: list[dict]) -> Path:
        path = self.orders_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(o) + "\n" for o in orders))
        return path

    def run(self, start=T0, end=T0 + W, **kwargs):
        with BusinessApiClient(
            "http://tiktok.test",
            access_token=SecretStr(self.token),
            transport=self.transport,
            retry=RetryPolicy(max_attempts=3, base_seconds=0.0),
            sleep=lambda _: None,
        ) as client:
            return relay_conversions(
                lambda: connect(self.warehouse),
                client,
                load_orders(self.orders_dir),
                start=start,
                end=end,
                pixel_code=SIM_PIXEL_CODE,
                clock=self.clock,
                run_id="test-run",
                **kwargs,
            )

    def outbox(self, sql: str = "SELECT * FROM conversion_outbox ORDER BY event_id"):
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def exactly_once(self, event_ids) -> bool:
        keys = {(SIM_PIXEL_CODE, "CompletePayment", e) for e in event_ids}
        return set(self.store.deliveries) == keys and all(n == 1 for n in self.store.deliveries.values())


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


def order(i: int, at: datetime = T0 + timedelta(minutes=1), **fields) -> dict:
    base = {
        "order_id": f"o-{i:05d}",
        "event_time": (at + timedelta(seconds=i % 60)).isoformat(),
        "value": 10.0 + i,
        "currency": "EUR",
        "email": f"Buyer{i}@Example.com",
        "phone": f"+1 202 555 01{i % 100:02d}",
        "ip": f"203.0.113.{i % 250 + 1}",
        "user_agent": f"Mozilla/5.0 (Agent{i})",
        "skus": [{"sku": "SKU-1", "price": 10.0, "quantity": 1}],
    }
    base.update(fields)
    return base


def test_a_window_is_sent_once_and_rerunning_it_sends_nothing(env):
    env.write("a.jsonl", [order(i) for i in range(5)] + [order(9, at=T0 + 2 * W)])
    first = env.run()
    assert (first.queued, first.requests, first.sent) == (5, 1, 5)
    again = env.run()
    assert (again.queued, again.requests, again.already_sent) == (0, 0, 5)
    assert env.exactly_once([f"o-{i:05d}" for i in range(5)]) and env.store.duplicates == 0
    rows = env.outbox()
    assert len(rows) == 5 and {r["status"] for r in rows} == {"sent"} and {r["attempts"] for r in rows} == {1}
    row = rows[0]
    assert row["email_sha256"] == hash_email("buyer0@example.com") and row["phone_sha256"] == hash_phone("+12025550100")
    assert row["request_id"] and row["sent_at"] and row["response_code"] == 0 and row["batch_id"]
    assert row["window_start"] == datetime(2026, 11, 20, 10, 0) and row["source"] == "conversions/a.jsonl:1"
    assert row["identifiers"] == ["email", "phone", "ip", "user_agent"]


def test_batches_hold_at_most_1000_events(env):
    env.write(
        "big.jsonl",
        [order(i, email=None, phone=None, ip=None, user_agent=None, external_id=f"c{i}") for i in range(2500)],
    )
    report = env.run()
    assert report.requests == 3 and [b["events"] for b in report.batches] == [1000, 1000, 500]
    assert report.sent == 2500 and len(env.store.events) == 2500 and env.store.duplicates == 0
    assert env.run().requests == 0


def test_timeout_before_processing_then_rerun_sends_exactly_once(env):
    env.write("a.jsonl", [order(i) for i in range(3)])
    env.store.timeout_next(when="before")
    first = env.run()
    assert (first.requests, first.ambiguous, first.sent) == (1, 3, 0)
    assert {r["status"] for r in env.outbox()} == {"ambiguous"} and env.store.events == []
    env.clock.now += timedelta(minutes=5)
    second = env.run()
    assert (second.requests, second.sent, second.queued) == (1, 3, 0)
    assert env.exactly_once([f"o-{i:05d}" for i in range(3)]) and env.store.duplicates == 0
    assert {(r["status"], r["attempts"]) for r in env.outbox()} == {("sent", 2)}
    assert env.run().requests == 0


def test_timeout_after_processing_resend_is_deduplicated_by_tiktok(env):
    """The documented trade-off: the resend reaches TikTok twice, TikTok keeps it once."""
    env.write("a.jsonl", [order(1)])
    env.store.timeout_next(when="after")
    assert env.run().ambiguous == 1
    env.clock.now += timedelta(hours=2)
    assert env.run().sent == 1
    assert env.store.received("o-00001") == 1 and env.store.duplicates == 1


def test_ambiguous_events_are_not_resent_when_resending_is_off(env):
    env.write("a.jsonl", [order(1)])
    env.store.timeout_next(when="after")
    env.run(resend_ambiguous_within=timedelta(0))
    report = env.run(resend_ambiguous_within=timedelta(0))
    assert report.requests == 0 and report.ambiguous_not_resent == 1
    assert env.store.received("o-00001") == 1 and env.store.duplicates == 0


def test_ambiguous_events_past_the_deduplication_window_are_left_alone(env):
    env.write("a.jsonl", [order(1, at=env.clock.now - timedelta(minutes=30))])
    start = (env.clock.now - timedelta(minutes=30)).replace(minute=30)
    env.store.timeout_next(when="after")
    assert env.run(start=start, end=start + W).ambiguous == 1
    env.clock.now += timedelta(hours=47, minutes=1)  # TikTok forgets the key at 48 h; we stop resending at 47 h
    later = env.run(start=start, end=start + W)
    assert later.requests == 0 and later.ambiguous_not_resent == 1
    assert env.store.duplicates == 0 and env.store.received("o-00001") == 1


def test_rejected_events_are_kept_with_the_reason_and_not_resent(env):
    stale = T0 - timedelta(days=8)
    env.write("a.jsonl", [order(1), order(2, at=stale)])
    for start in (T0, stale.replace(minute=0)):
        env.run(start=start, end=start + W)
    rejected = env.outbox("SELECT * FROM conversion_outbox WHERE status = 'rejected'")
    assert [r["order_id"] for r in rejected] == ["o-00002"]
    assert rejected[0]["response_code"] == 40002 and "7 days" in rejected[0]["response_message"]
    assert rejected[0]["request_id"] and rejected[0]["sent_at"] is None
    rerun = env.run(start=stale.replace(minute=0), end=stale.replace(minute=0) + W)
    assert (
        rerun.requests == 0
        and rerun.already_sent == 1
        and env.store.refused == [("o-00002", rejected[0]["response_message"])]
    )
    # after fixing the cause an operator may ask for rejected events again: TikTok processed none of them
    again = env.run(start=stale.replace(minute=0), end=stale.replace(minute=0) + W, resend_rejected=True)
    assert again.requests == 1 and again.rejected == 1 and len(env.store.refused) == 2


def test_a_crash_during_the_request_is_handled_as_ambiguous(env):
    env.write("a.jsonl", [order(1), order(2)])

    def dying(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("worker killed while the request was in flight")

    env.transport = httpx.MockTransport(dying)
    with pytest.raises(RuntimeError):
        env.run()
    assert {(r["status"], r["attempts"]) for r in env.outbox()} == {("sending", 1)}
    env.transport = env.sim.transport()
    report = env.run()
    assert report.sent == 2 and env.exactly_once(["o-00001", "o-00002"]) and env.store.duplicates == 0


def test_invalid_token_stops_sending_and_a_later_run_delivers(env):
    env.write("a.jsonl", [order(i) for i in range(5)])
    env.token = "revoked"
    report = env.run(batch_size=2)
    assert report.stopped and "40105" in report.stopped and report.requests == 1 and report.pending == 2
    assert {r["status"] for r in env.outbox()} == {"pending"} and env.store.requests == 0
    env.token = SIM_ACCESS_TOKEN
    fixed = env.run(batch_size=2)
    assert fixed.requests == 3 and fixed.sent == 5 and env.exactly_once([f"o-{i:05d}" for i in range(5)])


def test_a_run_relays_what_earlier_windows_left_over(env):
    env.write("a.jsonl", [order(1), order(2, at=T0 + W + timedelta(minutes=1))])
    env.store.timeout_next(when="before")
    assert env.run().ambiguous == 1
    next_window = env.run(start=T0 + W, end=T0 + 2 * W)
    assert next_window.requests == 1 and next_window.sent == 2 and next_window.relayed_from_other_windows == 1
    assert env.exactly_once(["o-00001", "o-00002"])


def test_test_events_never_stand_in_for_production(env):
    env.write("a.jsonl", [order(1)])
    assert env.run(test_event_code="TEST42").sent == 1
    assert len(env.store.test_events) == 1 and env.store.events == []
    assert env.run(test_event_code="TEST42").requests == 0
    assert env.run().sent == 1 and env.store.received("o-00001") == 1
    assert sorted(r["test_event_code"] for r in env.outbox()) == ["", "TEST42"]


def test_a_changed_export_is_reported_not_resent(env):
    env.write("a.jsonl", [order(1)])
    env.run()
    env.write("a.jsonl", [order(1, value=999.0)])
    report = env.run()
    assert report.requests == 0 and report.changed_after_queue == 1
    assert env.outbox()[0]["value"] == 11.0


def test_a_due_event_whose_export_disappeared_is_reported(env):
    path = env.write("a.jsonl", [order(1)])
    env.token = "revoked"
    env.run()
    path.unlink()
    env.token = SIM_ACCESS_TOKEN
    report = env.run()
    assert report.missing_source == 1 and report.requests == 0


def test_the_outbox_holds_no_raw_personal_data(env):
    orders = [order(i) for i in range(4)]
    env.write("a.jsonl", orders)
    env.run()
    text = json.dumps(env.outbox(), default=str)
    for o in orders:
        for field in ("email", "ip", "user_agent"):
            assert o[field] not in text and o[field].lower() not in text
        assert o["phone"].replace(" ", "")[-10:] not in text


def test_an_error_answer_after_a_lost_one_keeps_the_event_ambiguous(env):
    """TikTok refusing the resend says nothing about the first, unanswered request: still ambiguous."""
    env.write("a.jsonl", [order(1)])
    env.store.timeout_next(when="after")
    env.run()
    env.token = "revoked"
    report = env.run()
    assert report.stopped and report.pending == 0 and report.ambiguous == 1
    assert env.outbox()[0]["status"] == "ambiguous" and env.outbox()[0]["response_code"] == 40105
