"""The one landing path (``ingest.land.land``): a source supplies its name, observation instant and collect function."""

from datetime import UTC, datetime

import pytest

from tiktok_pipeline.ingest.land import Collected, WindowNotObservableError, land
from tiktok_pipeline.ingest.landing import landing_path
from tiktok_pipeline.windows import WINDOW

W = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class Source:
    """A fake source: counts its collections, answers ``records`` (an error record when ``fail``)."""

    def __init__(self, *, fail: bool = False, observable: bool = True) -> None:
        self.calls: list[datetime] = []
        self.fail, self.observable = fail, observable

    def observe(self, window_start: datetime) -> datetime:
        if not self.observable:
            raise WindowNotObservableError("too old")
        return window_start + WINDOW

    def collect(self, observed_at: datetime) -> Collected:
        self.calls.append(observed_at)
        record = {"observed_at": observed_at.isoformat(), **({"error": "boom"} if self.fail else {})}
        return Collected([record], failures={"x": "boom"} if self.fail else {})

    def land(self, tmp_path, **options):
        return land(tmp_path, "some_api/reports", W, observe=self.observe, collect=self.collect, **options)


def test_a_window_is_collected_once_then_reread(tmp_path):
    source = Source()
    first = source.land(tmp_path)
    assert first.collected and first.path == landing_path(tmp_path, "some_api/reports", W) and first.path.exists()
    assert source.calls == [W + WINDOW]
    again = source.land(tmp_path)
    assert not again.collected and again.records == first.records and len(source.calls) == 1
    assert source.land(tmp_path, recollect=True).collected and len(source.calls) == 2


def test_a_failed_collection_is_redone_while_observable_and_kept_when_not(tmp_path):
    failing = Source(fail=True)
    assert failing.land(tmp_path).failures == {"x": "boom"}
    healthy = Source()
    assert healthy.land(tmp_path).collected  # the file held a failed call: collected afresh
    Source(fail=True).land(tmp_path, recollect=True)
    too_late = Source(observable=False)
    kept = too_late.land(tmp_path)
    assert not kept.collected and kept.records[0]["error"] == "boom" and too_late.calls == []
    with pytest.raises(WindowNotObservableError):
        too_late.land(tmp_path, recollect=True)
