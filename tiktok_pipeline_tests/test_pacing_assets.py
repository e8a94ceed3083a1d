"""Budget pacing through ``materialize(...)`` on a temporary warehouse, over real HTTP against the served simulator:
recommend mode sends nothing; apply mode sends each change exactly once (re-runs, the cooldown), a crash between send
and record never applies twice, a revert is exactly once too (function and command), and the digest section."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import polars as pl
import pytest
from pydantic import SecretStr

from tiktok_pipeline import cli
from tiktok_pipeline.activation.pacing.digest import pacing_digest_section
from tiktok_pipeline.activation.pacing.outbox import READ_BACK, enqueue, relay, revert
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.ingest.collect.adgroups import LANDING_SOURCE
from tiktok_pipeline.ingest.landing import landing_path, read_landing
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.adgroups import DAY
from tiktok_pipeline.simulator.business.ads import ADVERTISER_ID
from tiktok_pipeline.simulator.business.app import SIM_ACCESS_TOKEN
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.sources.business_api.adgroups import update_budget
from tiktok_pipeline.sources.business_api.client import BusinessApiClient
from tiktok_pipeline.sources.http import SIMULATOR_HOOKS, RetryPolicy
from tiktok_pipeline.warehouse.io import create_or_extend, read_frame, write_transaction
from tiktok_pipeline.warehouse.tables import AD_VELOCITY, RAW_AD_METRICS, VIDEO_VELOCITY
from tiktok_pipeline.windows import WINDOW, utc_naive, window_key
from tiktok_pipeline_tests.conftest import open_warehouse

T0 = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def served():
    simulator = Simulator(clock=lambda: (T0 + WINDOW).timestamp())
    with serve_in_thread(simulator, timeout_seconds=0.5) as url:
        yield simulator, url


def day_groups(simulator) -> list[tuple[str, float]]:
    budgets = simulator.business.budgets
    return [(g.id, budgets.default_budget(g.id)) for g in budgets.adgroups() if budgets.mode(g.id) == DAY][:2]


def _insert(connection: duckdb.DuckDBPyConnection, spec, rows: list[dict]) -> None:
    frame = spec.conform(pl.DataFrame(rows, infer_schema_length=None)).to_arrow()

    def body(connection: duckdb.DuckDBPyConnection) -> None:
        create_or_extend(connection, spec)
        connection.register("_rows", frame)
        connection.execute(f"INSERT INTO {spec.name} BY NAME SELECT * FROM _rows")
        connection.unregister("_rows")

    write_transaction(connection, body)


def seed(settings, simulator) -> tuple[str, str]:
    """Today's hourly spend of two daily-budget ad groups: the first on pace with a surging video whose CTR holds,
    the second overspending (1.5x its curve) while its video's CTR falls. Returns their ids."""
    (surging, b1), (falling, b2) = day_groups(simulator)
    day = T0.replace(hour=0, minute=0)
    ads, videos, velocity = [], [], []
    for group, budget, pace_factor, video, momentum, change in (
        (surging, b1, 1.05, "7300000000000000001", 3.0, 0.001),
        (falling, b2, 1.5, "7300000000000000002", 0.5, -0.01),
    ):
        for h in range(11):  # 00:00 .. 10:00, the current hour included
            ads.append(
                {
                    "stat_time_hour": utc_naive(day + h * HOUR),
                    "ad_id": f"9{group[-6:]}",
                    "adgroup_id": group,
                    "campaign_id": "1",
                    "video_id": video,
                    "spend": round(budget / 24 * pace_factor * (0.5 if h == 10 else 1.0), 2),
                    "fetched_at": utc_naive(T0 + WINDOW),
                    "fetched_in_window": utc_naive(T0),
                }
            )
        for window in (T0, T0 + WINDOW):
            videos.append({"window_start": utc_naive(window), "video_id": video, "momentum": momentum})
            velocity.append(
                {"window_start": utc_naive(window), "video_id": video, "ctr": 0.02, "ctr_change_30m": change}
            )
    with open_warehouse(settings, read_only=False) as connection:
        _insert(connection, RAW_AD_METRICS, ads)
        _insert(connection, VIDEO_VELOCITY, videos)
        _insert(connection, AD_VELOCITY, velocity)
    return surging, falling


