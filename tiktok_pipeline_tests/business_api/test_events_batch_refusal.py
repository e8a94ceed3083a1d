"""One bad event in a batch: TikTok may refuse the whole request (code 40002, nothing processed), or list it.

Over real HTTP against the served simulator: the relay isolates the bad events by splitting refused batches
(each half resent: TikTok processed nothing of a refused request, so a resend is still the first delivery),
every good event arrives exactly once (the simulator's delivery counter), and only the bad ones end
``rejected`` with TikTok's reason.
"""

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pytest
from pydantic import SecretStr

from tiktok_pipeline.activation.conversions.orders import load_orders
from tiktok_pipeline.activation.conversions.relay import relay_conversions
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.app import SIM_ACCESS_TOKEN
from tiktok_pipeline.simulator.business.events import SIM_EVENT_SETS, SIM_PIXEL_CODE
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.sources.business_api.client import BusinessApiClient
from tiktok_pipeline.sources.http import RetryPolicy
from tiktok_pipeline.warehouse.io import connect

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
W = timedelta(minutes=5)
NOW = (T0 + timedelta(hours=1)).timestamp()


def orders(n: int) -> list[dict]:
    return [
        {
            "order_id": f"o-{i:05d}",
            "event_time": (T0 + timedelta(seconds=i * 0.25)).isoformat(),
            "value": 10.0,
            "currency": "USD",
            "email": f"c{i}@example.com",
        }
        for i in range(n)
    ]


class Served:
    def __init__(self, tmp_path: Path, base_url: str, sim: Simulator) -> None:
        self.sim, self.base_url, self.store = sim, base_url, sim.business.events
        self.orders_dir = tmp_path / "incoming"
        self.warehouse = tmp_path / "warehouse.duckdb"

    def write(self, records: list[dict]) -> None:
        self.orders_dir.mkdir(parents=True, exist_ok=True)
        (self.orders_dir / "orders.jsonl").write_text("".join(json.dumps(o) + "\n" for o in records))

    def run(self, **kwargs):
        with BusinessApiClient(
            self.base_url,
            access_token=SecretStr(SIM_ACCESS_TOKEN),
            retry=RetryPolicy(max_attempts=3, base_seconds=0.0),
            timeout_seconds=5.0,
            sleep=lambda _: None,
        ) as client:
            return relay_conversions(
                lambda: connect(self.warehouse),
                client,
                load_orders(self.orders_dir),
                start=T0,
                end=T0 + W,
                pixel_code=SIM_PIXEL_CODE,
                clock=lambda: datetime.fromtimestamp(NOW, UTC),
                run_id="test-run",
                **kwargs,
            )

    def statuses(self) -> dict[str, tuple[str, int | None, str | None]]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            rows = con.execute("SELECT event_id, status, response_code, response_message FROM conversion_outbox")
            return {event_id: (status, code, message) for event_id, status, code, message in rows.fetchall()}


@pytest.fixture
def served(tmp_path):
    sim = Simulator(clock=lambda: NOW)
    with serve_in_thread(sim, timeout_seconds=0.5) as base_url:
        yield Served(tmp_path, base_url, sim)


def test_the_simulator_refuses_the_whole_request_by_default_and_processes_nothing(served):
    served.store.invalid_event_ids = {"o-00001"}
    good = {"event": "CompletePayment", "event_id": "o-00000", "event_time": int(NOW) - 60}
    bad = {**good, "event_id": "o-00001"}
    with httpx.Client(base_url=served.base_url) as http:
        answer = http.post(
            "/open_api/v1.3/event/track/",
            json={"event_source": "web", "event_source_id": SIM_PIXEL_CODE, "data": [good, bad]},
            headers={"Access-Token": SIM_ACCESS_TOKEN},
        ).json()
    assert answer["code"] == 40002 and answer["data"] == {} and answer["request_id"]
    assert answer["message"].startswith("Invalid value for event_id")  # TikTok's words; no index, no value
    assert "o-00001" not in answer["message"]
    assert served.store.events == [] and served.store.refused_requests == 1


def test_partial_mode_lists_the_bad_event_and_keeps_the_others(served):
    served.store.invalid_events = "partial"
    served.store.invalid_event_ids = {"o-00001"}
    good = {"event": "CompletePayment", "event_id": "o-00000", "event_time": int(NOW) - 60}
    with httpx.Client(base_url=served.base_url) as http:
        answer = http.post(
            "/open_api/v1.3/event/track/",
            json={
                "event_source": "web",
                "event_source_id": SIM_PIXEL_CODE,
                "data": [good, {**good, "event_id": "o-00001"}],
            },
            headers={"Access-Token": SIM_ACCESS_TOKEN},
        ).json()
    assert answer["code"] == 0 and [f["index"] for f in answer["data"]["failed_events"]] == [1]
    assert [e.event_id for e in served.store.events] == ["o-00000"]


