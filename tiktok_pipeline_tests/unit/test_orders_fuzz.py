"""Fuzz: the order-export reader never raises, whatever the files hold, and loses nothing.

Files are built from arbitrary bytes, truncations of gzip streams, plain text named ``.gz``, byte order marks,
missing final newlines, young and settled modification times; lines from valid orders, orders whose fields hold
any JSON (integers of any size, any timestamp, any Unicode including lone surrogates, deep nesting) and raw
bytes. What would have found issue 11, item 5: ``load_orders``, ``export_windows`` and ``decide_exports`` raised.
Every line of a file read is a conversion, a duplicate or a quarantine row; every other file waits or is
quarantined whole; the rows survive the warehouse (Arrow → DuckDB).
"""

import gzip
import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiktok_pipeline.activation.conversions.exports import ExportsCursor, decide_exports
from tiktok_pipeline.activation.conversions.orders import export_windows, load_orders
from tiktok_pipeline.activation.conversions.outbox import outbox_rows
from tiktok_pipeline.activation.conversions.summary import quarantined_orders
from tiktok_pipeline.warehouse.tables import CONVERSION_OUTBOX, CONVERSION_QUARANTINE
from tiktok_pipeline_tests.unit.test_parse import store_frames
from tiktok_pipeline_tests.unit.test_parse_fuzz import any_int, any_text
from tiktok_pipeline_tests.unit.test_parse_fuzz import json_values as anything

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SETTLE = 300.0
EVER = (datetime(1990, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))

times = st.one_of(
    any_int,
    st.floats(),
    any_text,
    st.datetimes(timezones=st.sampled_from([UTC, None])).map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "10000-01-01T00:00:00Z", "1" * 400]),
    st.integers(1_700_000_000, 1_900_000_000),
)
fields = {
    "order_id": any_text | st.from_regex(r"o-[0-9]{1,4}", fullmatch=True) | anything,
    "event_time": times,
    "value": any_int | st.floats() | anything,
    "currency": st.sampled_from(["USD", "usd", "EU", "\ud800\ud800\ud800"]) | any_text,
    "email": any_text | st.just("Jane.Doe@Example.com") | anything,
    "phone": any_text | st.just("(202) 555-0147") | any_int,
    "customer_id": any_text | any_int,
    "skus": st.lists(st.fixed_dictionaries({}, optional={"sku": any_text, "price": any_int, "quantity": any_int})),
    "user_agent": any_text,
    "note": anything,
}
good_order = st.fixed_dictionaries(
    {
        "order_id": st.from_regex(r"o-[0-9]{1,3}", fullmatch=True),
        "event_time": st.integers(1_795_000_000, 1_796_000_000),
        "value": st.floats(0, 1e6),
        "currency": st.just("USD"),
    }
)
records = st.one_of(good_order, st.fixed_dictionaries({}, optional=fields), anything)
deep = st.builds(
    lambda depth, key: f'{{"{key}": {"[" * depth}{"]" * depth}}}'.encode(),
    st.integers(1, 5_000),
    st.sampled_from(sorted(fields)),
)
lines = st.one_of(records.map(lambda r: json.dumps(r).encode()), st.binary(max_size=60), deep)


@st.composite
def export_file(draw):
    body = b"\n".join(draw(st.lists(lines, max_size=8)))
    if draw(st.booleans()):
        body += b"\n"
    if draw(st.booleans()):
        body = b"\xef\xbb\xbf" + body
    kind = draw(st.sampled_from(["plain", "gzip", "truncated gzip", "plain named .gz", "bytes named .gz"]))
    if kind == "plain":
        return ".jsonl", body
    if kind == "gzip":
        return ".jsonl.gz", gzip.compress(body)
    if kind == "truncated gzip":
        data = gzip.compress(body)
        return ".jsonl.gz", data[: draw(st.integers(0, len(data) - 1))]
    if kind == "plain named .gz":
        return ".jsonl.gz", body
    return ".jsonl.gz", draw(st.binary(max_size=200))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(export_file(), st.integers(-100, 10_000)), max_size=4))
def test_order_files_never_raise_and_every_line_is_accounted_for(files):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for i, ((suffix, data), age) in enumerate(files):
            path = root / f"export-{i}{suffix}"
            path.write_bytes(data)
            os.utime(path, ((NOW - timedelta(seconds=age)).timestamp(),) * 2)
        loaded = load_orders(root, now=NOW, settle_seconds=SETTLE)
        read = [q for q in loaded.quarantine if ":" in q["source"].removeprefix("conversions/")]
        assert len(loaded.conversions) + loaded.duplicate_orders + len(read) == loaded.lines
        assert loaded.files + len(loaded.waiting) == len(files)
        assert len(loaded.quarantine) - len(read) == loaded.unreadable_files
        for row in loaded.quarantine:
            assert row["payload"].isascii() and row["reason"].isascii() and row["source"].isascii()
            assert "Jane.Doe" not in row["payload"] and "555-0147" not in row["payload"]
        store_frames(
            (CONVERSION_QUARANTINE, quarantined_orders(loaded, *EVER)),
            (
                CONVERSION_OUTBOX,
                outbox_rows(loaded.conversions, pixel_code="P", test_event_code="", now=NOW, run_id="r"),
            ),
        )
        for path in root.iterdir():
            export_windows(path, now=NOW, settle_seconds=SETTLE)
        decision = decide_exports(
            ExportsCursor(),
            root,
            latest=NOW,
            partitions_start=EVER[0],
            newest_outbox=None,
            now=NOW,
            settle_seconds=SETTLE,
        )
        assert sorted(decision.waiting) == sorted(loaded.waiting)
        decision.cursor.model_dump_json()
