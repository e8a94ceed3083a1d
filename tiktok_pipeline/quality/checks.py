"""Quality checks as pure functions: each returns a :class:`CheckOutcome` with failing rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandera.polars as pa
import polars as pl

from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.ingest.parse.display import video_entries

SAMPLE_ROWS = 10


@dataclass
class CheckOutcome:
    """Whether a check passed, how many rows failed, a sample of them and figures for the UI."""

    passed: bool
    failed_rows: int = 0
    sample: pl.DataFrame = field(default_factory=pl.DataFrame)
    figures: dict[str, float] = field(default_factory=dict)
    description: str = ""

    def sample_markdown(self) -> str:
        return markdown_table(self.sample, empty="_no failing rows_", max_chars=80)


def validate_schema(schema: pa.DataFrameSchema, frame: pl.DataFrame) -> CheckOutcome:
    """Run a Pandera schema lazily (every failure collected): failing rows, per-check counts, a sample."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        by_check = cases.group_by("check").len().sort("len", descending=True)
        rows = cases["index"].drop_nulls().unique()
        sample = cases.select("check", "column", "failure_case", "index").head(SAMPLE_ROWS)
        return CheckOutcome(
            passed=False,
            failed_rows=rows.len() if rows.len() else cases.height,
            sample=sample,
            figures={f"failures: {c}": float(n) for c, n in by_check.iter_rows()},
            description=f"{cases.height} failure cases in {schema.name}",
        )
    except pa.errors.SchemaError as exc:  # a missing column or wrong type stops validation early
        return CheckOutcome(passed=False, failed_rows=frame.height, description=str(exc)[:500])
    return CheckOutcome(passed=True, description=f"{frame.height} rows conform to {schema.name}")


