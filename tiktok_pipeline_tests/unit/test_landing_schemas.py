"""Landing records carry the schema version of the API answer they hold; old files (no version) re-parse as 1."""

import gzip
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_pipeline.ingest.land import Collected, land
from tiktok_pipeline.ingest.landing import read_landing
from tiktok_pipeline.ingest.parse import display
from tiktok_pipeline.ingest.parse.display import parse_landed
from tiktok_pipeline.ingest.schemas import (
    LEGACY_VERSION,
    RESPONSE_SCHEMAS,
    UnknownSchemaError,
    pick,
    record_version,
    schema_name,
    stamp,
)
from tiktok_pipeline.windows import WINDOW

FIXTURES = Path(__file__).parents[1] / "fixtures"
OLD_LANDING = FIXTURES / "display_api_landing_before_schema_versions.jsonl"
"""Records of one creator as the release before schema versions landed them (no ``schema`` field)."""
W = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def old_records() -> list[dict]:
    return [json.loads(line) for line in OLD_LANDING.read_text().splitlines()]


def test_the_fixture_is_the_old_format():
    records = old_records()
    assert records and all("schema" not in r for r in records)
    assert {r["endpoint"] for r in records} == {"user/info", "video/list"}


def test_an_old_landing_file_re_parses_as_version_1(tmp_path):
    path = tmp_path / "1000.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(OLD_LANDING.read_text())
    parsed = parse_landed(read_landing(path), "display_api/2026-11-20/1000.jsonl.gz", "raw_video_snapshots")
    assert parsed.quarantine.is_empty(), parsed.quarantine.to_dicts()
    assert parsed.creators.height == 1
    assert parsed.videos.height > 0
    assert parsed.videos["response_schema_version"].to_list() == [1] * parsed.videos.height


def test_land_stamps_every_record_with_its_answer_schema(tmp_path):
    records = old_records()

    def collect(observed_at: datetime) -> Collected:
        return Collected([dict(r) for r in records])

    landed = land(tmp_path, "display_api", W, observe=lambda start: start + WINDOW, collect=collect)
    on_disk = read_landing(landed.path)
    assert [r["schema"] for r in on_disk] == ["display_api.user_info/1", "display_api.video_list/1"]
    assert on_disk == landed.records
    assert {k: v for k, v in on_disk[0].items() if k != "schema"} == records[0]


def test_a_record_of_an_unknown_version_is_quarantined_naming_it():
    records = stamp("display_api", old_records())
    records[1] = {**records[1], "schema": "display_api.video_list/7"}
    parsed = parse_landed(records, "f.jsonl.gz", "raw_video_snapshots")
    assert parsed.videos.is_empty() and parsed.creators.height == 1
    (reason,) = parsed.quarantine["reason"].to_list()
    assert "schema version 7" in reason and "video/list" in reason and "reads 1" in reason


def test_the_parser_reads_a_record_with_its_recorded_versions_model(monkeypatch):
    """A version 2 of the answer gets its own model; version 1 records keep theirs (here: 2 refuses every video)."""

    class Refusing(display.Video):
        @classmethod
        def model_validate(cls, *args, **kwargs):
            raise AssertionError("the version 2 model must not read a version 1 record")

    monkeypatch.setattr(display, "MODELS", {**display.MODELS, 2: (display.UserInfo, Refusing)})
    parsed = parse_landed(stamp("display_api", old_records()), "f.jsonl.gz", "raw_video_snapshots")
    assert parsed.videos.height > 0 and parsed.quarantine.is_empty()


def test_names_and_current_versions():
    assert schema_name("display_api", {"endpoint": "video/query"}) == "display_api.video_query"
    assert schema_name("business_api/report", {"kind": "report", "endpoint": "/report/integrated/get/"}) == (
        "business_api.report"
    )
    assert stamp("business_api/report", [{"kind": "fetch"}]) == [{"kind": "fetch", "schema": "business_api.fetch/1"}]
    assert stamp("x", [{"schema": "x.y/3"}]) == [{"schema": "x.y/3"}]
    assert set(RESPONSE_SCHEMAS.values()) == {1}
    assert record_version({}) == LEGACY_VERSION == 1
    assert record_version({"schema": "display_api.video_query/12"}) == 12


@pytest.mark.parametrize("value", [None, 2, "display_api.video_query", "video_query/1", "a.b/0", "a.b/x", "a.b/-1"])
def test_a_malformed_schema_field_is_refused_naming_the_field(value):
    with pytest.raises(UnknownSchemaError, match="field schema is"):
        record_version({"schema": value})


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.lists(st.text())))
def test_any_schema_value_gives_a_version_or_a_clear_error(value):
    try:
        version = record_version({"schema": value})
    except UnknownSchemaError as exc:
        assert "schema" in str(exc)
    else:
        assert isinstance(version, int) and version >= 1
    with pytest.raises(UnknownSchemaError):
        pick({}, {"schema": value}, "x")


def test_the_landing_fixture_is_readable_as_gzip(tmp_path):
    """The fixture stays plain JSON lines (readable in review); the landing zone's files are gzip of the same."""
    copy = tmp_path / "f.jsonl"
    shutil.copy(OLD_LANDING, copy)
    assert len(copy.read_text().splitlines()) == len(old_records())


def test_an_ad_fetch_re_parses_unstamped_and_stamped_and_refuses_an_unknown_version():
    from tiktok_pipeline.ingest.parse.ads import parse_fetch
    from tiktok_pipeline_tests.unit.test_ad_report_parse import W, landed, row

    old = landed([row()])  # the format before schema versions: no schema field
    assert all("schema" not in r for r in old)
    before = parse_fetch(old, "f.jsonl.gz", W)
    assert before.error is None and before.rows.height == 1
    stamped = stamp("business_api/report", old)
    assert {r["schema"] for r in stamped} >= {"business_api.fetch/1", "business_api.report/1"}
    assert parse_fetch(stamped, "f.jsonl.gz", W).rows.equals(before.rows)
    newer = [{**r, "schema": "business_api.report/4"} if r["kind"] == "report" else r for r in stamped]
    refused = parse_fetch(newer, "f.jsonl.gz", W)
    assert refused.rows.is_empty() and "report record of f.jsonl.gz was landed as schema version 4" in str(
        refused.error
    )
