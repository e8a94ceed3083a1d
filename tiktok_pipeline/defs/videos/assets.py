"""The window tables: raw snapshots, enriched metrics and velocity, all on 5-minute partitions.

Each asset is thin: it reads its inputs from the warehouse, calls plain functions, replaces its
partitions in one transaction and describes what it wrote. Backfills of many windows run as
one run (``BackfillPolicy.single_run()``), so every asset works on a range of windows.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from tiktok_pipeline.defs.resources import DisplayApiResource, PollingResource, TrackingRegistryResource
from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.governance.telemetry import mark_velocity_ready, window_telemetry
from tiktok_pipeline.ingest.land import WindowNotObservableError, land_window
from tiktok_pipeline.ingest.parse.display import parse_landed
from tiktok_pipeline.ingest.polling.plan import WindowPlan
from tiktok_pipeline.ingest.polling.state import compute_polling_state, write_polling_state
from tiktok_pipeline.metrics.enrichment import SNAPSHOT_COLUMNS, enrich_snapshots
from tiktok_pipeline.metrics.velocity import top_movers, velocity_in_warehouse
from tiktok_pipeline.quality.checks import (
    CheckOutcome,
    bad_record_share,
    counts_never_decrease,
    duplicate_observations,
    landed_matches_parsed,
    landed_video_records,
    silent_creators,
    validate_schema,
    views_jump,
)
from tiktok_pipeline.quality.schemas import QualityPolicy, enriched_schema, raw_video_schema, velocity_schema
from tiktok_pipeline.warehouse.io import WRITER_POOL, WarehouseResource, Write, read_frame, replace_windows
from tiktok_pipeline.warehouse.tables import (
    ENRICHED_VIDEO_METRICS,
    POLL_TELEMETRY,
    QUARANTINED_RECORDS,
    RAW_CREATOR_SNAPSHOTS,
    RAW_VIDEO_SNAPSHOTS,
    VIDEO_VELOCITY,
    TableSpec,
)
from tiktok_pipeline.windows import utc_naive, window_key, window_starts

RAW_VIDEO_DOC = """One row per video and window: cumulative counts as TikTok reported them.

Collected from the Display API (`user/info`, `video/list`, `video/query`) for every creator in the
tracking registry. The raw responses are landed under `data/landing/display_api/` before parsing;
records that fail validation go to `quarantined_records` with their raw payload and reason."""

RAW_CREATOR_DOC = """One row per creator and window: follower, like and video totals from `user/info`."""

TELEMETRY_DOC = """One row per window: requests, videos polled, due-but-deferred (queue depth), retries, 429 and
5xx counts, error rate, request latency percentiles and freshness (window close → data landed, window
close → velocity ready). Derived from the landed responses, so a re-parse reproduces it."""

QUARANTINE_DOC = """Records that failed validation, kept with their raw payload, source (endpoint and landing
file, or export file and line), window and a reason naming the field. Nothing is dropped silently: each
row is one record missing from the table of the asset in its `asset` column (raw_video_snapshots,
raw_ad_metrics, conversion_outbox). Conversion payloads are redacted: personal data only as SHA-256."""

ENRICHED_DOC = """Raw video snapshots joined with the tracking registry (campaign IDs, product SKUs,
audience tags) plus engagement rate = (likes + comments + shares) / views and video age."""

VELOCITY_DOC = """How fast each video moves now: the 30-minute view delta against the latest observation
at or before 30 minutes earlier (as-of join), views per minute over the real elapsed time, the
engagement-rate change, and momentum (recent rate over lifetime rate; above 1 means a surge).
Each run also refreshes the polling state (data/polling_state/) that the polling sensor plans from."""

HISTORY_LIMIT = timedelta(hours=24)
"""How far back velocity looks for a baseline when a video was not observed recently."""


class PollPlanConfig(dg.Config):
    """The polling sensor's plan for one window (see ``tiktok_pipeline.ingest.polling.plan.WindowPlan``)."""

    discover: list[str] = []
    videos: dict[str, list[str]] = {}
    due_videos: int = 0
    deferred_videos: int = 0
    deferred_creators: int = 0
    planned_requests: int = 0
    budget: int = 0
    backoff: float = 1.0
    tiers: dict[str, int] = {}
    gap_windows_before: int = 0

    @classmethod
    def from_plan(cls, plan: WindowPlan, gap_windows_before: int = 0) -> "PollPlanConfig":
        return cls(**plan.model_dump(), gap_windows_before=gap_windows_before)

    def to_plan(self) -> WindowPlan:
        return WindowPlan.model_validate(self.model_dump(exclude={"gap_windows_before"}))


