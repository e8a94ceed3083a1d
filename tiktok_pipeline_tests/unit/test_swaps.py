"""Creative swaps and the SKU ranking (pure): what must and must not be recommended, and the feed's order."""

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiktok_pipeline.ingest.registry import load_registry
from tiktok_pipeline.metrics.merchandising import feed_items, feed_version, rank_skus, with_versions
from tiktok_pipeline.metrics.swaps import SwapPolicy, recommend_swaps
from tiktok_pipeline.warehouse.tables import AD_VELOCITY, ENRICHED_VIDEO_METRICS, VIDEO_VELOCITY
from tiktok_pipeline_tests.activation_fixtures import ADS, VIDEOS, frames
from tiktok_pipeline_tests.conftest import SHIPPED_REGISTRY, T0

POLICY = SwapPolicy(ctr_change_threshold=-0.002, min_impressions=1000.0, momentum_threshold=2.0)


def _inputs(videos=None, ads=None):
    planted = frames(T0, videos=videos, ads=ads)
    ad_rows = planted[AD_VELOCITY.name].filter(pl.col("active_ads") > 0)
    return ad_rows, _videos(planted)


def _videos(planted):
    """What activation.window_signals.window_videos reads: velocity, the registry's lists, the organic proxies."""
    return (
        planted[VIDEO_VELOCITY.name]
        .join(planted[ENRICHED_VIDEO_METRICS.name].select("video_id", "campaign_ids", "product_skus"), on="video_id")
        .join(planted[AD_VELOCITY.name].select("video_id", "share_rate", "share_rate_30m", "active_ads"), on="video_id")
    )


def test_a_fading_ad_and_a_surging_video_of_its_campaign_make_one_swap_with_its_evidence():
    swaps = recommend_swaps(*_inputs(), POLICY)
    assert swaps.height == 1
    row = swaps.row(0, named=True)
    assert (row["campaign_id"], row["fading_video_id"], row["boost_video_id"]) == ("cmp-holiday-2026", "100", "200")
    assert row["match"] == "campaign" and row["candidates"] == 1  # 300 surges harder but is not in the campaign
    assert (row["ad_ctr"], row["ad_ctr_30m_ago"], row["ad_impressions_60m"]) == (0.010, 0.020, 5000.0)
    assert (row["video_momentum"], row["video_views_per_minute"], row["video_ctr_proxy"]) == (4.0, 50.0, 0.03)
    assert row["expected_gain_clicks_per_hour"] == pytest.approx((0.03 - 0.010) * 5000.0)
    assert row["fading_ad_ids"] == ["9100"] and row["creator_username"] == "bold_stylist_2"


def test_same_creator_counts_and_the_highest_momentum_wins():
    videos = {**VIDEOS, "500": ("sunny_traveler_1", 3.0, 20.0, 0.02)}
    row = recommend_swaps(*_inputs(videos=videos), POLICY).row(0, named=True)
    assert row["boost_video_id"] == "200" and row["candidates"] == 2
    videos["500"] = ("sunny_traveler_1", 5.0, 20.0, 0.02)
    row = recommend_swaps(*_inputs(videos=videos), POLICY).row(0, named=True)
    assert (row["boost_video_id"], row["match"]) == ("500", "creator")


@pytest.mark.parametrize(
    "change",
    [
        {"ads": {"100": ("cmp-holiday-2026", 0.019, 0.020, 5000.0)}},  # CTR barely moved: -0.001 > -0.002
        {"ads": {"100": ("cmp-holiday-2026", 0.010, 0.020, 999.0)}},  # too few impressions
        {"videos": {**VIDEOS, "200": ("bold_stylist_2", 1.9, 50.0, 0.03)}},  # nothing surges in the campaign
        {"ads": {**ADS, "200": ("cmp-holiday-2026", 0.03, 0.03, 9000.0)}},  # the surging video is boosted already
    ],
)
def test_no_swap_without_a_decay_enough_impressions_and_an_organic_surge(change):
    assert recommend_swaps(*_inputs(**change), POLICY).is_empty()


def test_a_creative_never_replaces_itself():
    ads = {"300": ("cmp-spring-launch", 0.010, 0.020, 5000.0)}
    videos = {"300": ("cozy_traveler_3", 6.0, 80.0, 0.05)}
    planted = frames(T0, videos=videos, ads=ads)
    boosted = planted[AD_VELOCITY.name]
    organic = _videos(planted).with_columns(active_ads=pl.lit(0))  # even were it counted as organic
    assert recommend_swaps(boosted, organic, POLICY).is_empty()


def test_skus_rank_by_their_own_creators_videos_first_then_their_campaigns():
    registry = load_registry(SHIPPED_REGISTRY).to_frame()
    rows = with_versions(rank_skus(_inputs()[1], registry), size=3)
    # own creators' videos: PILLOW-03 (300: 6), HAT-07 and SCARF-02 (200: 4, tie -> the SKU), BAG-01 (500: 1.5),
    # CAM-04 (400: 0.5); PAN-05 (quiet_chef_5 has no video) only through its campaigns (300: 6), so last
    assert rows["sku"].to_list() == [
        "SKU-TRVL-PILLOW-03",
        "SKU-STYLE-HAT-07",
        "SKU-STYLE-SCARF-02",
        "SKU-TRVL-BAG-01",
        "SKU-TRVL-CAM-04",
        "SKU-KITCH-PAN-05",
    ]
    assert rows["rank"].to_list() == [1, 2, 3, 4, 5, 6]
    assert rows["creator_momentum"].to_list() == [6.0, 4.0, 4.0, 1.5, 0.5, None]
    pan = rows.filter(pl.col("sku") == "SKU-KITCH-PAN-05").row(0, named=True)
    assert (pan["momentum"], pan["top_video_id"], pan["creator_videos"]) == (6.0, "300", 0)
    bag = rows.filter(pl.col("sku") == "SKU-TRVL-BAG-01").row(0, named=True)
    assert (bag["momentum"], bag["top_video_id"], bag["promoting_videos"], bag["creator_videos"]) == (4.0, "500", 3, 2)
    pillow = rows.filter(pl.col("sku") == "SKU-TRVL-PILLOW-03").row(0, named=True)
    assert (pillow["momentum"], pillow["promoting_videos"], pillow["creator_videos"]) == (6.0, 1, 1)
    assert pillow["top_video_id"] == "300" and pillow["creator_username"] == "cozy_traveler_3"
    items = feed_items(rows, 3)
    assert [i["sku"] for i in items] == rows["sku"].head(3).to_list()
    assert rows["feed_version"].unique().to_list() == [feed_version(T0, items)]
    assert feed_version(T0, items).startswith("2026-11-20-10:00-")
    assert feed_version(T0, items) != feed_version(T0, items[:2])


