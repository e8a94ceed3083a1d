"""An unofficial source is refused when the definitions load unless a current risk acceptance is recorded."""

import json
import logging
from datetime import UTC, datetime

import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.governance.risk import SourceRefused, admit_sources
from tiktok_pipeline.governance.source_models import PersonalData, Retention, SourceDeclaration, Terms
from tiktok_pipeline.governance.sources import SOURCES
from tiktok_pipeline.settings import Settings

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
LIVE = SourceDeclaration(
    name="live_events",
    title="LIVE events collected by the user (JSON lines)",
    owner="team:growth",
    terms=Terms(status="unofficial", name="no TikTok terms cover it: collected on the user's own responsibility"),
    base_url="file:data/live/incoming",
    scopes=(),
    rate_limits=(),
    personal_data=(PersonalData(data="viewer handles in comments", subject="LIVE viewers", handling="hashed"),),
    retention=(Retention(what="live_events rows", days=7, enforced_by="nothing yet"),),
    purpose="show LIVE engagement next to the official signal, labelled unofficial",
)
DECLARED = {**SOURCES, LIVE.name: LIVE}


def acceptance(**overrides):
    record = {
        "source": "live_events",
        "accepted_by": "jane@example.com",
        "accepted_at": "2026-12-01T09:00:00Z",
        "scope": "LIVE comments of our own creators' streams, for the live dashboard only",
        "expires_at": "2027-03-01",
        "contingency": "remove the source; the dashboard falls back to official data",
    }
    return {**record, **overrides}


def write(tmp_path, *records):
    path = tmp_path / "risk_acceptances.json"
    path.write_text(json.dumps({"acceptances": list(records)}), encoding="utf-8")
    return path


def test_official_sources_need_no_acceptance(tmp_path):
    official = {name: s for name, s in SOURCES.items() if s.terms.status != "unofficial"}
    assert admit_sources(official, tmp_path / "absent.json", now=NOW) == {}


def test_an_unofficial_source_without_an_acceptance_is_refused_and_logged(tmp_path, caplog):
    path = tmp_path / "absent.json"
    with (
        caplog.at_level(logging.INFO, logger="tiktok_pipeline.governance.risk"),
        pytest.raises(SourceRefused) as caught,
    ):
        admit_sources(DECLARED, path, now=NOW)
    message = str(caught.value)
    assert "source 'live_events' is unofficial" in message and "no risk acceptance is recorded for it" in message
    assert str(path) in message and "TIKTOK_RISK_ACCEPTANCES_PATH" in message
    assert [r.levelname for r in caplog.records] == ["ERROR"] and "live_events" in caplog.records[0].getMessage()
    other = write(tmp_path, acceptance(source="another_feed"))  # an acceptance of another source admits nothing
    with pytest.raises(SourceRefused, match="no risk acceptance is recorded"):
        admit_sources(DECLARED, other, now=NOW)


def test_a_current_acceptance_admits_the_source_and_is_logged(tmp_path, caplog):
    path = write(tmp_path, acceptance())
    with caplog.at_level(logging.INFO, logger="tiktok_pipeline.governance.risk"):
        admitted = admit_sources(DECLARED, path, now=NOW)
    assert admitted["live_events"].accepted_by == "jane@example.com"
    assert admitted["live_events"].expires_at == datetime(2027, 3, 1, tzinfo=UTC)  # no offset: UTC
    [line] = [r for r in caplog.records if r.levelname == "WARNING"]
    text = line.getMessage()
    assert "admitted" in text and "jane@example.com" in text and "2027-03-01" in text and "contingency" in text


def test_an_expired_acceptance_refuses_again(tmp_path, caplog):
    path = write(tmp_path, acceptance(accepted_at="2026-06-01T00:00:00Z", expires_at="2026-12-01T00:00:00Z"))
    with (
        caplog.at_level(logging.INFO, logger="tiktok_pipeline.governance.risk"),
        pytest.raises(SourceRefused) as caught,
    ):
        admit_sources(DECLARED, path, now=NOW)
    message = str(caught.value)
    assert "'live_events'" in message and "expired on 2026-12-01T00:00:00+00:00" in message
    assert str(path) in message and "TIKTOK_RISK_ACCEPTANCES_PATH" in message
    assert any(r.levelname == "ERROR" and "expired" in r.getMessage() for r in caplog.records)
    renewed = write(tmp_path, acceptance(accepted_at="2026-06-01", expires_at="2026-12-01"), acceptance())
    assert admit_sources(DECLARED, renewed, now=NOW)["live_events"].expires_at.year == 2027


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "cannot be read"),
        (json.dumps({"acceptances": [acceptance(contingency="")]}), "contingency"),
        (json.dumps({"acceptances": [{k: v for k, v in acceptance().items() if k != "accepted_by"}]}), "accepted_by"),
        (json.dumps({"acceptances": [acceptance(expires_at="2026-11-01")]}), "is not after accepted_at"),
    ],
)
def test_an_unusable_acceptances_file_is_refused_naming_it(tmp_path, content, expected):
    path = tmp_path / "risk_acceptances.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SourceRefused) as caught:
        admit_sources(DECLARED, path, now=NOW)
    assert expected in str(caught.value) and str(path) in str(caught.value)
    assert "TIKTOK_RISK_ACCEPTANCES_PATH" in str(caught.value)


def test_the_definitions_refuse_to_load_an_unofficial_source_until_it_is_accepted(tmp_path):
    settings = Settings(
        warehouse_path=tmp_path / "warehouse.duckdb",
        landing_dir=tmp_path / "landing",
        token_store_path=tmp_path / "tokens.json",
        risk_acceptances_path=tmp_path / "risk_acceptances.json",
    )
    build_definitions(settings)  # the declared live_events is off (TIKTOK_LIVE_INTAKE_DIR unset): nothing to admit
    settings = settings.replace(live__intake_dir=tmp_path / "intake")  # switched on: it must be accepted
    with pytest.raises(SourceRefused, match=r"'live_events' is unofficial .* TIKTOK_RISK_ACCEPTANCES_PATH"):
        build_definitions(settings)
    write(tmp_path, acceptance(accepted_at="2026-01-01", expires_at="2100-01-01"))
    defs = build_definitions(settings)
    assert defs.get_repository_def().get_job("window_pipeline_job")
