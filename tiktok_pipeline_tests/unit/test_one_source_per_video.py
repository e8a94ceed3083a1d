"""``one_source_per_video`` against its definition: per (window, video) the Display API's rows, else the rows of the
first other source by name, input order kept, sources never mixed (issue 17; made cheap in issue 13)."""

from datetime import datetime

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tiktok_pipeline.metrics.enrichment import PREFERRED_SOURCE, one_source_per_video

SCHEMA = {"window_start": pl.Datetime("us"), "video_id": pl.String, "source": pl.String, "view_count": pl.Int64}


def by_definition(snapshots: pl.DataFrame) -> pl.DataFrame:
    """The rule as a window function over every row (what the function computed before issue 13)."""
    source = pl.col("source").fill_null(PREFERRED_SOURCE)
    rank = pl.when(source == PREFERRED_SOURCE).then(0).otherwise(1)
    ranked = snapshots.with_columns(source, rank.alias("_rank"))
    best = pl.col("source").filter(pl.col("_rank") == pl.col("_rank").min()).min().over("window_start", "video_id")
    return ranked.filter(pl.col("source") == best).drop("_rank")


ROWS = st.lists(
    st.tuples(
        st.sampled_from([datetime(2026, 11, 21), datetime(2026, 11, 21, 0, 5), None]),
        st.sampled_from(["v1", "v2", "v3", None]),
        st.sampled_from([PREFERRED_SOURCE, "analytics_provider", "other_provider", None]),
        st.integers(0, 9),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(ROWS)
def test_the_rows_kept_are_those_of_the_definition_in_input_order(rows):
    snapshots = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    assert one_source_per_video(snapshots).equals(by_definition(snapshots))


def test_display_rows_win_a_provider_row_of_the_same_window_and_video_and_only_then():
    snapshots = pl.DataFrame(
        [
            (datetime(2026, 11, 21), "v1", "analytics_provider", 5),
            (datetime(2026, 11, 21), "v1", PREFERRED_SOURCE, 7),
            (datetime(2026, 11, 21), "v2", "analytics_provider", 3),
            (datetime(2026, 11, 21, 0, 5), "v1", "analytics_provider", 9),
            (datetime(2026, 11, 21), "v3", None, 1),
        ],
        schema=SCHEMA,
        orient="row",
    )
    kept = one_source_per_video(snapshots)
    assert kept.select("video_id", "source", "view_count").rows() == [
        ("v1", PREFERRED_SOURCE, 7),
        ("v2", "analytics_provider", 3),
        ("v1", "analytics_provider", 9),
        ("v3", PREFERRED_SOURCE, 1),
    ]


def test_one_source_throughout_is_returned_as_it_is():
    snapshots = pl.DataFrame([(datetime(2026, 11, 21), "v1", PREFERRED_SOURCE, 7)], schema=SCHEMA, orient="row")
    assert one_source_per_video(snapshots).equals(snapshots)