class RawSnapshotsConfig(dg.Config):
    """Run options for collecting raw snapshots."""

    recollect: bool = False
    """Call the API again even when a window's responses are already landed (simulator or recent windows only)."""
    plan: PollPlanConfig | None = None
    """What to poll; none means every creator is discovered (all recent videos observed)."""


KINDS = {"duckdb", "polars"}


def _collect_spec(spec: TableSpec, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        spec.name, description=description, group_name="collect", kinds=KINDS, metadata=spec.asset_metadata
    )


def _check(asset: str, name: str, outcome: CheckOutcome, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    """An asset check result with the failing rows' count, a sample and the check's figures."""
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=outcome.passed,
        severity=severity,
        description=outcome.description,
        metadata={
            "failed_rows": outcome.failed_rows,
            "failing_rows_sample": dg.MetadataValue.md(outcome.sample_markdown()),
            **outcome.figures,
        },
    )


def _range(context: dg.AssetExecutionContext) -> tuple[datetime, datetime]:
    window = context.partition_time_window
    return window.start.astimezone(UTC), window.end.astimezone(UTC)


RAW_CHECKS = {
    "raw_video_schema": "Structure (Pandera): types, non-negative counts, unique (video, window), create_time ≤ observed_at, timestamps inside the window. Blocking.",
    "counts_never_decrease": "Views or likes lower than at the video's previous observation.",
    "views_jump": "Views that grew beyond TIKTOK_QUALITY_MAX_VIEW_JUMP_FACTOR× since the previous observation.",
    "creators_reporting": "Tracked creators with no video observation for TIKTOK_QUALITY_CREATOR_SILENCE_MINUTES.",
    "no_duplicate_observations": "The API returned the same video twice in one window.",
    "landed_matches_parsed": "Every landed video record is a row or a quarantined record.",
    "bad_record_share": "Share of quarantined records at or below TIKTOK_QUALITY_MAX_BAD_RECORD_SHARE.",
}
ERROR_CHECKS = {"raw_video_schema", "bad_record_share"}


