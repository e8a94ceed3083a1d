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


def test_two_writers_of_one_window_never_break_each_other(tmp_path):
    """Each writer has a temporary file of its own: no rename of another's file, and the result is always whole."""
    import threading

    from tiktok_pipeline.ingest.landing import read_landing, write_landing

    path = landing_path(tmp_path, "display_api", W)
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            for i in range(60):
                write_landing(path, [{"writer": tag, "i": i, "pad": "x" * 2000} for _ in range(20)])
        except BaseException as exc:  # pragma: no cover - the failure this test is about
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    records = read_landing(path)
    assert len(records) == 20 and len({(r["writer"], r["i"]) for r in records}) == 1
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file is left behind"


def test_an_unreadable_landing_file_is_never_the_windows_record(tmp_path):
    path = landing_path(tmp_path, "some_api/reports", W)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not gzip at all")
    source = Source()
    landed = source.land(tmp_path)
    assert landed.collected and len(source.calls) == 1, "collected afresh while the window is observable"
    assert [p for p in path.parent.iterdir() if ".unreadable-" in p.name], "the bad file is kept aside"
    path.write_bytes(path.read_bytes()[:10])  # truncated gzip
    with pytest.raises(WindowNotObservableError, match=r"cannot be read .* stays a gap"):
        Source(observable=False).land(tmp_path)
    assert not path.exists()
