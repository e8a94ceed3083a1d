"""Pacing recommendations of one window from the warehouse: reads, then the pure rules of :mod:`..metrics.pacing`.

What it reads (all written before it, by the ads and video assets): the hourly spend of each ad group
(``raw_ad_metrics``, summed over its ads), the videos its Spark Ads boost (``raw_ad_metrics.video_id``, the
ads' ``tiktok_item_id``, over the trailing two hours), each video's momentum (``video_velocity``) and its ads'
CTR and 30-minute change (``ad_velocity``) in the window, and what already happened to each ad group today
(earlier ``raise``/``lower`` recommendations and answered ``budget_changes``: the cooldown and the day's first
budget). Budgets come from ``adgroup/get`` (the caller reads them once per run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from tiktok_pipeline.activation.window_signals import momentum_history
from tiktok_pipeline.metrics.pacing import (
    Guardrails,
    History,
    Signals,
    Thresholds,
    local_day_start,
    pace,
    recommend,
)
from tiktok_pipeline.metrics.surge import SurgeRule, history_minutes, mark_surging
from tiktok_pipeline.sources.business_api.adgroups import AdGroupBudget
from tiktok_pipeline.warehouse.io import Write, create_or_extend, read_frame, replace_windows, write_transaction
from tiktok_pipeline.warehouse.tables import (
    AD_VELOCITY,
    BUDGET_CHANGES,
    PACING_RECOMMENDATIONS,
    RAW_AD_METRICS,
    VIDEO_VELOCITY,
)
from tiktok_pipeline.windows import WINDOW, utc_naive

DAY_MODE = "BUDGET_MODE_DAY"


@dataclass(frozen=True)
class PacingRules:
    """The spend curve, thresholds and guardrails of a run (from ``PacingSettings``)."""

    weights: tuple[float, ...]
    thresholds: Thresholds
    guardrails: Guardrails
    mode: str = "recommend"
    persist_minutes: float = 0.0
    """``TIKTOK_SURGE_PERSIST_MINUTES``: how long a boosted video's surge must hold (0: one observation)."""
    rising_minutes: float = 15.0


def ensure_tables(connection: duckdb.DuckDBPyConnection) -> None:
    """Create (or migrate) the pacing tables, so their first reads find them."""

    def body(connection: duckdb.DuckDBPyConnection) -> None:
        create_or_extend(connection, PACING_RECOMMENDATIONS)
        create_or_extend(connection, BUDGET_CHANGES)

    write_transaction(connection, body)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _signals(
    connection: duckdb.DuckDBPyConnection, window_start: datetime, now: datetime, rules: PacingRules
) -> dict[str, Signals]:
    """Per ad group: the boosted video with the highest momentum in the window (held, first, under a persistence
    rule), with its ads' CTR figures."""
    frame = read_frame(
        connection,
        f"""WITH links AS (
                SELECT DISTINCT adgroup_id, video_id FROM {RAW_AD_METRICS.name}
                WHERE video_id IS NOT NULL AND stat_time_hour >= ? AND stat_time_hour < ?)
            SELECT l.adgroup_id, l.video_id, v.observed_at, v.momentum, a.ctr, a.ctr_change_30m
            FROM links l
            LEFT JOIN {VIDEO_VELOCITY.name} v ON v.video_id = l.video_id AND v.window_start = ?
            LEFT JOIN {AD_VELOCITY.name} a ON a.video_id = l.video_id AND a.window_start = ?
            ORDER BY l.adgroup_id, v.momentum DESC NULLS LAST, l.video_id""",
        [utc_naive(now - timedelta(hours=2)), utc_naive(now), utc_naive(window_start), utc_naive(window_start)],
    )
    frame = frame.with_columns(pl.lit(True).alias("surging"))
    rule = SurgeRule(rules.thresholds.surge_momentum, rules.persist_minutes, rules.rising_minutes)
    if rule.persist_minutes > 0 and frame.height:
        history = momentum_history(connection, window_start, now, history_minutes(rule))
        frame = mark_surging(frame.drop("surging"), history, rule).sort(
            ["adgroup_id", "surging", "momentum", "video_id"], descending=[False, True, True, False], nulls_last=True
        )
    found: dict[str, Signals] = {}
    for row in frame.iter_rows(named=True):
        found.setdefault(
            row["adgroup_id"],
            Signals(row["momentum"], row["video_id"], row["ctr"], row["ctr_change_30m"], held=row["surging"]),
        )
    return found


def _spend(connection: duckdb.DuckDBPyConnection, now: datetime) -> dict[str, list[tuple[datetime, float]]]:
    frame = read_frame(
        connection,
        f"""SELECT adgroup_id, stat_time_hour, sum(spend) AS spend FROM {RAW_AD_METRICS.name}
            WHERE stat_time_hour >= ? AND stat_time_hour < ? AND spend IS NOT NULL GROUP BY ALL""",
        [utc_naive(now - timedelta(hours=27)), utc_naive(now)],
    )
    found: dict[str, list[tuple[datetime, float]]] = {}
    for row in frame.iter_rows(named=True):
        found.setdefault(row["adgroup_id"], []).append((_aware(row["stat_time_hour"]), row["spend"]))
    return found


