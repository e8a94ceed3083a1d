"""Parsing one window's landed ad report: rows, quarantined records and the hours it replaces.

Parsing is per row (the pydantic models of :mod:`tiktok_pipeline.sources.business_api.reporting`): a row
that fails validation is quarantined with its raw payload and a reason naming the field, and its stored
value is kept; a fetch with a failed call is not used at all (its hours keep what they had), because
replacing hours from an incomplete report would delete good rows.

``stat_time_hour`` is a local wall time of the advertiser's zone (the plan record's ``timezone``), turned into
UTC with the zone's rules (:func:`utc_hours`). Two wall times have no single UTC hour: one the clocks skip at
spring-forward (no such hour exists, so a row for it is wrong) and the one they repeat at fall-back (it stands
for two UTC hours, and nothing in TikTok's row says which, or whether it sums both). Such rows are quarantined
with a reason naming the zone and the UTC hours, and nothing is stored for them: two hours are never merged
into one, and no hour is invented.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from polars._typing import PolarsDataType
from pydantic import ValidationError

from tiktok_pipeline.ingest.land import LandedWindow
from tiktok_pipeline.ingest.schemas import UnknownSchemaError, pick
from tiktok_pipeline.sources.business_api.reporting import AdInfo, ReportDimensions, ReportRow, data_list
from tiktok_pipeline.warehouse.tables import QUARANTINED_RECORDS, RAW_AD_METRICS
from tiktok_pipeline.windows import utc_naive

ASSET = "raw_ad_metrics"
PARSER_VERSION = "2"
"""``raw_ad_metrics``' ``code_version``: bump it whenever parsing changes what a landed report yields."""