def run(settings, url, first: datetime, last: datetime | None = None, **pacing) -> dg.ExecuteInProcessResult:
    served = settings.replace(
        display__api_base_url=url,
        display__api_is_simulator=True,
        **{f"pacing__{k}": v for k, v in pacing.items()},
    )
    defs = build_definitions(served)
    return dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.assets("pacing_recommendations"),
        resources=dict(defs.resources),
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": window_key(first),
            "dagster/asset_partition_range_end": window_key(last or first),
        },
        raise_on_error=False,
    )


def table(settings, name: str) -> pl.DataFrame:
    with open_warehouse(settings) as connection:
        return read_frame(connection, f"SELECT * FROM {name} ORDER BY 1, 2")


def checks_passed(result: dg.ExecuteInProcessResult) -> bool:
    evaluations = result.get_asset_check_evaluations()
    return bool(evaluations) and all(e.passed for e in evaluations)


@pytest.mark.both_backends
def test_recommend_mode_writes_recommendations_with_evidence_and_sends_nothing(settings, served):
    simulator, url = served
    surging, falling = seed(settings, simulator)
    result = run(settings, url, T0)
    assert result.success and checks_passed(result)
    recs = table(settings, "pacing_recommendations")
    by_group = {r["adgroup_id"]: r for r in recs.iter_rows(named=True)}
    assert set(by_group) == {surging, falling}
    up, down = by_group[surging], by_group[falling]
    assert up["action"] == "raise" and up["budget_after"] == pytest.approx(up["budget_before"] * 1.2, abs=0.01)
    assert up["evidence_video_id"] == "7300000000000000001" and up["momentum"] == 3.0 and up["mode"] == "recommend"
    assert down["action"] == "lower" and down["budget_after"] == pytest.approx(down["budget_before"] * 0.8, abs=0.01)
    assert down["pacing_ratio"] == pytest.approx(1.5, rel=0.05) and down["ctr_change_30m"] == -0.01
    assert up["spent_today"] > 0 and up["expected_by_now"] > 0 and up["projected_eod"] <= up["budget_before"]
    assert simulator.business.budgets.changes == []
    assert simulator.business.stats["requests adgroup/budget/update"] == 0
    assert table(settings, "budget_changes").is_empty()
    with open_warehouse(settings) as connection:
        section = pacing_digest_section(connection, T0)
        assert pacing_digest_section(connection, T0 - WINDOW) is None
    assert section is not None and section.link_path == "/assets/pacing_recommendations" and len(section.lines) == 2
    assert all("[recommended]" in line for line in section.lines)


@pytest.mark.both_backends
def test_apply_mode_sends_each_change_exactly_once_across_reruns_and_the_cooldown(settings, served):
    simulator, url = served
    surging, falling = seed(settings, simulator)
    first = run(settings, url, T0, pacing_mode="apply")
    reads = simulator.business.stats["requests adgroup/get"]
    rerun = run(settings, url, T0, pacing_mode="apply")
    assert simulator.business.stats["requests adgroup/get"] == reads  # the re-run re-reads the landed budgets
    landed = read_landing(landing_path(settings.landing_dir, LANDING_SOURCE, T0))
    assert (
        landed
        and {r["endpoint"] for r in landed} == {"adgroup/get"}
        and landed[0]["schema"] == "business_api.adgroup/1"
    )
    later = run(settings, url, T0 + WINDOW, pacing_mode="apply")  # within the cooldown: holds, nothing sent
    assert first.success and rerun.success and later.success
    changes = simulator.business.budgets.changes
    assert sorted(c.adgroup_id for c in changes) == sorted([surging, falling])
    assert simulator.business.stats["requests adgroup/budget/update"] == 2
    log = table(settings, "budget_changes")
    assert log.height == 2 and set(log["state"]) == {"answered"} and log["request_id"].null_count() == 0
    assert set(log["attempts"]) == {1}
    recs = table(settings, "pacing_recommendations")
    assert set(log["change_id"]) == set(recs.filter(pl.col("window_start") == utc_naive(T0))["recommendation_id"])
    held = recs.filter(pl.col("window_start") == utc_naive(T0 + WINDOW))
    assert set(held["action"]) == {"hold"} and set(held["guardrail"]) == {"cooldown"}
    with open_warehouse(settings) as connection:
        section = pacing_digest_section(connection, T0)
    assert section is not None and all(line.endswith("[answered]") for line in section.lines)
    budgets = simulator.business.budgets
    for row in log.iter_rows(named=True):
        assert budgets.budget_at(row["adgroup_id"], (T0 + WINDOW).timestamp()) == row["budget_after"]


