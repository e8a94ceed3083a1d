"""creative_swap_recommendations and merchandising_feed materialised on a temporary warehouse from planted windows:
a swap recommended where it must be and nowhere else, idempotent re-runs, the feed's files, its Pandera checks."""

import json

import dagster as dg
import polars as pl
import pytest

from tiktok_pipeline.activation.digest.sections import build_sections
from tiktok_pipeline.activation.digest.swaps_feed import merchandising_digest_section, swaps_digest_section
from tiktok_pipeline.activation.merchandising.files import CSV_NAME, JSON_NAME
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.windows import WINDOW, window_key
from tiktok_pipeline_tests.activation_fixtures import ADS, VIDEOS, plant
from tiktok_pipeline_tests.conftest import T0, open_warehouse

from .test_assets import read

SWAPS = "creative_swap_recommendations"
FEED = "merchandising_feed"


def run(settings, asset, first, last=None, instance=None) -> dg.ExecuteInProcessResult:
    """Materialise ``asset`` for windows ``first`` .. ``last`` (inclusive; default: ``first`` only) as one run."""
    defs = build_definitions(settings)
    return dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.assets(asset),
        resources=dict(defs.resources),
        instance=instance or dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": window_key(first),
            "dagster/asset_partition_range_end": window_key(last or first),
        },
        raise_on_error=False,
    )


@pytest.fixture
def feed_settings(settings, tmp_path):
    return settings.replace(merchandising__feed_dir=tmp_path / "feed", merchandising__feed_size=4)


@pytest.mark.both_backends
def test_a_swap_is_recommended_where_it_must_be_and_a_rerun_replaces_it(feed_settings):
    quiet = T0 + WINDOW  # the next window: no fading ad with enough impressions
    with open_warehouse(feed_settings, read_only=False) as connection:
        plant(connection, T0)
        plant(connection, quiet, ads={"100": ("cmp-holiday-2026", 0.010, 0.020, 500.0)})
    for _ in range(2):
        result = run(feed_settings, SWAPS, T0, quiet)
        assert result.success
    swaps = read(feed_settings, SWAPS)
    assert swaps.select("window_start", "campaign_id", "fading_video_id", "boost_video_id").rows() == [
        (T0.replace(tzinfo=None), "cmp-holiday-2026", "100", "200")
    ]
    row = swaps.row(0, named=True)
    assert row["expected_gain_clicks_per_hour"] == pytest.approx((0.03 - 0.010) * 5000.0)
    assert row["ad_ctr_change_30m"] == pytest.approx(-0.010) and row["video_momentum"] == 4.0
    checks = result.get_asset_check_evaluations()
    assert {(c.check_name, c.partition, c.passed) for c in checks} == {
        ("creative_swap_schema", window_key(T0), True),
        ("creative_swap_schema", window_key(quiet), True),
    }
    by_window = {m.partition: m.metadata for m in result.asset_materializations_for_node(SWAPS)}
    assert by_window[window_key(T0)]["recommendations"].value == 1.0
    assert by_window[window_key(quiet)]["recommendations"].value == 0.0
    assert by_window[window_key(T0)]["fading_creatives"].value == 1.0  # 100; 400 falls on too few impressions
    assert by_window[window_key(quiet)]["fading_creatives"].value == 0.0  # 100 falls on too few impressions
    with open_warehouse(feed_settings) as connection:
        section = swaps_digest_section(connection, T0)
        assert swaps_digest_section(connection, quiet) is None
        assert section in build_sections(connection, T0)  # the window's digest carries it
    assert section is not None and section.link_path == f"/assets/{SWAPS}"
    assert section.lines == (
        "cmp-holiday-2026: boost video 200 (momentum 4.0) instead of 100 (CTR 2.00% → 1.00%), expected +100 clicks/h",
    )