def _reason(error: ValidationError, prefix: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{prefix}{where}: {first['msg']}"


@dataclass
class ParsedFetch:
    """One window's fetch, parsed; ``error`` set means it must not be used."""

    window_start: datetime
    fetched_at: datetime | None
    hours: list[datetime]
    landing_file: str
    rows: pl.DataFrame
    quarantine: pl.DataFrame
    kept_keys: pl.DataFrame
    """(ad_id, stat_time_hour) of quarantined rows: their stored values are kept rather than deleted."""
    error: str | None = None
    request_ids: list[str] = field(default_factory=list)
    pages: int = 0
    outside_lookback: int = 0
    duplicates: int = 0
    ads_without_video: int = 0
    dst_rows: int = 0
    """Rows quarantined because their ``stat_time_hour`` is a skipped or repeated local hour (DST)."""
    timezone: str = "UTC"
    timezone_source: str = ""
    attribution_hours: int = 0
    """Hours of the window's re-fetch of the attribution days among ``hours`` (0: its lookback only)."""

    @property
    def coverage(self) -> pl.DataFrame:
        """One row per hour this fetch replaces, with its fetch instant and window."""
        return pl.DataFrame(
            {
                "stat_time_hour": [utc_naive(h) for h in self.hours],
                "fetched_at": [utc_naive(self.fetched_at)] * len(self.hours)
                if self.fetched_at
                else [None] * len(self.hours),
                "fetched_in_window": [utc_naive(self.window_start)] * len(self.hours),
            },
            schema={
                "stat_time_hour": pl.Datetime("us"),
                "fetched_at": pl.Datetime("us"),
                "fetched_in_window": pl.Datetime("us"),
            },
        )


MODELS: dict[int, tuple[type[AdInfo], type[ReportRow]]] = {1: (AdInfo, ReportRow)}
"""The models of each schema version of the landed API for Business answers (:mod:`tiktok_pipeline.ingest.schemas`):
records landed before versions were recorded are version 1."""
KEY_SCHEMA: dict[str, PolarsDataType] = {"ad_id": pl.String, "stat_time_hour": pl.Datetime("us")}


def parse_fetch(records: list[dict[str, Any]], landing_file: str, window_start: datetime) -> ParsedFetch:
    """Rows, quarantined records and the replaced hours of one landed fetch."""
    meta = next((r for r in records if r.get("kind") == "fetch"), None)
    quarantine: list[dict[str, Any]] = []
    parsed = ParsedFetch(
        window_start=window_start,
        fetched_at=None,
        hours=[],
        landing_file=landing_file,
        rows=RAW_AD_METRICS.empty(),
        quarantine=QUARANTINED_RECORDS.empty(),
        kept_keys=pl.DataFrame(schema=KEY_SCHEMA),
    )
    if meta is None:
        parsed.error = f"{landing_file}: no fetch plan record"
        return parsed
    parsed.fetched_at = datetime.fromisoformat(meta["fetched_at"])
    parsed.hours = [datetime.fromisoformat(h) for h in meta["hours"]]
    parsed.timezone = meta.get("timezone") or "UTC"
    parsed.timezone_source = meta.get("timezone_source") or ""
    zone = ZoneInfo(parsed.timezone)
    parsed.attribution_hours = len(parsed.hours) if meta.get("attribution_days") else 0
    try:  # a fetch is parsed whole or refused whole: a record of a schema version this release cannot read refuses it
        for record in records:
            pick(MODELS, record, f"{record.get('kind') or record.get('endpoint')} record of {landing_file}")
    except UnknownSchemaError as exc:
        parsed.error = str(exc)
        return parsed
    failed = [r for r in records if r.get("error")]
    if failed:
        first = failed[0]
        parsed.error = f"{first.get('method', '')} {first.get('endpoint', '')} failed: {first['error']} (request_id={first.get('request_id')})"
        return parsed

    def bad(record: dict[str, Any], reason: str, payload: Any) -> None:
        quarantine.append(
            {
                "window_start": utc_naive(window_start),
                "source": f"{record.get('endpoint')} {landing_file}",
                "log_id": record.get("request_id"),
                "reason": reason,
                "payload": json.dumps(payload, sort_keys=True, default=str),
                "asset": ASSET,
            }
        )

    ads: dict[str, AdInfo] = {}
    for record in (r for r in records if r.get("kind") == "ads"):
        items = data_list(record)
        if items is None:
            bad(record, "ad/get data.list: not a list", record.get("payload"))
            continue
        for item in items:
            try:
                info = AdInfo.model_validate(item)
            except ValidationError as exc:
                bad(record, _reason(exc, "ad/get "), item)
                continue
            ads[info.ad_id] = info

    hours = {utc_naive(h) for h in parsed.hours}
    rows: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    for record in (r for r in records if r.get("kind") == "report"):
        parsed.pages += 1
        if record.get("request_id"):
            parsed.request_ids.append(record["request_id"])
        items = data_list(record)
        if items is None:
            bad(record, "data.list: not a list", record.get("payload"))
            continue
        for item in items:
            dims = item.get("dimensions") if isinstance(item, dict) else None
            try:
                row = ReportRow.model_validate(item)
            except ValidationError as exc:
                bad(record, _reason(exc, ""), item)
                kept.extend(_keys(dims, zone))
                continue
            candidates = utc_hours(row.dimensions.stat_time_hour, zone)
            if len(candidates) != 1:
                bad(record, local_hour_problem(row.dimensions.stat_time_hour, zone, candidates), item)
                kept.extend({"ad_id": row.dimensions.ad_id, "stat_time_hour": h} for h in candidates)
                parsed.dst_rows += 1
                continue
            hour = candidates[0]
            if hour not in hours:
                parsed.outside_lookback += 1
                continue
            ad = ads.get(row.dimensions.ad_id)
            video_id = ad.tiktok_item_id if ad else None
            parsed.ads_without_video += video_id is None
            rows.append(
                {
                    "stat_time_hour": hour,
                    "ad_id": row.dimensions.ad_id,
                    **row.metrics.model_dump(),
                    "advertiser_id": meta.get("advertiser_id"),
                    "video_id": video_id,
                    "identity_id": ad.identity_id if ad else None,
                    "fetched_at": utc_naive(parsed.fetched_at),
                    "fetched_in_window": utc_naive(window_start),
                    "landing_file": landing_file,
                    "request_id": record.get("request_id"),
                }
            )
    frame = RAW_AD_METRICS.conform(pl.DataFrame(rows, infer_schema_length=None)) if rows else RAW_AD_METRICS.empty()
    unique = frame.unique(subset=["ad_id", "stat_time_hour"], keep="last", maintain_order=True)
    parsed.duplicates = frame.height - unique.height
    parsed.rows = unique
    parsed.quarantine = (
        QUARANTINED_RECORDS.conform(pl.DataFrame(quarantine)) if quarantine else QUARANTINED_RECORDS.empty()
    )
    parsed.kept_keys = (
        pl.DataFrame(kept, schema=KEY_SCHEMA).filter(pl.col("stat_time_hour").is_in(list(hours))).unique()
    )
    return parsed


def utc_hours(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants (naive) a local wall time of ``zone`` stands for: one; none when the clocks skip it
    (spring-forward); two, earlier first, when they repeat it (fall-back)."""
    found: list[datetime] = []
    for fold in (0, 1):
        moment = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if moment.astimezone(zone).replace(tzinfo=None) == wall and utc_naive(moment) not in found:
            found.append(utc_naive(moment))
    return sorted(found)


def local_hour_problem(wall: datetime, zone: ZoneInfo, candidates: list[datetime]) -> str:
    """The quarantine reason of a row whose ``stat_time_hour`` is not exactly one UTC hour."""
    stamp = f"dimensions.stat_time_hour {wall:%Y-%m-%d %H:%M:%S} in {zone.key}"
    if not candidates:
        return f"{stamp} does not exist (the clocks skip it at the DST change): not stored, no hour is invented"
    utc = " and ".join(f"{h:%H:%M}" for h in candidates)
    return (
        f"{stamp} occurs twice (DST fall-back: {utc} UTC) and the report does not say which hour, or whether it"
        " sums both: not stored, so two hours are never merged into one"
    )


def _keys(dims: Any, zone: ZoneInfo) -> list[dict[str, Any]]:
    """(ad_id, UTC hour) of a rejected row whose dimensions are still readable (two at a fall-back)."""
    try:
        valid = ReportDimensions.model_validate(dims)
    except (ValidationError, TypeError):
        return []
    return [{"ad_id": valid.ad_id, "stat_time_hour": h} for h in utc_hours(valid.stat_time_hour, zone)]


def per_window(fetches: list[ParsedFetch]) -> list[ParsedFetch]:
    """One fetch per window, for its figures: a window's lookback and its attribution days (the fetch after it,
    :func:`tiktok_pipeline.ingest.collect.ads.land_ad_windows`) added together; hours, rows and counts summed."""
    merged: list[ParsedFetch] = []
    for fetch in fetches:
        if not merged or merged[-1].window_start != fetch.window_start:
            merged.append(fetch)
            continue
        first = merged[-1]
        merged[-1] = replace(
            first,
            hours=[*first.hours, *fetch.hours],
            landing_file=f"{first.landing_file}, {fetch.landing_file}",
            rows=pl.concat([first.rows, fetch.rows]),
            quarantine=pl.concat([first.quarantine, fetch.quarantine]),
            kept_keys=pl.concat([first.kept_keys, fetch.kept_keys]),
            error=first.error or fetch.error,
            request_ids=[*first.request_ids, *fetch.request_ids],
            pages=first.pages + fetch.pages,
            outside_lookback=first.outside_lookback + fetch.outside_lookback,
            duplicates=first.duplicates + fetch.duplicates,
            ads_without_video=first.ads_without_video + fetch.ads_without_video,
            dst_rows=first.dst_rows + fetch.dst_rows,
            attribution_hours=first.attribution_hours + fetch.attribution_hours,
        )
    return merged


def parse_landed_ads(landed: list[LandedWindow], landing_dir: Path) -> list[ParsedFetch]:
    """:func:`parse_fetch` of each landed window, its file named relative to ``landing_dir``."""
    return [
        parse_fetch(window.records, str(window.path.relative_to(landing_dir)), window.window_start) for window in landed
    ]
