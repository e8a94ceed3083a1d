"""Export files that cannot be read (issue 11, item 5): a half-copied gzip, a plain file named ``.gz``, corrupt or
undecodable bytes, lone surrogates, absurd times, a BOM. None of them raises out of ``load_orders``,
``export_windows`` or ``decide_exports``; the 20 good orders beside them always go on. A file still being written
(modified less than the settle time ago) waits for a later run; once settled, what cannot be read is quarantined
with its file (and line), a reason and a redacted sample, as ASCII the warehouse can store."""

import gzip
import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from tiktok_pipeline.activation.conversions.export_files import read_export
from tiktok_pipeline.activation.conversions.exports import ExportsCursor, decide_exports
from tiktok_pipeline.activation.conversions.orders import export_windows, load_orders
from tiktok_pipeline.activation.conversions.summary import quarantined_orders
from tiktok_pipeline.settings import ConversionSettings

NOW = datetime(2026, 11, 20, 12, 0, 7, tzinfo=UTC)
SETTLE = ConversionSettings().conversions_settle_seconds
YOUNG = NOW - timedelta(seconds=5)  # still being written
OLD = datetime(2026, 11, 20, 11, 12, 0, tzinfo=UTC)  # settled long ago; its window is 11:10
OLD_WINDOW = datetime(2026, 11, 20, 11, 10, tzinfo=UTC)
EVENT_WINDOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
EMAIL = "Jane.Doe@Example.com"


def order(order_id, **fields):
    base = {"order_id": order_id, "event_time": "2026-11-20T10:02:30Z", "value": 9.5, "currency": "USD"}
    return json.dumps({**base, "email": EMAIL, **fields})


def jsonl(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def put(path, data: bytes, at: datetime):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (at.timestamp(), at.timestamp()))
    return path


@pytest.fixture
def shop(tmp_path):
    """A folder with one good export of 20 orders (``a.jsonl``, settled)."""
    put(tmp_path / "a.jsonl", jsonl(*(order(f"good-{i}") for i in range(20))), OLD)
    return tmp_path


def sent(loaded):
    return sorted(c.order_id for c in loaded.conversions)


GOOD = sorted(f"good-{i}" for i in range(20))
FULL_GZIP = gzip.compress(jsonl(*(order(f"late-{i}") for i in range(50))))

