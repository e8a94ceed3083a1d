"""``governance_report``: per day and source, calls, errors, 429s, quota used against ``SOURCES`` and p95 latency,
for a known call log; materialised through Dagster with plottable figures and a Markdown table."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.governance.call_report import daily_allowance, daily_call_summary
from tiktok_pipeline.governance.sources import SOURCES
from tiktok_pipeline.sources.http.calllog import CallBuffer
from tiktok_pipeline.warehouse.call_log import write_calls
from tiktok_pipeline_tests.conftest import open_warehouse


def _row(day: int, source: str, status: int | None, code: str | None, latency: float, attempts: int = 1) -> dict:
    return {
        "called_at": datetime(2026, 11, day, 10, 0),
        "source": source,
        "endpoint": "/v2/video/query/",
        "purpose": "refresh video counts",
        "http_status": status,
        "error_code": code,
        "attempts": attempts,
        "latency_ms": latency,
    }


KNOWN = [
    _row(20, "display_api", 200, "ok", 10.0),
    _row(20, "display_api", 429, "rate_limit_exceeded", 20.0, attempts=5),
    _row(20, "display_api", 200, "ok", 30.0, attempts=2),
    _row(20, "webhook", None, None, 40.0),
    _row(21, "display_api", 200, "ok", 5.0),
    _row(21, "events_api", 200, "0", 8.0),
    _row(21, "events_api", 200, "40100", 12.0),
]


def test_the_report_of_a_known_log(settings):
    with open_warehouse(settings, read_only=False) as connection:
        write_calls(connection, CallBuffer(list(KNOWN)))
        summary = daily_call_summary(connection)
    rows = {(r["day"], r["source"]): r for r in summary.iter_rows(named=True)}
    display = rows[(date(2026, 11, 20), "display_api")]
    assert (display["calls"], display["errors"], display["throttled_429"], display["attempts"]) == (3, 1, 1, 8)
    assert display["p95_latency_ms"] == pytest.approx(29.0)  # 20 + 0.9 × (30 − 20), interpolated
    allowance = 600 * 86_400 / 60 * 3  # 600 a minute, for each of user/info, video/list, video/query
    assert daily_allowance(SOURCES["display_api"]) == display["allowance_per_day"] == allowance
    assert display["quota_used_pct"] == pytest.approx(round(3 * 100 / allowance, 4))
    webhook = rows[(date(2026, 11, 20), "webhook")]
    assert webhook["errors"] == 1 and webhook["quota_used_pct"] is None  # no answer; no declared limit
    events = rows[(date(2026, 11, 21), "events_api")]
    assert (events["calls"], events["errors"]) == (2, 1)  # 40100: the app's QPS limit, in a 200
    assert events["allowance_per_day"] == 30 * 86_400  # the app's tier, shared with reporting
    assert len(rows) == 4


def test_the_asset_plots_the_latest_day(settings):
    with open_warehouse(settings, read_only=False) as connection:
        write_calls(connection, CallBuffer(list(KNOWN)))
    defs = build_definitions(settings)
    result = dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.assets("governance_report"),
        resources=dict(defs.resources),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    (event,) = result.asset_materializations_for_node("governance_report")
    meta = {k: v.value for k, v in event.metadata.items()}
    assert meta["calls"] == 2 + 1 and meta["errors"] == 1 and meta["days"] == 2  # 2026-11-21
    assert meta["calls_events_api"] == 2 and meta["quota_used_pct_events_api"] == pytest.approx(
        round(2 * 100 / (30 * 86_400), 4)
    )
    assert "| 2026-11-20 | display_api | 3 | 1 | 1 | 8 |" in meta["report"]
    # the approved provider's validation: declared facts and the benchmark's figures with the date measured
    measured = json.loads((Path(__file__).parent.parent / "docs" / "provider-validation.json").read_text())
    assert meta["provider_validation_measured_at"] == measured["measured_at"]
    shown = meta["provider_validation"]
    assert "**analytics_provider**" in shown and "| sourcing |" in shown
    assert f"| effective_refresh_minutes_median | {measured['effective_refresh_minutes_median']} |" in shown
    assert f"| video_coverage | {measured['video_coverage']} |" in shown


def report_with_acceptances(settings, path):
    """governance_report's materialisation event with TIKTOK_RISK_ACCEPTANCES_PATH at ``path``."""
    defs = build_definitions(settings.replace(risk_acceptances_path=path))
    result = dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.assets("governance_report"),
        resources=dict(defs.resources),
        instance=dg.DagsterInstance.ephemeral(),
    )
    (event,) = result.asset_materializations_for_node("governance_report")
    return event


def test_the_report_lists_the_risk_acceptances_on_record_with_their_state(settings, tmp_path):
    from tiktok_pipeline.governance.risk import RiskAcceptance
    from tiktok_pipeline.governance.risk_register import acceptance_states
    from tiktok_pipeline_tests.unit.test_risk_acceptance import DECLARED, NOW, acceptance

    recorded = [
        RiskAcceptance.model_validate(acceptance()),
        RiskAcceptance.model_validate(acceptance(accepted_at="2026-09-01", expires_at="2026-12-01")),
        RiskAcceptance.model_validate(acceptance(source="display_api")),
    ]
    rows = acceptance_states(DECLARED, recorded, NOW, switched_on=[DECLARED["live_events"].switch])
    assert [(r["source"], r["state"], r["standing"]) for r in rows] == [
        ("live_events", "current", "admits the source"),
        ("live_events", "expired", "does not admit the source"),
        ("display_api", "current", "not needed: the source is official"),
    ]
    assert rows[0]["accepted_by"] == "jane@example.com" and rows[0]["contingency"].startswith("remove the source")

    with open_warehouse(settings, read_only=False) as connection:
        write_calls(connection, CallBuffer(list(KNOWN)))
    path = tmp_path / "risk_acceptances.json"
    path.write_text(
        json.dumps({"acceptances": [acceptance(), acceptance(source="display_api", expires_at="2026-12-02")]})
    )
    event = report_with_acceptances(settings, path)
    shown = event.metadata["risk_acceptances"].value
    # the LIVE intake is declared but switched off here: its acceptance admits nothing now, and the report says so
    assert (
        "| live_events | current | would admit the source, which is switched off (TIKTOK_LIVE_INTAKE_DIR unset) |"
        in shown
    )
    assert "| display_api | expired | not needed: the source is official |" in shown
    assert event.metadata["unofficial_sources_admitted"].value == 0

    path.write_text("{not json")  # no unofficial source is switched on: the load does not read it, the report says so
    event = report_with_acceptances(settings, path)
    assert "cannot be read" in event.metadata["risk_acceptances"].value
