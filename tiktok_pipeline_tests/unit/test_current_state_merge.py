"""merge_current_state: a row replaces a video's row only when at least as recent; staleness as of the refresh."""

from datetime import UTC, datetime, timedelta

import polars as pl

from tiktok_pipeline.metrics.current_state import (
    latest_observations,
    merge_current_state,
    refresh_current_state,
    top_movers,
)
from tiktok_pipeline.warehouse.io import Write, connect, read_frame, replace_windows
from tiktok_pipeline.warehouse.tables import ENRICHED_VIDEO_METRICS, VIDEO_VELOCITY

W0 = datetime(2026, 11, 20, 10, 0)


def rows(video: str, window: datetime, observed: datetime, momentum: float) -> pl.DataFrame:
    return pl.DataFrame(
        {"video_id": [video], "window_start": [window], "observed_at": [observed], "momentum": [momentum]}
    )


def state(con) -> dict[str, tuple]:
    frame = read_frame(con, "SELECT video_id, window_start, momentum FROM video_current_state ORDER BY video_id")
    return {r[0]: r[1:] for r in frame.iter_rows()}


def test_only_an_as_recent_row_replaces_and_ties_go_to_the_later_window(tmp_path):
    w1, w2 = W0 + timedelta(minutes=5), W0 + timedelta(minutes=10)
    with connect(tmp_path / "w.duckdb") as con:
        merge_current_state(con, pl.concat([rows("a", w1, w2, 1.0), rows("b", w1, w2, 2.0)]), datetime.now(UTC))
        merged = merge_current_state(con, rows("a", W0, w1, 9.0), datetime.now(UTC))  # older: ignored
        assert merged.applied == 0 and state(con)["a"] == (w1, 1.0)
        merge_current_state(con, rows("a", w1, w2, 3.0), datetime.now(UTC))  # the same window corrected
        assert state(con)["a"] == (w1, 3.0)
        merge_current_state(con, rows("b", w2, w2, 4.0), datetime.now(UTC))  # same instant, later window
        merge_current_state(con, rows("b", w1, w2, 5.0), datetime.now(UTC))  # same instant, earlier window
        assert state(con)["b"] == (w2, 4.0)
        merge_current_state(con, rows("c", W0, w1, 0.5), datetime.now(UTC), rebuild=True)
        assert state(con) == {"c": (W0, 0.5)}


def test_staleness_is_seconds_from_observed_at_to_the_refresh_on_every_row(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        merge_current_state(con, rows("a", W0, W0 + timedelta(minutes=5), 1.0), datetime.now(UTC))
        merge_current_state(con, rows("b", W0, W0 + timedelta(minutes=4), 2.0), datetime.now(UTC))
        at = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
        merge_current_state(con, rows("b", W0, W0, 0.0).clear(), at)  # nothing new: only the staleness moves
        frame = read_frame(con, "SELECT video_id, refreshed_at, staleness_seconds FROM video_current_state ORDER BY 1")
        assert frame.rows() == [("a", at.replace(tzinfo=None), 55 * 60.0), ("b", at.replace(tzinfo=None), 56 * 60.0)]


def test_latest_observations_of_given_windows_and_top_movers_of_the_hour(tmp_path):
    velocity, enriched = [], []
    for i, (video, window, momentum) in enumerate([("a", 0, 5.0), ("a", 13, 1.0), ("b", 13, 2.0), ("c", 0, 9.0)]):
        start = W0 + timedelta(minutes=5 * window)
        velocity.append(
            {
                "window_start": start,
                "observed_at": start + timedelta(minutes=5),
                "video_id": video,
                "momentum": momentum,
                "view_count": i,
            }
        )
        enriched.append(
            {
                "window_start": start,
                "observed_at": start + timedelta(minutes=5),
                "video_id": video,
                "view_count": i,
                "like_count": 10 * i,
                "campaign_ids": [f"camp_{video}"],
            }
        )
    end = W0 + timedelta(minutes=70)
    with connect(tmp_path / "w.duckdb") as con:
        replace_windows(con, W0, end, Write(VIDEO_VELOCITY, pl.DataFrame(velocity)))
        replace_windows(con, W0, end, Write(ENRICHED_VIDEO_METRICS, pl.DataFrame(enriched)))
        only_first = latest_observations(con, [W0])
        assert only_first.sort("video_id").select("video_id", "momentum", "like_count").rows() == [
            ("a", 5.0, 0),
            ("c", 9.0, 30),
        ]
        latest = latest_observations(con, None).sort("video_id")
        assert latest.select("video_id", "momentum", "like_count").rows() == [
            ("a", 1.0, 10),
            ("b", 2.0, 20),
            ("c", 9.0, 30),
        ]
        assert latest["campaign_ids"].to_list() == [["camp_a"], ["camp_b"], ["camp_c"]]
        merge_current_state(con, latest, datetime.now(UTC))
        # c's latest observation (10:05) is more than an hour before the newest (11:10): not a mover now
        assert top_movers(con).select("mover_rank", "video_id").rows() == [(1, "b"), (2, "a")]


def test_a_video_gone_from_its_re_materialised_window_falls_back_to_its_latest_remaining_row(tmp_path):
    w1, w2 = W0 + timedelta(minutes=5), W0 + timedelta(minutes=10)
    frame = pl.concat(
        [
            rows("a", w1, w1 + timedelta(minutes=5), 1.0),
            rows("a", w2, w2 + timedelta(minutes=5), 2.0),
            rows("b", w2, w2 + timedelta(minutes=5), 3.0),
        ]
    )
    with connect(tmp_path / "w.duckdb") as con:
        replace_windows(con, W0, W0 + timedelta(minutes=15), Write(VIDEO_VELOCITY, frame))
        replace_windows(con, W0, W0 + timedelta(minutes=15), Write(ENRICHED_VIDEO_METRICS, frame.drop("momentum")))
        first = refresh_current_state(con, None, datetime.now(UTC))
        assert first.rebuilt and state(con) == {"a": (w2, 2.0), "b": (w2, 3.0)}
        # the 10:10 window re-materialised without a and b (quarantined now, say)
        replace_windows(con, w2, w2 + timedelta(minutes=5), Write(VIDEO_VELOCITY, frame.clear()))
        again = refresh_current_state(con, [w2], datetime.now(UTC))
        assert not again.rebuilt and again.vanished == 2
        assert state(con) == {"a": (w1, 1.0)}  # a's latest remaining row; b has none left