def _with_previous(current: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """Each current observation beside the same video's latest earlier observation."""
    prior = previous.select(
        "video_id",
        pl.col("observed_at").alias("previous_observed_at"),
        pl.col("view_count").alias("previous_view_count"),
        pl.col("like_count").alias("previous_like_count"),
    ).sort("video_id", "previous_observed_at")
    return (
        current.sort("video_id", "observed_at")
        .with_columns((pl.col("observed_at") - timedelta(microseconds=1)).alias("_before"))
        .join_asof(
            prior,
            left_on="_before",
            right_on="previous_observed_at",
            by="video_id",
            strategy="backward",
            check_sortedness=False,
        )
        .drop("_before")
        .filter(pl.col("previous_observed_at").is_not_null())
    )


def counts_never_decrease(current: pl.DataFrame, previous: pl.DataFrame) -> CheckOutcome:
    """Views or likes lower than at the video's previous observation (cumulative counts should not drop)."""
    paired = _with_previous(current, previous)
    bad = paired.filter(
        (pl.col("view_count") < pl.col("previous_view_count")) | (pl.col("like_count") < pl.col("previous_like_count"))
    )
    return CheckOutcome(
        passed=bad.is_empty(),
        failed_rows=bad.height,
        sample=bad.select(
            "video_id", "observed_at", "previous_view_count", "view_count", "previous_like_count", "like_count"
        ).head(SAMPLE_ROWS),
        figures={"compared": float(paired.height)},
        description=f"{bad.height} of {paired.height} observations went down since the previous one",
    )


def views_jump(current: pl.DataFrame, previous: pl.DataFrame, factor: float) -> CheckOutcome:
    """Views that grew by more than ``factor``× since the previous observation (and by at least 1,000)."""
    paired = _with_previous(current, previous)
    bad = paired.filter(
        (pl.col("view_count") > pl.col("previous_view_count") * factor)
        & (pl.col("view_count") - pl.col("previous_view_count") >= 1000)
    )
    return CheckOutcome(
        passed=bad.is_empty(),
        failed_rows=bad.height,
        sample=bad.select("video_id", "observed_at", "previous_view_count", "view_count").head(SAMPLE_ROWS),
        figures={"compared": float(paired.height), "factor": factor},
        description=f"{bad.height} observations grew more than {factor}× since the previous one",
    )


def silent_creators(
    tracked: list[str], last_seen: dict[str, datetime | None], as_of: datetime, silence: timedelta
) -> CheckOutcome:
    """Tracked creators with no video observation in the ``silence`` before ``as_of``."""
    silent = [(c, last_seen.get(c)) for c in tracked if last_seen.get(c) is None or as_of - last_seen[c] > silence]  # type: ignore[operator]
    sample = pl.DataFrame(
        {"creator_username": [c for c, _ in silent], "last_observed_at": [t for _, t in silent]},
        schema={"creator_username": pl.String, "last_observed_at": pl.Datetime("us")},
    )
    return CheckOutcome(
        passed=not silent,
        failed_rows=len(silent),
        sample=sample.head(SAMPLE_ROWS),
        figures={"tracked_creators": float(len(tracked))},
        description=f"{len(silent)} of {len(tracked)} creators sent no snapshot for {silence}",
    )


def duplicate_observations(quarantine: pl.DataFrame) -> CheckOutcome:
    """Observations TikTok returned twice for one video in one window (they were quarantined)."""
    dupes = quarantine.filter(pl.col("reason").str.starts_with("duplicate observation"))
    return CheckOutcome(
        passed=dupes.is_empty(),
        failed_rows=dupes.height,
        sample=dupes.select("window_start", "source", "reason").head(SAMPLE_ROWS),
        description=f"{dupes.height} duplicate observations",
    )


def engagement_rate_plausible(enriched: pl.DataFrame, max_rate: float) -> CheckOutcome:
    """Observations whose engagement rate ((likes + comments + shares) / views) is above ``max_rate``.

    A warning, not a structural fault: TikTok updates its counters separately, so a video can for a moment show
    more interactions than views; the row is kept as TikTok reported it.
    """
    bad = enriched.filter(pl.col("engagement_rate") > max_rate)
    columns = ("video_id", "observed_at", "view_count", "like_count", "comment_count", "share_count", "engagement_rate")
    return CheckOutcome(
        passed=bad.is_empty(),
        failed_rows=bad.height,
        sample=bad.select(columns).head(SAMPLE_ROWS),
        figures={"max_engagement_rate": max_rate},
        description=f"{bad.height} of {enriched.height} observations with an engagement rate above {max_rate:g}",
    )


def landed_matches_parsed(landed_records: int, parsed: int, quarantined: int) -> CheckOutcome:
    """Every video record in the landed responses is either a row or a quarantined record."""
    missing = landed_records - parsed - quarantined
    return CheckOutcome(
        passed=missing == 0,
        failed_rows=abs(missing),
        figures={
            "landed_records": float(landed_records),
            "parsed_rows": float(parsed),
            "quarantined": float(quarantined),
        },
        description=f"landed {landed_records} = parsed {parsed} + quarantined {quarantined}"
        + ("" if missing == 0 else f" (off by {missing})"),
    )


def bad_record_share(parsed: int, quarantined: int, threshold: float) -> CheckOutcome:
    """The share of records quarantined must stay at or below ``threshold``."""
    total = parsed + quarantined
    share = quarantined / total if total else 0.0
    return CheckOutcome(
        passed=share <= threshold,
        failed_rows=quarantined if share > threshold else 0,
        figures={"bad_record_share": share, "threshold": threshold},
        description=f"{share:.1%} of {total} records quarantined (threshold {threshold:.1%})",
    )


def landed_video_records(records: list[dict[str, Any]]) -> int:
    """Records the parser was given from successful video responses (a response without a data object
    counts as one record: the parser quarantines it whole)."""
    count = 0
    for record in records:
        if record.get("error") or record.get("endpoint") not in ("video/list", "video/query"):
            continue
        data = record["payload"].get("data") if isinstance(record.get("payload"), dict) else None
        entries = video_entries(data) if isinstance(data, dict) else None
        count += 1 if entries is None else len(entries)  # an unusable response is quarantined whole
    return count