BAD_FILES = {
    "truncated gzip": ("b.jsonl.gz", FULL_GZIP[: len(FULL_GZIP) // 2], "truncated"),
    "gzip without its trailer": ("b.jsonl.gz", FULL_GZIP[:-4], "truncated"),
    "a gzip header only": ("b.jsonl.gz", FULL_GZIP[:5], "truncated"),
    "plain text named .gz": ("b.jsonl.gz", jsonl(order("plain-1")), "not gzip-compressed"),
    "binary named .gz": ("b.jsonl.gz", b"PK\x03\x04" + bytes(range(256)), "not gzip-compressed"),
    "corrupt deflate data": ("b.jsonl.gz", FULL_GZIP[:12] + b"\xff" * 40 + FULL_GZIP[52:], "corrupt"),
    "gzip whose checksum fails": ("b.jsonl.gz", FULL_GZIP[:-8] + b"\0\0\0\0" + FULL_GZIP[-4:], "corrupt"),
    "UTF-16 export": (
        "b.jsonl",
        "\ufeff".encode("utf-16-le") + jsonl(order("u16")).decode().encode("utf-16-le"),
        "UTF-16",
    ),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_bad_file_settled_is_quarantined_whole_and_the_good_orders_go_on(shop, kind):
    name, data, reason = BAD_FILES[kind]
    put(shop / name, data, OLD)
    loaded = load_orders(shop, now=NOW)
    assert sent(loaded) == GOOD and loaded.waiting == []
    (row,) = loaded.quarantine
    assert row["source"] == f"conversions/{name}" and row["window_start"] == OLD_WINDOW
    assert row["reason"].startswith(f"{name} (whole file, {len(data)} bytes): ") and reason in row["reason"]
    payload = json.loads(row["payload"])
    assert payload["bytes"] == len(data) and len(payload["sha256"]) == 64 and len(payload["head"]) <= 4 * 64
    assert row["payload"].isascii() and EMAIL not in row["payload"] and "Jane" not in row["payload"]
    assert export_windows(shop / name, now=NOW) == {OLD_WINDOW}  # where the run that quarantines it must look


@pytest.mark.parametrize("kind", [k for k, (_, _, reason) in BAD_FILES.items() if reason == "truncated"])
def test_a_file_still_being_written_waits_and_is_neither_read_nor_quarantined(shop, kind):
    name, data, _ = BAD_FILES[kind]
    put(shop / name, data, YOUNG)
    loaded = load_orders(shop, now=NOW)
    assert sent(loaded) == GOOD and loaded.quarantine == [] and loaded.waiting == [name]
    assert export_windows(shop / name, now=NOW) == set()
    assert read_export(shop / name, name=name, now=NOW + timedelta(seconds=SETTLE)).state == "unreadable"


def test_definitely_bad_files_do_not_wait_even_when_young(shop):
    put(shop / "b.jsonl.gz", jsonl(order("plain-1")), YOUNG)  # never a gzip file, however long one waits
    loaded = load_orders(shop, now=NOW)
    assert sent(loaded) == GOOD and loaded.waiting == [] and "not gzip-compressed" in loaded.quarantine[0]["reason"]


def test_a_young_plain_file_whose_last_line_has_no_newline_waits_then_is_read_whole(shop):
    path = put(shop / "b.jsonl", jsonl(order("b-1")) + order("b-2", value=3)[:-9].encode(), YOUNG)
    assert load_orders(shop, now=NOW).waiting == ["b.jsonl"] and sent(load_orders(shop, now=NOW)) == GOOD
    put(path, jsonl(order("b-1")) + order("b-2").encode(), YOUNG)  # complete, but no final newline: still waits
    assert load_orders(shop, now=NOW).waiting == ["b.jsonl"]
    settled = load_orders(shop, now=YOUNG + timedelta(seconds=SETTLE))  # settled: a last line without newline is fine
    assert sent(settled) == sorted([*GOOD, "b-1", "b-2"]) and settled.quarantine == [] and settled.waiting == []


def test_a_complete_gzip_is_read_at_once_even_young(shop):
    put(shop / "b.jsonl.gz", gzip.compress(jsonl(order("z-1")) + order("z-2").encode()), YOUNG)
    loaded = load_orders(shop, now=NOW)
    assert sent(loaded) == sorted([*GOOD, "z-1", "z-2"]) and loaded.waiting == []


def test_io_errors_wait_while_young_and_are_quarantined_once_settled(tmp_path):
    folder = tmp_path / "d.jsonl"  # reading a folder as a file: a real I/O error
    folder.mkdir()
    os.utime(folder, (YOUNG.timestamp(), YOUNG.timestamp()))
    assert read_export(folder, name="d.jsonl", now=NOW).state == "waiting"
    os.utime(folder, (OLD.timestamp(), OLD.timestamp()))
    unreadable = read_export(folder, name="d.jsonl", now=NOW)
    assert unreadable.state == "unreadable" and "cannot be read (IsADirectoryError" in unreadable.problem
    gone = read_export(tmp_path / "vanished.jsonl", name="vanished.jsonl", now=NOW)
    assert gone.state == "waiting" and "vanished" in gone.problem


@pytest.mark.parametrize("with_gzip", [False, True])
def test_a_utf8_bom_is_tolerated(tmp_path, with_gzip):
    data = b"\xef\xbb\xbf" + jsonl(order("bom-1"), order("bom-2"))
    name = "b.jsonl.gz" if with_gzip else "b.jsonl"
    put(tmp_path / name, gzip.compress(data) if with_gzip else data, OLD)
    loaded = load_orders(tmp_path, now=NOW)
    assert sent(loaded) == ["bom-1", "bom-2"] and loaded.quarantine == []
    assert export_windows(tmp_path / name, now=NOW) == {EVENT_WINDOW}


BAD_LINES = {
    "lone surrogate in a redacted field": (order("s-1", email="jane\ud800@example.com"), "email"),
    "lone surrogate in the order id": (order("s-2\udfff"), "order_id"),
    "lone surrogate in a sku": (order("s-3", skus=[{"sku": "a\ud83d"}]), "skus.0.sku"),
    "lone surrogate in the user agent": (order("s-4", user_agent="Mozilla\udc80"), "user_agent"),
    "lone surrogate in an unknown field of a bad order": (order("s-5", currency="$$", note="\ud800"), "currency"),
    "event_time in year 1 with an offset": (order("t-1", event_time="0001-01-01T00:00:00+05:00"), "event_time"),
    "event_time in year 1": (order("t-2", event_time="0001-01-01T00:00:00Z"), "event_time"),
    "event_time at the end of year 9999": (order("t-3", event_time="9999-12-31T23:59:59-05:00"), "event_time"),
    "event_time in year 10000": (order("t-4", event_time="10000-01-01T00:00:00Z"), "event_time"),
    "event_time 10^400": (order("t-5").replace('"2026-11-20T10:02:30Z"', "1" + "0" * 400), "event_time"),
    "event_time 10^400 as text": (order("t-6", event_time="1" + "0" * 400), "event_time"),
    "event_time 1e308": (order("t-7", event_time=1e308), "event_time"),
    "event_time NaN": (order("t-8").replace('"2026-11-20T10:02:30Z"', "NaN"), "event_time"),
    "event_time 0": (order("t-9", event_time=0), "event_time"),
    "event_time with unicode digits": (order("t-10", event_time="١٧٩٥٥٢١٩٠٠"), "event_time"),
    "an integer of 5,000 digits": (order("n-1").replace("9.5", "9" * 5000), "JSON"),
    "value 10^400": (order("n-2").replace("9.5", "1" + "0" * 400), "value"),
    "a line nested 100,000 deep": ("[" * 100_000 + "]" * 100_000, "JSON"),
    "a record nested 500 deep": ('{"order_id": ' + "[" * 500 + "]" * 500 + "}", "order_id"),
}


@pytest.mark.parametrize("kind", BAD_LINES)
def test_a_bad_line_is_quarantined_naming_file_line_and_field_and_the_rest_goes_on(shop, kind):
    line, field = BAD_LINES[kind]
    put(shop / "b.jsonl", jsonl(order("before"), line, order("after")), OLD)
    loaded = load_orders(shop, now=NOW)
    assert sent(loaded) == sorted([*GOOD, "after", "before"]) and loaded.waiting == []
    (row,) = loaded.quarantine
    assert row["source"] == "conversions/b.jsonl:2" and row["reason"].startswith("b.jsonl line 2: ")
    assert field in row["reason"], row["reason"]
    assert row["payload"].isascii() and row["reason"].isascii() and EMAIL not in row["payload"]
    assert quarantined_orders(loaded, OLD_WINDOW - timedelta(days=1), OLD_WINDOW + timedelta(days=1)).height == 1
    windows = export_windows(shop / "b.jsonl", now=NOW)
    assert EVENT_WINDOW in windows and windows <= {EVENT_WINDOW, OLD_WINDOW}


def test_undecodable_bytes_quarantine_their_line_instead_of_being_replaced(shop):
    put(shop / "b.jsonl", jsonl(order("before")) + order("x").encode().replace(b"x", b"x\xff") + b"\n", OLD)
    loaded = load_orders(shop, now=NOW)
    assert sent(loaded) == sorted([*GOOD, "before"])
    (row,) = loaded.quarantine
    assert row["reason"].startswith("b.jsonl line 2: not valid UTF-8") and set(json.loads(row["payload"])) == {
        "line_sha256",
        "bytes",
    }


def test_a_file_name_that_is_not_utf8_is_escaped(shop):
    put(shop / os.fsdecode(b"caf\xe9.jsonl"), jsonl(order("x", currency="$$")), OLD)
    loaded = load_orders(shop, now=NOW)
    assert sent(loaded) == GOOD
    (row,) = loaded.quarantine
    assert row["source"] == "conversions/caf\\udce9.jsonl:1" and row["reason"].isascii()


def test_decide_exports_asks_for_bad_files_and_waits_for_files_still_being_written(shop):
    put(shop / "b.jsonl.gz", FULL_GZIP[:100], YOUNG)  # half copied
    put(shop / "c.jsonl.gz", jsonl(order("plain")), OLD)  # not gzip: to be quarantined
    put(shop / "d.jsonl", jsonl(order("t", event_time="0001-01-01T00:00:00+05:00"), order("s", email="\ud800")), OLD)
    decision = decide_exports(
        ExportsCursor(),
        shop,
        latest=datetime(2026, 11, 20, 11, 55, tzinfo=UTC),
        partitions_start=datetime(2026, 11, 1, tzinfo=UTC),
        newest_outbox=None,
        now=NOW,
    )
    assert (decision.first, decision.last) == ("2026-11-20-10:00", "2026-11-20-11:10")
    assert set(decision.cursor.files) == {"a.jsonl", "c.jsonl.gz", "d.jsonl"} and decision.waiting == ["b.jsonl.gz"]
    put(shop / "b.jsonl.gz", FULL_GZIP, YOUNG)  # the copy completed
    again = decide_exports(
        decision.cursor,
        shop,
        latest=datetime(2026, 11, 20, 11, 55, tzinfo=UTC),
        partitions_start=datetime(2026, 11, 1, tzinfo=UTC),
        newest_outbox=None,
        now=NOW,
    )
    assert [c.split("@")[0] for c in again.changed] == ["b.jsonl.gz"] and again.waiting == []
    assert (again.first, again.last) == ("2026-11-20-10:00", "2026-11-20-10:00")