def _history(
    connection: duckdb.DuckDBPyConnection, window_start: datetime, day_start: datetime
) -> dict[str, tuple[float, datetime | None]]:
    """Per ad group: the budget before its first change today, and its last change (recommended or applied) before
    the window (the changes of this window's own recommendations, or of later ones, do not count: a re-run
    computes what the first run did)."""
    frame = read_frame(
        connection,
        f"""WITH events AS (
                SELECT adgroup_id, observed_at AS changed_at, budget_before FROM {PACING_RECOMMENDATIONS.name}
                WHERE action IN ('raise', 'lower') AND window_start >= ? AND window_start < ?
                UNION ALL
                SELECT adgroup_id, applied_at AS changed_at, budget_before FROM {BUDGET_CHANGES.name}
                WHERE state = 'answered' AND applied_at >= ? AND applied_at < ? AND recommendation_id NOT IN (
                    SELECT recommendation_id FROM {PACING_RECOMMENDATIONS.name} WHERE window_start >= ?))
            SELECT adgroup_id, arg_min(budget_before, changed_at) AS first_budget, max(changed_at) AS last_at
            FROM events GROUP BY adgroup_id""",
        [
            utc_naive(day_start),
            utc_naive(window_start),
            utc_naive(day_start),
            utc_naive(window_start + WINDOW),
            utc_naive(window_start),
        ],
    )
    return {
        row["adgroup_id"]: (row["first_budget"], _aware(row["last_at"]) if row["last_at"] else None)
        for row in frame.iter_rows(named=True)
    }


def _applied(connection: duckdb.DuckDBPyConnection, window_start: datetime) -> dict[str, float]:
    """Per ad group: the budget before the change this window's own recommendation made (a re-run of the window)."""
    frame = read_frame(
        connection,
        f"""SELECT c.adgroup_id, c.budget_before FROM {BUDGET_CHANGES.name} c
            JOIN {PACING_RECOMMENDATIONS.name} r ON r.recommendation_id = c.change_id
            WHERE r.window_start = ? AND c.state IN ('sent', 'answered')""",
        [utc_naive(window_start)],
    )
    return dict(zip(frame["adgroup_id"].to_list(), frame["budget_before"].to_list(), strict=True))


def window_recommendations(
    connection: duckdb.DuckDBPyConnection,
    window_start: datetime,
    budgets: Mapping[str, AdGroupBudget],
    zone: ZoneInfo,
    rules: PacingRules,
) -> pl.DataFrame:
    """The window's recommendations (``pacing_recommendations`` rows) for the daily-budget ad groups that spent."""
    now = window_start + WINDOW
    spend = _spend(connection, now)
    signals = _signals(connection, window_start, now, rules)
    history = _history(connection, window_start, local_day_start(now, zone))
    applied = _applied(connection, window_start)
    rows = []
    for adgroup_id in sorted(spend):
        budget = budgets.get(adgroup_id)
        if budget is None or budget.budget_mode != DAY_MODE:
            continue
        before = applied.get(adgroup_id, budget.budget)  # a re-run: the budget this window's change started from
        current = pace(adgroup_id, before, spend[adgroup_id], now, zone, rules.weights)
        evidence = signals.get(adgroup_id, Signals())
        first, last = history.get(adgroup_id, (before, None))
        rec = recommend(window_start, now, current, evidence, History(first, last), rules.guardrails, rules.thresholds)
        if rec is None:
            continue
        rows.append(
            {
                "window_start": utc_naive(window_start),
                "recommendation_id": rec.recommendation_id,
                "observed_at": utc_naive(now),
                "adgroup_id": adgroup_id,
                "campaign_id": budget.campaign_id,
                "action": rec.action,
                "budget_before": rec.budget_before,
                "budget_after": rec.budget_after,
                "spent_today": current.spent_today,
                "expected_by_now": current.expected_by_now,
                "pacing_ratio": current.pacing_ratio,
                "projected_eod": current.projected_eod,
                "evidence_video_id": evidence.video_id,
                "momentum": evidence.momentum,
                "ctr": evidence.ctr,
                "ctr_change_30m": evidence.ctr_change_30m,
                "reason": rec.reason,
                "guardrail": rec.guardrail,
                "mode": rules.mode,
            }
        )
    if not rows:
        return PACING_RECOMMENDATIONS.empty()
    return PACING_RECOMMENDATIONS.conform(pl.DataFrame(rows, infer_schema_length=None))


def pace_windows(
    connection: duckdb.DuckDBPyConnection,
    starts: list[datetime],
    budgets: Mapping[str, AdGroupBudget],
    zone: ZoneInfo,
    rules: PacingRules,
) -> pl.DataFrame:
    """The recommendations of each window of ``starts``, in order: a window's holds and cooldowns see the
    recommendations of the windows before it (each is written before the next is computed)."""
    ensure_tables(connection)
    frames = []
    for start in starts:
        frame = window_recommendations(connection, start, budgets, zone, rules)
        replace_windows(connection, start, start + WINDOW, Write(PACING_RECOMMENDATIONS, frame))
        frames.append(frame)
    return pl.concat(frames) if frames else PACING_RECOMMENDATIONS.empty()
