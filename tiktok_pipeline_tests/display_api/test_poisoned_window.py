"""A window whose landed responses hold out-of-range values still materialises, velocity included (issue 11, 1 and 3).

Before: one ``view_count`` ≥ 2^63 (or a lone surrogate, ...) failed ``raw_snapshots`` with no row written, and
re-parsing the same landed file failed again for ever; ``like_count`` 2^63 − 1 or a ``create_time`` after the
window failed a blocking check, so the window got no velocity.
"""

from tiktok_pipeline.ingest.landing import read_landing, write_landing
from tiktok_pipeline.windows import WINDOW
from tiktok_pipeline_tests.conftest import T0, open_warehouse
from tiktok_pipeline_tests.test_assets import materialize_range

POISON = {
    "view_count": 2**63,
    "title": "caf\u00e9 \ud800",
    "like_count": 2**63 - 1,
    "create_time": int((T0 + WINDOW).timestamp()) + 60,  # published after the observation
    "duration": 2**31,
    "comment_count": True,
}


def test_out_of_range_values_in_a_landed_file_are_quarantined_and_the_window_goes_on(settings):
    assert materialize_range(settings, T0, T0).success
    (path,) = settings.landing_dir.rglob("*.jsonl.gz")
    records = read_landing(path)
    pages = [r for r in records if r["endpoint"] == "video/list" and not r["error"] and r["payload"]["data"]["videos"]]
    poisoned = []
    for (field, value), page in zip(POISON.items(), pages * len(POISON), strict=False):
        video = next(v for v in page["payload"]["data"]["videos"] if v["id"] not in poisoned)
        video[field] = value
        poisoned.append(video["id"])
    user = next(r for r in records if r["endpoint"] == "user/info")
    user["payload"]["data"]["user"]["display_name"] = "\udfff"
    write_landing(path, records)
    with open_warehouse(settings) as con:
        before = con.execute("SELECT count(*) FROM raw_video_snapshots").fetchone()[0]

    result = materialize_range(settings, T0, T0)  # re-parses the landed file
    assert result.success
    evaluations = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert evaluations["raw_video_schema"].passed and evaluations["enriched_schema"].passed
    assert evaluations["landed_matches_parsed"].passed
    materialized = {e.asset_key.to_user_string() for e in result.all_events if e.is_step_materialization}
    assert {"raw_video_snapshots", "enriched_video_metrics", "video_velocity"} <= materialized
    with open_warehouse(settings) as con:
        rows = con.execute("SELECT count(*) FROM raw_video_snapshots").fetchone()[0]
        reasons = [r[0] for r in con.execute("SELECT reason FROM display_api_quarantine ORDER BY reason").fetchall()]
        creators = con.execute("SELECT count(*) FROM raw_creator_snapshots").fetchone()[0]
    assert rows == before - len(POISON)
    assert len(reasons) == len(POISON) + 1
    for field in [*POISON, "display_name"]:
        assert any(f"{field}:" in reason for reason in reasons), field
    assert creators > 0