@pytest.mark.both_backends
def test_the_feed_is_ranked_published_and_never_overwritten_by_an_older_window(feed_settings):
    later = T0 + WINDOW
    videos = {**VIDEOS, "600": ("quiet_maker_6", 9.0, 5.0, 0.001)}  # the later window: KIT-06 first
    with open_warehouse(feed_settings, read_only=False) as connection:
        plant(connection, T0)
        plant(connection, later, videos=videos, ads=ADS)
    folder = feed_settings.merchandising.feed_dir
    assert run(feed_settings, FEED, T0).success
    first = json.loads((folder / JSON_NAME).read_text())
    assert [i["sku"] for i in first["items"]] == [
        "SKU-TRVL-PILLOW-03", "SKU-STYLE-HAT-07", "SKU-STYLE-SCARF-02", "SKU-TRVL-BAG-01"
    ]  # fmt: skip
    assert first["feed_version"].startswith(f"{window_key(T0)}-")
    csv_lines = (folder / CSV_NAME).read_text().splitlines()
    assert len(csv_lines) == 5 and csv_lines[1].startswith(first["feed_version"] + ",2026-11-20T10:00:00Z,1,")
    result = run(feed_settings, FEED, later)
    assert result.success
    second = json.loads((folder / JSON_NAME).read_text())
    assert second["items"][0]["sku"] == "SKU-MAKE-KIT-06" and second["feed_version"].startswith(window_key(later))
    backfill = run(feed_settings, FEED, T0)  # an older window again: its rows are replaced, the files are kept
    assert backfill.success
    assert json.loads((folder / JSON_NAME).read_text()) == second
    meta = backfill.asset_materializations_for_node(FEED)[0].metadata
    assert meta["feed_published"].value == "kept_newer"
    rows = read(feed_settings, FEED)
    assert rows.group_by("window_start").len().sort("window_start")["len"].to_list() == [6, 7]  # no duplicates
    assert rows.filter(pl.col("window_start") == T0.replace(tzinfo=None))["feed_version"].unique().to_list() == [
        first["feed_version"]
    ]
    checks = backfill.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("merchandising_feed_schema", True)]
    with open_warehouse(feed_settings) as connection:
        section = merchandising_digest_section(connection, later)
        assert merchandising_digest_section(connection, later + WINDOW) is None
        assert section in build_sections(connection, later)  # the window's digest carries it
    assert section is not None and section.lines[0] == "#1 SKU-MAKE-KIT-06: momentum 9.0 (1 videos)"


def test_a_window_without_momentum_keeps_the_published_feed(feed_settings):
    cold = {"300": ("cozy_traveler_3", None, 80.0, 0.05)}  # no baseline yet: no momentum
    with open_warehouse(feed_settings, read_only=False) as connection:
        plant(connection, T0)
        plant(connection, T0 + 2 * WINDOW, videos=cold, ads={})
    assert run(feed_settings, FEED, T0).success
    before = (feed_settings.merchandising.feed_dir / JSON_NAME).read_bytes()
    result = run(feed_settings, FEED, T0 + 2 * WINDOW)
    assert result.success
    assert result.asset_materializations_for_node(FEED)[0].metadata["feed_published"].value == "nothing to publish"
    assert (feed_settings.merchandising.feed_dir / JSON_NAME).read_bytes() == before


@pytest.mark.both_backends
def test_with_persistence_a_held_surge_is_boosted_not_a_burst(feed_settings):
    """TIKTOK_SURGE_PERSIST_MINUTES=30: bold_stylist_2's video 600 jumps to momentum 9 in the window only (a burst);
    200 has held 4 for 35 minutes. Without persistence 600 is boosted, with it 200."""
    from tiktok_pipeline_tests.activation_fixtures import VIDEOS

    held = {**VIDEOS, "200": ("bold_stylist_2", 4.0, 50.0, 0.03), "600": ("bold_stylist_2", 1.0, 10.0, 0.02)}
    burst = {**held, "600": ("bold_stylist_2", 9.0, 90.0, 0.02)}
    with open_warehouse(feed_settings, read_only=False) as connection:
        for k in range(7, 0, -1):
            plant(connection, T0 - k * WINDOW, videos=held)
        plant(connection, T0, videos=burst)
    boosted = {}
    for persist in (0.0, 30.0):
        assert run(feed_settings.replace(surge__persist_minutes=persist), SWAPS, T0).success
        rows = read(feed_settings, SWAPS).filter(pl.col("campaign_id") == "cmp-holiday-2026")
        boosted[persist] = rows["boost_video_id"].to_list()
    assert boosted == {0.0: ["600"], 30.0: ["200"]}