def test_videos_without_momentum_promote_nothing():
    videos = {"300": ("cozy_traveler_3", float("nan"), 80.0, 0.05)}
    registry = load_registry(SHIPPED_REGISTRY).to_frame()
    planted = _videos(frames(T0, videos=videos, ads={}))
    assert rank_skus(planted.with_columns(pl.lit(None, pl.Float64).alias("momentum")), registry).is_empty()
    assert rank_skus(planted, registry).is_empty()  # NaN is not a momentum either


CREATORS = [c.username for c in load_registry(SHIPPED_REGISTRY).creators]
CAMPAIGNS = ["cmp-holiday-2026", "cmp-creator-fund", "cmp-spring-launch", "cmp-always-on", "cmp-untracked"]
_momentum = st.one_of(st.none(), st.floats(min_value=0, max_value=50), st.just(float("nan")))
_video = st.tuples(st.sampled_from(CREATORS), _momentum, st.floats(0, 1000), st.one_of(st.none(), st.floats(0, 1)))
_ad = st.tuples(st.sampled_from(CAMPAIGNS), st.floats(0, 0.1), st.floats(0, 0.1), st.floats(0, 10_000))


@settings(max_examples=60, deadline=None)
@given(
    videos=st.dictionaries(st.integers(1, 40).map(str), _video, max_size=12),
    ads=st.dictionaries(st.integers(1, 40).map(str), _ad, max_size=6),
)
def test_any_window_ranks_every_promoted_sku_once_and_swaps_only_what_the_rules_allow(videos, ads):
    ads = {video_id: ad for video_id, ad in ads.items() if video_id in videos}
    ad_rows, video_rows = _inputs(videos=videos, ads=ads)
    registry = load_registry(SHIPPED_REGISTRY)
    rows = rank_skus(video_rows, registry.to_frame())
    assert rows["rank"].to_list() == list(range(1, rows.height + 1))
    assert rows["sku"].is_unique().all()
    assert set(rows["sku"]) <= {sku for c in registry.creators for sku in c.product_skus}
    direct = rows["creator_momentum"].is_not_null().to_list()
    assert direct == sorted(direct, reverse=True)  # SKUs with their own creators' videos first
    swaps = recommend_swaps(ad_rows, video_rows, POLICY)
    by_id = {video_id: (creator, momentum) for video_id, (creator, momentum, *_rest) in videos.items()}
    campaigns = {c.username: set(c.campaign_ids) for c in registry.creators}
    for row in swaps.iter_rows(named=True):
        creator, momentum = by_id[row["boost_video_id"]]
        assert row["boost_video_id"] != row["fading_video_id"] and row["boost_video_id"] not in ads
        assert momentum is not None and momentum >= POLICY.momentum_threshold
        assert creator == by_id[row["fading_video_id"]][0] or row["campaign_id"] in campaigns[creator]
        assert row["ad_ctr_change_30m"] <= POLICY.ctr_change_threshold
        assert row["ad_impressions_60m"] >= POLICY.min_impressions
    assert swaps.select("window_start", "campaign_id", "fading_video_id").is_unique().all()


def test_shop_sales_rank_skus_of_the_same_kind_of_promotion_before_momentum():
    registry = load_registry(SHIPPED_REGISTRY).to_frame()
    window = T0.replace(tzinfo=None)
    sales = pl.DataFrame(
        {
            "window_start": [window, window, window],
            "sku": ["SKU-TRVL-CAM-04", "SKU-STYLE-SCARF-02", "SKU-KITCH-PAN-05"],
            "units_60m": [7, 2, 50],
            "revenue_60m": [1043.0, 69.0, 2245.0],
        }
    )
    rows = rank_skus(_inputs()[1], registry, sales)
    # selling SKUs first among those with their own creator's video (CAM-04: 7, SCARF-02: 2), then momentum as before;
    # PAN-05 sells most but only a campaign promotes it: still after every SKU with its own creator's video
    assert rows["sku"].to_list() == [
        "SKU-TRVL-CAM-04",
        "SKU-STYLE-SCARF-02",
        "SKU-TRVL-PILLOW-03",
        "SKU-STYLE-HAT-07",
        "SKU-TRVL-BAG-01",
        "SKU-KITCH-PAN-05",
    ]
    assert rows["units_60m"].to_list() == [7, 2, None, None, None, 50]
    assert feed_items(rows, 1) == [{**feed_items(rows, 1)[0], "units_60m": 7, "revenue_60m": 1043.0}]
    without = rank_skus(_inputs()[1], registry)  # no Shop data: momentum alone, sales columns null
    assert without["sku"].to_list()[0] == "SKU-TRVL-PILLOW-03" and without["units_60m"].null_count() == 6