def client(url):
    return BusinessApiClient(
        url,
        access_token=SecretStr(SIM_ACCESS_TOKEN),
        retry=RetryPolicy(max_attempts=2, base_seconds=0.01),
        timeout_seconds=5.0,
        request_hooks=SIMULATOR_HOOKS,
    )


def queue_two(connection, simulator) -> list[tuple[str, float]]:
    groups = day_groups(simulator)
    recs = pl.DataFrame(
        {
            "recommendation_id": ["rec-a", "rec-b"],
            "adgroup_id": [g for g, _ in groups],
            "action": ["raise", "raise"],
            "budget_before": [b for _, b in groups],
            "budget_after": [b + 100 for _, b in groups],
        }
    )
    assert enqueue(connection, recs, T0, "run-1") == 2
    assert enqueue(connection, recs, T0, "run-2") == 0  # queued once, whatever happens next
    return groups


def writer(settings):
    return lambda: open_warehouse(settings, read_only=False)


def execute(settings, sql: str) -> None:
    with open_warehouse(settings, read_only=False) as connection:
        connection.execute(sql)


def changes(settings) -> dict[str, dict]:
    return {r["change_id"]: r for r in table(settings, "budget_changes").iter_rows(named=True)}


@pytest.mark.both_backends
def test_a_crash_between_send_and_record_never_applies_twice(settings, served):
    simulator, url = served
    with open_warehouse(settings, read_only=False) as connection:
        (a, budget_a), (b, _) = queue_two(connection, simulator)
    with client(url) as api:
        # rec-a: the request went out and was applied, then the process died before recording the answer
        execute(settings, "UPDATE budget_changes SET state = 'sent', attempts = 1 WHERE change_id = 'rec-a'")
        update_budget(api, ADVERTISER_ID, a, budget_a + 100)
        # rec-b: claimed, then the process died before the request left
        execute(settings, "UPDATE budget_changes SET state = 'sent', attempts = 1 WHERE change_id = 'rec-b'")
        outcomes = relay(writer(settings), api, ADVERTISER_ID, now=T0, run_id="run-3")
        again = relay(writer(settings), api, ADVERTISER_ID, now=T0, run_id="run-4")
    rows = changes(settings)
    assert outcomes == {"confirmed_by_read_back": 1, "answered": 1} and again == {}
    assert [c.adgroup_id for c in simulator.business.budgets.changes] == [a, b]  # each applied once
    assert rows["rec-a"]["state"] == "answered" and rows["rec-a"]["response_message"] == READ_BACK
    assert rows["rec-b"]["state"] == "answered" and rows["rec-b"]["attempts"] == 2 and rows["rec-b"]["request_id"]


@pytest.mark.both_backends
def test_a_budget_changed_meanwhile_is_not_overwritten_and_a_refusal_is_kept(settings, served):
    simulator, url = served
    with open_warehouse(settings, read_only=False) as connection:
        (a, _), _ = queue_two(connection, simulator)
    with client(url) as api:
        execute(settings, "UPDATE budget_changes SET state = 'sent' WHERE change_id = 'rec-a'")
        update_budget(api, ADVERTISER_ID, a, 777.0)  # someone else, by hand
        execute(settings, "UPDATE budget_changes SET budget_after = 5 WHERE change_id = 'rec-b'")  # below minimum
        outcomes = relay(writer(settings), api, ADVERTISER_ID, now=T0, run_id="run-3")
    rows = changes(settings)
    assert outcomes == {"failed": 2}
    assert "changed outside pacing" in rows["rec-a"]["response_message"]
    assert rows["rec-b"]["response_code"] == 40002 and "at least 20.00" in rows["rec-b"]["response_message"]
    assert [c.after for c in simulator.business.budgets.changes] == [777.0]