def test_one_bad_event_in_1000_costs_only_itself(served):
    served.write(orders(1000))
    served.store.invalid_event_ids = {"o-00637"}
    report = served.run()
    assert report.sent == 999 and report.rejected == 1 and report.pending == report.ambiguous == 0
    statuses = served.statuses()
    status, code, message = statuses["o-00637"]
    assert status == "rejected" and code == 40002 and message.startswith("Invalid value for event_id")
    assert sum(s == "sent" for s, _, _ in statuses.values()) == 999
    # exactly once: every good event delivered once, no duplicate, the bad one never stored
    store = served.store
    assert len(store.events) == 999 and store.duplicates == 0
    assert sorted(store.deliveries.values()) == [1] * 999
    assert ("o-00637", "CompletePayment") not in {(e.event_id, e.event) for e in store.events}
    # bounded: the refused request, then two halves per level down to the bad event (log2 rounds)
    assert report.requests == store.requests <= 1 + 2 * math.ceil(math.log2(1000))
    # re-running sends nothing
    again = served.run()
    assert again.requests == 0 and store.requests == report.requests


def test_several_bad_events_are_each_isolated_with_their_reason(served):
    served.write(orders(40))
    served.store.invalid_event_ids = {"o-00000", "o-00017", "o-00018", "o-00039"}
    report = served.run(batch_size=20)
    statuses = served.statuses()
    rejected = sorted(e for e, (s, _, _) in statuses.items() if s == "rejected")
    assert rejected == ["o-00000", "o-00017", "o-00018", "o-00039"]
    assert report.sent == 36 and len(served.store.events) == 36
    assert served.store.duplicates == 0 and set(served.store.deliveries.values()) == {1}


def test_a_request_refused_whatever_it_holds_stops_within_the_split_budget(served):
    """A refusal that is not about one event (every request refused) must not cost 2n requests nor lose events."""
    served.write(orders(64))
    served.store.invalid_event_ids = {f"o-{i:05d}" for i in range(64)}
    report = served.run(max_split_requests=10)
    assert served.store.requests == 1 + 10 and report.requests == 11
    assert report.stopped and "split" in report.stopped
    statuses = served.statuses()
    assert all(s in ("rejected", "pending") for s, _, _ in statuses.values())
    assert sum(s == "pending" for s, _, _ in statuses.values()) >= 64 - 10
    assert served.store.events == []


def test_offline_and_crm_orders_go_to_their_event_sets_exactly_once(served):
    records = orders(6)
    for record in records[2:4]:
        record["event_source"] = "offline"
    records[4]["event_source"] = "crm"
    served.write(records)
    report = served.run(event_sets=SIM_EVENT_SETS)
    assert report.sent == 6 and report.requests == 3  # one request per event source
    by_set = {(e.pixel_code, e.event_id) for e in served.store.events}
    assert by_set == {
        (SIM_PIXEL_CODE, "o-00000"),
        (SIM_PIXEL_CODE, "o-00001"),
        (SIM_EVENT_SETS["offline"], "o-00002"),
        (SIM_EVENT_SETS["offline"], "o-00003"),
        (SIM_EVENT_SETS["crm"], "o-00004"),
        (SIM_PIXEL_CODE, "o-00005"),
    }
    assert set(served.store.deliveries.values()) == {1}
    with duckdb.connect(str(served.warehouse), read_only=True) as con:
        ids = dict(con.execute("SELECT event_id, pixel_code FROM conversion_outbox").fetchall())
    assert ids["o-00002"] == SIM_EVENT_SETS["offline"] and ids["o-00004"] == SIM_EVENT_SETS["crm"]
    assert served.run(event_sets=SIM_EVENT_SETS).requests == 0  # re-running sends nothing


def test_a_gateway_504_after_processing_is_ambiguous_and_the_resend_is_deduplicated(served):
    """A gateway's HTML 504 is no answer from TikTok: not resent at once, resent by the next run inside the 48 h."""
    served.write(orders(3))
    served.store.gateway_next(504, when="after")
    first = served.run()
    assert first.ambiguous == 3 and first.requests == 1 and len(served.store.events) == 3
    assert {s for s, _, _ in served.statuses().values()} == {"ambiguous"}
    second = served.run()
    assert second.sent == 3 and second.requests == 1
    assert len(served.store.events) == 3 and served.store.duplicates == 3  # TikTok dropped the copies
    assert served.run().requests == 0
