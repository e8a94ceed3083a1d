"""The daily re-fetch of the attribution days, over real HTTP against the served simulator.

TikTok keeps attributing conversions to an hour for days (7 after a view, 28 after a click). The hourly
lookback (at most 48 hours) never sees a revision made 3 days later; the daily re-fetch of the last
``TIKTOK_AD_ATTRIBUTION_DAYS`` does, lands it first, and replaces those hours in one transaction.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.ingest.collect.ads import DAYS_LANDING_SOURCE, LANDING_SOURCE
from tiktok_pipeline.ingest.landing import landing_path, read_landing
from tiktok_pipeline.settings import Settings
from tiktok_pipeline.settings.errors import SettingsError, load_settings
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.windows import WINDOW, window_key

from ..test_assets import read

FIRST = datetime(2026, 11, 20, 10, 35, tzinfo=UTC)
LATER = FIRST + timedelta(days=3)  # the same time of day, three days on
HOUR_3_DAYS_BACK = datetime(2026, 11, 20, 9)  # UTC, as stored


def run(settings: Settings, window: datetime, **config) -> dg.ExecuteInProcessResult:
    """One ads run (raw_ad_metrics) of ``window`` with ``config``, on a fresh ephemeral instance."""
    defs = build_definitions(settings)
    result = dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.assets("raw_ad_metrics"),
        resources=dict(defs.resources),
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=window_key(window),
        run_config={"ops": {"raw_ad_metrics": {"config": config}}} if config else None,
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


def stored(settings: Settings, hour: datetime) -> dict[str, tuple]:
    table = read(settings, "raw_ad_metrics").filter(pl.col("stat_time_hour") == hour)
    return {r["ad_id"]: (r["clicks"], r["conversion"], r["video_id"]) for r in table.iter_rows(named=True)}


def truth(simulator: Simulator, hour: datetime, as_of: datetime) -> dict[str, tuple]:
    """What the served simulator reports for the hour's ads as of ``as_of``: (clicks, conversion, video id)."""
    account = simulator.business.reporting.account
    start = int(hour.replace(tzinfo=UTC).timestamp())
    found = {}
    for ad in account.ads_between(start, start + 3600):
        reported = account.reported(ad, start, as_of.timestamp())
        if reported is not None:
            found[ad.id] = (reported.clicks, reported.conversion, ad.video.id)
    return found


@pytest.fixture
def served(settings):
    simulator = Simulator(clock=lambda: (LATER + timedelta(hours=1)).timestamp())
    with serve_in_thread(simulator, timeout_seconds=0.5) as url:
        yield simulator, settings.replace(display__api_base_url=url, display__api_is_simulator=True)


def test_a_revision_three_days_back_reaches_the_warehouse_after_the_daily_refetch(served):
    simulator, settings = served
    assert settings.ads.ad_attribution_days == 7 and settings.ads.ad_lookback_hours <= 48

    run(settings, FIRST)  # the hourly lookback stores 09:00 as TikTok reports it on the day
    on_the_day = stored(settings, HOUR_3_DAYS_BACK)
    assert on_the_day == truth(simulator, HOUR_3_DAYS_BACK, FIRST + WINDOW) and on_the_day

    revised = truth(simulator, HOUR_3_DAYS_BACK, LATER + WINDOW)
    conversions = lambda rows: sum(v[1] or 0 for v in rows.values())  # noqa: E731
    assert conversions(revised) > conversions(on_the_day)  # TikTok revised the hour in the meantime

    run(settings, LATER)  # the hourly lookback alone never reaches back three days
    assert stored(settings, HOUR_3_DAYS_BACK) == on_the_day

    result = run(settings, LATER, attribution_days=True)  # the daily re-fetch does
    assert stored(settings, HOUR_3_DAYS_BACK) == revised
    days_file = landing_path(settings.landing_dir, DAYS_LANDING_SOURCE, LATER)
    plan = read_landing(days_file)[0]  # landed first, on its own beside the window's lookback
    assert plan["kind"] == "fetch" and plan["attribution_days"] == 7
    assert landing_path(settings.landing_dir, LANDING_SOURCE, LATER).exists()
    first_hour, last_hour = datetime.fromisoformat(plan["hours"][0]), datetime.fromisoformat(plan["hours"][-1])
    assert first_hour == datetime(2026, 11, 16, tzinfo=UTC)  # whole days: local midnight 7 days back
    assert last_hour == datetime(2026, 11, 23, 3, tzinfo=UTC)  # up to the lookback (04:40 .. 10:40: hours 04 .. 10)
    reports = [r for r in read_landing(days_file) if r["kind"] == "report"]
    assert len(reports) == len(plan["dates"]) == 8  # one request per day: hourly reports span one day
    assert all(r["params"]["page_size"] == "1000" for r in reports)

    event = next(e for e in result.get_asset_materialization_events())
    figures = {k: v.value for k, v in event.materialization.metadata.items()}
    assert figures["attribution_hours"] == len(plan["hours"]) and figures["conversions_revised"] > 0
    table = read(settings, "raw_ad_metrics")
    assert table.select("ad_id", "stat_time_hour").is_duplicated().sum() == 0
    every_hour = {h.replace(tzinfo=None) for h in map(datetime.fromisoformat, plan["hours"])}
    assert every_hour <= set(table["stat_time_hour"])  # every attribution hour is stored
    assert table.filter(pl.col("campaign_name") != "cmp-always-on")["video_id"].null_count() == 0

    # a re-run of the window re-parses both landing files: same numbers, nothing staler, no duplicates
    rerun = run(settings, LATER)
    assert (
        read(settings, "raw_ad_metrics").sort("ad_id", "stat_time_hour").equals(table.sort("ad_id", "stat_time_hour"))
    )
    assert next(e for e in rerun.get_asset_materialization_events()).materialization.metadata["fetched"].value is False


def test_the_attribution_days_setting_is_bounded_and_named(monkeypatch):
    monkeypatch.setenv("TIKTOK_AD_ATTRIBUTION_DAYS", "29")
    with pytest.raises(SettingsError, match="TIKTOK_AD_ATTRIBUTION_DAYS='29'.*<= 28"):
        load_settings()
    monkeypatch.setenv("TIKTOK_AD_ATTRIBUTION_DAYS", "28")
    assert load_settings().ads.ad_attribution_days == 28