@pytest.mark.both_backends
def test_revert_restores_the_budget_exactly_once_and_is_logged(settings, served, monkeypatch, capsys):
    simulator, url = served
    with open_warehouse(settings, read_only=False) as connection:
        (a, budget_a), _ = queue_two(connection, simulator)
    with client(url) as api:
        relay(writer(settings), api, ADVERTISER_ID, now=T0, run_id="run-1")
        revert_id, outcomes = revert(writer(settings), api, ADVERTISER_ID, "rec-a", now=T0 + HOUR)
        _, twice = revert(writer(settings), api, ADVERTISER_ID, "rec-a", now=T0 + HOUR)
        with pytest.raises(ValueError, match="no change"):
            revert(writer(settings), api, ADVERTISER_ID, "nope", now=T0)
        with pytest.raises(ValueError, match="is a revert"):
            revert(writer(settings), api, ADVERTISER_ID, revert_id, now=T0)
    rows = changes(settings)
    assert revert_id == "revert-rec-a" and outcomes == {"answered": 1} and twice == {}
    afters = [(c.adgroup_id, c.after) for c in simulator.business.budgets.changes if c.adgroup_id == a]
    assert afters == [(a, budget_a + 100), (a, budget_a)]
    assert rows["rec-a"]["reverted_by"] == "revert-rec-a"
    assert rows["revert-rec-a"]["budget_before"] == budget_a + 100 and rows["revert-rec-a"]["budget_after"] == budget_a
    # the command: the same revert, through settings from the environment
    if settings.warehouse.is_lake:
        return
    monkeypatch.setenv("TIKTOK_WAREHOUSE_PATH", str(settings.warehouse_path))
    monkeypatch.setenv("TIKTOK_API_BASE_URL", url)
    monkeypatch.setenv("TIKTOK_API_IS_SIMULATOR", "true")
    assert cli.main(["pacing", "revert", "rec-b"]) == 0
    assert cli.main(["pacing", "revert", "rec-b"]) == 0
    assert cli.main(["pacing", "revert", "missing"]) == 2
    out = capsys.readouterr()
    assert "revert-rec-b: answered: 1" in out.out and "already settled, nothing sent" in out.out
    assert "no change 'missing'" in out.err
    assert simulator.business.stats["requests adgroup/budget/update"] == 4
    with open_warehouse(settings) as connection:  # the command's calls are in api_call_log, without the token
        logged = connection.execute(
            "SELECT endpoint, scope, http_status FROM api_call_log WHERE purpose = 'budget pacing revert'"
        ).fetchall()
    assert ("/open_api/v1.3/adgroup/budget/update/", "Ads Management", 200) in logged


def test_revert_without_any_change_is_a_clear_refusal(tmp_path, monkeypatch, capsys):
    """A new installation (no warehouse file), then a warehouse pacing never wrote to: exit 2 naming why, no
    traceback, and no warehouse file created by the command."""
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("TIKTOK_WAREHOUSE_PATH", str(warehouse))
    monkeypatch.setenv("TIKTOK_LANDING_DIR", str(tmp_path / "landing"))
    assert cli.main(["pacing", "revert", "rec-a"]) == 2
    assert f"no warehouse at {warehouse}" in capsys.readouterr().err and not warehouse.exists()
    duckdb.connect(str(warehouse)).close()  # a warehouse without budget_changes
    assert cli.main(["pacing", "revert", "rec-a"]) == 2
    assert "budget_changes has no change 'rec-a' (no budget change was ever queued)" in capsys.readouterr().err