def build_assets(
    partitions_def: dg.PartitionsDefinition, quality: QualityPolicy | None = None
) -> list[dg.AssetsDefinition]:
    """The window assets on ``partitions_def``, with their quality checks."""
    quality = quality or QualityPolicy()
    common = dict(
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WRITER_POOL,
    )

    @dg.multi_asset(
        specs=[
            _collect_spec(RAW_VIDEO_SNAPSHOTS, RAW_VIDEO_DOC),
            _collect_spec(RAW_CREATOR_SNAPSHOTS, RAW_CREATOR_DOC),
            _collect_spec(QUARANTINED_RECORDS, QUARANTINE_DOC),
            _collect_spec(POLL_TELEMETRY, TELEMETRY_DOC),
        ],
        check_specs=[
            dg.AssetCheckSpec(name, asset="raw_video_snapshots", description=text, blocking=name == "raw_video_schema")
            for name, text in RAW_CHECKS.items()
        ],
        name="raw_snapshots",
        **common,
    )
    def raw_snapshots(
        context: dg.AssetExecutionContext,
        config: RawSnapshotsConfig,
        display_api: DisplayApiResource,
        tracking_registry: TrackingRegistryResource,
        warehouse: WarehouseResource,
    ):
        """Observe the tracked creators' videos (all of them, or the sensor's plan), land the raw responses, parse them."""
        start, end = _range(context)
        usernames = tracking_registry.load().usernames
        plan = config.plan.to_plan() if config.plan else None
        landed = []
        with display_api.client() as client:
            for window_start in window_starts(start, end):
                try:
                    landed.append(
                        land_window(
                            client,
                            usernames,
                            window_start,
                            now=datetime.now(UTC),
                            landing_dir=Path(display_api.landing_dir),
                            horizon=display_api.horizon,
                            max_age=display_api.max_window_age,
                            observe_at_window_end=display_api.observe_at_window_end,
                            recollect=config.recollect,
                            plan=plan,
                        )
                    )
                except WindowNotObservableError as exc:
                    raise dg.Failure(description=str(exc)) from exc
        root = Path(display_api.landing_dir)
        parsed = [parse_landed(w.records, str(w.path.relative_to(root)), asset="raw_video_snapshots") for w in landed]
        videos = pl.concat([p.videos for p in parsed])
        creators = pl.concat([p.creators for p in parsed])
        quarantine = pl.concat([p.quarantine for p in parsed])
        telemetry = pl.DataFrame(
            [
                window_telemetry(
                    w.window_start,
                    w.records,
                    landed_at=w.landed_at,
                    videos_polled=p.videos.height,
                    plan=plan,
                    gap_windows_before=config.plan.gap_windows_before if config.plan else 0,
                )
                for w, p in zip(landed, parsed, strict=True)
            ],
            infer_schema_length=None,
        )
        with warehouse.connection() as connection:
            replace_windows(
                connection,
                start,
                end,
                Write(RAW_VIDEO_SNAPSHOTS, videos),
                Write(RAW_CREATOR_SNAPSHOTS, creators),
                Write(QUARANTINED_RECORDS, quarantine, {"asset": "raw_video_snapshots"}),
                Write(POLL_TELEMETRY, telemetry),
            )
        failures = {f"{window_key(w.window_start)} {user}": why for w in landed for user, why in w.failures.items()}
        for where, why in failures.items():
            context.log.warning("collection failed for %s: %s", where, why)
        for w in landed:
            for user, why in w.deferred.items():
                context.log.info("%s %s: %s", window_key(w.window_start), user, why)
        if videos.is_empty() and failures:
            raise dg.Failure(
                description=f"no observation landed: every creator failed ({len(failures)} failures)",
                metadata={"failures": dg.MetadataValue.json(failures)},
            )
        yield from raw_checks(
            warehouse,
            videos,
            quarantine,
            sum(landed_video_records(w.records) for w in landed),
            start,
            end,
            usernames,
            quality,
        )
        totals = (
            telemetry.select(
                "requests", "retries", "throttled", "server_errors", "timeouts", "failed_calls", "deferred_videos"
            )
            .sum()
            .row(0, named=True)
        )
        yield dg.MaterializeResult(
            asset_key="raw_video_snapshots",
            metadata={
                **{k: int(v or 0) for k, v in totals.items()},
                "dagster/row_count": videos.height,
                "windows": len(landed),
                "windows_collected": sum(w.collected for w in landed),
                "windows_reparsed": sum(not w.collected for w in landed),
                "quarantined_records": quarantine.height,
                "creator_failures": len(failures),
                "videos": videos["video_id"].n_unique(),
                "landing_files": dg.MetadataValue.json([str(w.path.relative_to(root)) for w in landed][:50]),
            },
        )
        yield dg.MaterializeResult(
            asset_key="raw_creator_snapshots",
            metadata={"dagster/row_count": creators.height, "windows": len(landed)},
        )
        yield dg.MaterializeResult(
            asset_key="quarantined_records",
            metadata={
                "dagster/row_count": quarantine.height,
                "reasons": dg.MetadataValue.md(
                    markdown_table(quarantine.group_by("reason").len().sort("len", descending=True).head(10))
                ),
            },
        )
        last = telemetry.row(-1, named=True)
        yield dg.MaterializeResult(
            asset_key="poll_telemetry",
            metadata={
                "dagster/row_count": telemetry.height,
                **{
                    key: float(last[key] or 0.0)
                    for key in (
                        "requests",
                        "videos_polled",
                        "deferred_videos",
                        "retries",
                        "throttled",
                        "server_errors",
                        "error_rate",
                        "latency_p50_ms",
                        "latency_p95_ms",
                        "latency_p99_ms",
                        "landed_seconds_after_close",
                    )
                },
            },
        )

    @dg.asset(
        name="enriched_video_metrics",
        deps=["raw_video_snapshots"],
        group_name="process",
        kinds=KINDS,
        description=ENRICHED_DOC,
        metadata=ENRICHED_VIDEO_METRICS.asset_metadata,
        check_specs=[
            dg.AssetCheckSpec(
                "enriched_schema",
                asset="enriched_video_metrics",
                blocking=True,
                description="Structure (Pandera): the raw rules plus engagement rate within bounds, null only at 0 views. Blocking.",
            )
        ],
        **common,
    )
    def enriched_video_metrics(
        context: dg.AssetExecutionContext,
        tracking_registry: TrackingRegistryResource,
        warehouse: WarehouseResource,
    ):
        """Snapshots with campaign IDs, SKUs, audience tags and engagement rate."""
        start, end = _range(context)
        registry = tracking_registry.load().to_frame()
        with warehouse.connection() as connection:
            snapshots = read_frame(
                connection,
                f"SELECT {', '.join(SNAPSHOT_COLUMNS)} FROM {RAW_VIDEO_SNAPSHOTS.name} WHERE window_start >= ? AND window_start < ?",
                [utc_naive(start), utc_naive(end)],
            )
            enriched = enrich_snapshots(snapshots, registry)
            replace_windows(connection, start, end, Write(ENRICHED_VIDEO_METRICS, enriched))
        untracked = enriched.filter(pl.col("campaign_ids").list.len() == 0).height
        yield _check(
            "enriched_video_metrics",
            "enriched_schema",
            validate_schema(enriched_schema(start, end, quality), enriched),
            dg.AssetCheckSeverity.ERROR,
        )
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": enriched.height,
                "creators": enriched["creator_username"].n_unique(),
                "rows_without_campaign": untracked,
                "mean_engagement_rate": float(enriched["engagement_rate"].mean() or 0.0),
            }
        )

    @dg.asset(
        name="video_velocity",
        deps=["enriched_video_metrics"],
        group_name="process",
        kinds=KINDS,
        description=VELOCITY_DOC,
        metadata=VIDEO_VELOCITY.asset_metadata,
        check_specs=[
            dg.AssetCheckSpec(
                "velocity_schema",
                asset="video_velocity",
                blocking=True,
                description="Structure (Pandera): unique (video, window), timestamps inside the window, baselines ≥ 30 minutes before. Blocking.",
            )
        ],
        **common,
    )
    def video_velocity(context: dg.AssetExecutionContext, warehouse: WarehouseResource, polling: PollingResource):
        """30-minute view delta, views per minute, engagement-rate change and momentum per video and window."""
        start, end = _range(context)
        with warehouse.connection() as connection:
            velocity = velocity_in_warehouse(
                connection, ENRICHED_VIDEO_METRICS.name, start, end, history_limit=HISTORY_LIMIT
            )
            replace_windows(connection, start, end, Write(VIDEO_VELOCITY, velocity))
            mark_velocity_ready(connection, start, end, datetime.now(UTC))
            state = compute_polling_state(connection, polling.horizon)
        write_polling_state(state, Path(polling.state_dir))
        movers = top_movers(velocity).select(
            "window_start",
            "video_id",
            "creator_username",
            "view_count",
            "view_delta_30m",
            "views_per_minute",
            "momentum",
        )
        with_baseline = velocity.filter(pl.col("baseline_observed_at").is_not_null())
        yield _check(
            "video_velocity",
            "velocity_schema",
            validate_schema(velocity_schema(start, end, quality), velocity),
            dg.AssetCheckSeverity.ERROR,
        )
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": velocity.height,
                "rows_with_baseline": with_baseline.height,
                "max_momentum": float(velocity["momentum"].max() or 0.0),
                "median_views_per_minute": float(with_baseline["views_per_minute"].median() or 0.0),
                "top_movers": dg.MetadataValue.md(markdown_table(movers)),
                "tracked_videos": state.videos.height,
            }
        )

    return [raw_snapshots, enriched_video_metrics, video_velocity]


