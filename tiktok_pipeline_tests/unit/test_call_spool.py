"""The call-log spool and the scope lookup read text they did not write themselves: fuzzed with hypothesis.

A spool file gives back exactly the rows written (any text, times, nulls, numbers); a path of any shape gives a
declared endpoint or None, never an error, and only a path whose part after its version segment is a declared
endpoint gets one.
"""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from tiktok_pipeline.governance.call_scopes import call_scope, declared_endpoint
from tiktok_pipeline.governance.sources import SOURCES
from tiktok_pipeline.sources.http.calllog import CallBuffer
from tiktok_pipeline.warehouse.call_spool import spool, spooled

TEXT = st.text(max_size=40) | st.none()
ROW = st.fixed_dictionaries(
    {
        "called_at": st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
        "window_start": st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)) | st.none(),
        "source": TEXT,
        "endpoint": TEXT,
        "subject": TEXT,
        "http_status": st.integers(100, 599) | st.none(),
        "attempts": st.integers(1, 10),
        "latency_ms": st.floats(0, 1e9, allow_nan=False),
    }
)


@given(st.lists(ROW, max_size=5), st.lists(ROW, max_size=5))
def test_a_spool_gives_back_exactly_the_rows_written(tmp_path_factory, first, second):
    folder = tmp_path_factory.mktemp("spool")
    for rows in (first, second):
        if rows:
            spool(CallBuffer(rows), folder)
    files, waiting = spooled(folder)
    assert len(files) == (1 if first else 0) + (1 if second else 0)
    written = first + second  # the files' order is their names' (second by second): compared as a multiset
    assert len(waiting.rows) == len(written) and all(waiting.rows.count(row) == written.count(row) for row in written)


@given(st.sampled_from(sorted(SOURCES) + ["webhook", "elsewhere"]), st.text(max_size=60))
def test_any_path_gives_a_declared_endpoint_or_none(source, path):
    endpoint = declared_endpoint(source, path)
    declared = {e for limit in SOURCES[source].rate_limits for e in limit.endpoints} if source in SOURCES else set()
    assert endpoint is None or endpoint in declared
    scope = call_scope(source, path)
    assert scope is None or isinstance(scope, str)
    if source == "webhook":
        assert scope == "none"


@given(st.sampled_from(sorted(SOURCES)), st.text(alphabet="abcdefghij/", max_size=20))
def test_only_the_part_after_the_version_names_the_endpoint(source, prefix):
    for limit in SOURCES[source].rate_limits:
        for endpoint in limit.endpoints:
            assert declared_endpoint(source, f"/{prefix}/v1.3/{endpoint}/") == endpoint
            assert declared_endpoint(source, f"/v2/{prefix}x/{endpoint}/") is None
