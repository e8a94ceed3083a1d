"""The conversion_outbox asset beside exports it cannot read (issue 11, item 5), over real HTTP to a served simulator.

A half-copied gzip that has settled, a plain file named ``.gz`` and lines with a lone surrogate or an event_time in
year 1 are quarantined (file and line, once however often the window runs); a gzip still being copied waits and
its orders are sent by the run after it completes; every good order is sent exactly once in the same run.
"""

import gzip
import json
import os
from datetime import timedelta

import dagster as dg

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.shop import sample_orders, write_orders
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.windows import WINDOW
from tiktok_pipeline_tests.conftest import open_warehouse

from ..conftest import T0
from .test_events_end_to_end import materialize


def jsonl(orders) -> bytes:
    return "".join(json.dumps(o) + "\n" for o in orders).encode()


def put(path, data: bytes, at=None):
    path.write_bytes(data)
    if at is not None:
        os.utime(path, (at.timestamp(), at.timestamp()))
    return path


def event_ids(orders):
    return {o.get("pixel_event_id") or o["order_id"] for o in orders}


def test_good_orders_are_sent_while_bad_exports_are_quarantined_and_a_copy_in_progress_waits(settings, tmp_path):
    incoming = tmp_path / "incoming"
    good = sample_orders(T0, T0 + 2 * WINDOW, seed=5, per_hour=300)
    assert len(good) >= 20
    write_orders(incoming / "export-1.jsonl", good)
    halved = gzip.compress(jsonl(sample_orders(T0, T0 + 2 * WINDOW, seed=6, per_hour=120)))
    put(incoming / "half-copied.jsonl.gz", halved[: len(halved) // 2], T0 + WINDOW + timedelta(minutes=1))
    put(incoming / "plain.jsonl.gz", jsonl(good[:3]), T0 + timedelta(minutes=2))
    copying = sample_orders(T0, T0 + 2 * WINDOW, seed=8, per_hour=120)
    copying_gz = gzip.compress(jsonl(copying))
    put(incoming / "copying.jsonl.gz", copying_gz[:200])  # modified just now: still being copied
    bom = dict(good[0], order_id="bom-1", pixel_event_id="px-bom-1")
    surrogate = dict(good[1], order_id="sur-1", email="jane\ud800@example.com")
    year_one = dict(good[2], order_id="old-1", event_time="0001-01-01T00:00:00+05:00")
    put(incoming / "lines.jsonl", b"\xef\xbb\xbf" + jsonl([bom, surrogate, year_one]), T0 + timedelta(minutes=3))

    simulator = Simulator(clock=lambda: (T0 + timedelta(hours=2)).timestamp())
    store = simulator.business.events
    instance = dg.DagsterInstance.ephemeral()
    with serve_in_thread(simulator, timeout_seconds=0.5) as url:
        served = settings.replace(
            display__api_base_url=url, display__api_is_simulator=True, conversions__conversions_dir=incoming
        )
        defs = build_definitions(served)
        first = materialize(defs, instance, T0, T0 + WINDOW)
        rerun = materialize(defs, instance, T0, T0 + WINDOW)
        put(incoming / "copying.jsonl.gz", copying_gz)  # the copy completed
        after_copy = materialize(defs, instance, T0, T0 + WINDOW)
    assert first.success and rerun.success and after_copy.success
    assert store.duplicates == 0 and set(store.deliveries.values()) == {1}
    delivered = {event_id for (_, _, event_id) in store.deliveries}
    assert delivered == event_ids(good) | event_ids(copying) | {"px-bom-1"}
    logs = " ".join(entry.message or "" for entry in instance.all_logs(first.run_id))
    assert "copying.jsonl.gz" in logs and "still being written" in logs

    with open_warehouse(settings) as con:
        rows = con.execute(
            "SELECT window_start, source, reason, payload FROM conversion_quarantine ORDER BY source"
        ).fetchall()
    sources = [source for _, source, _, _ in rows]
    assert sources == [
        "conversions/half-copied.jsonl.gz",
        "conversions/lines.jsonl:2",
        "conversions/lines.jsonl:3",
        "conversions/plain.jsonl.gz",
    ]  # once each, after three runs over the window
    reasons = {source: reason for _, source, reason, _ in rows}
    assert "truncated" in reasons["conversions/half-copied.jsonl.gz"]
    assert "not gzip-compressed" in reasons["conversions/plain.jsonl.gz"]
    assert "email" in reasons["conversions/lines.jsonl:2"] and "event_time" in reasons["conversions/lines.jsonl:3"]
    assert all("jane" not in payload and "Customer." not in payload for _, _, _, payload in rows)