def raw_checks(
    warehouse: WarehouseResource,
    videos: pl.DataFrame,
    quarantine: pl.DataFrame,
    landed_records: int,
    start: datetime,
    end: datetime,
    tracked: list[str],
    quality: QualityPolicy,
):
    """The checks of ``raw_video_snapshots`` for the windows just written."""
    as_of = utc_naive(end)
    with warehouse.connection() as connection:
        previous = read_frame(
            connection,
            f"""SELECT video_id, observed_at, view_count, like_count FROM {RAW_VIDEO_SNAPSHOTS.name}
                WHERE observed_at >= ? AND observed_at <= ?""",
            [utc_naive(start) - timedelta(days=1), as_of + timedelta(minutes=5)],
        )
        last_seen = dict(
            read_frame(
                connection,
                f"SELECT creator_username, max(observed_at) AS seen FROM {RAW_VIDEO_SNAPSHOTS.name} WHERE observed_at <= ? GROUP BY 1",
                [as_of + timedelta(minutes=5)],
            ).iter_rows()
        )
    video_quarantine = quarantine.filter(pl.col("source").str.starts_with("video/"))
    outcomes = {
        "raw_video_schema": validate_schema(raw_video_schema(start, end, quality), videos),
        "counts_never_decrease": counts_never_decrease(videos, previous),
        "views_jump": views_jump(videos, previous, quality.max_view_jump_factor),
        "creators_reporting": silent_creators(
            tracked, last_seen, as_of + timedelta(minutes=5), timedelta(minutes=quality.creator_silence_minutes)
        ),
        "no_duplicate_observations": duplicate_observations(quarantine),
        "landed_matches_parsed": landed_matches_parsed(landed_records, videos.height, video_quarantine.height),
        "bad_record_share": bad_record_share(videos.height, video_quarantine.height, quality.max_bad_record_share),
    }
    for name, outcome in outcomes.items():
        severity = dg.AssetCheckSeverity.ERROR if name in ERROR_CHECKS else dg.AssetCheckSeverity.WARN
        yield _check("raw_video_snapshots", name, outcome, severity)
