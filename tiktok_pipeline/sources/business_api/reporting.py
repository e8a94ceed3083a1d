"""Hourly ad reports: what a window re-fetches, fetching every page, and parsing the landed answers.

A window's fetch covers the **lookback**: every hour (of the advertiser's time zone) that overlaps the
``lookback_hours`` before the window's end, the still-filling current hour included. TikTok's hourly
reports span one day, so it asks ``report/integrated/get`` (BASIC, ``AUCTION_AD``, dimensions
``["ad_id", "stat_time_hour"]``) once per local date the lookback touches, page after page
(``page_info.total_page``), then ``ad/get`` for the ads seen (100 ids a request) to learn which video
each Spark Ad boosts (``tiktok_item_id``) and as which creator identity (``identity_id``).

Every answer is landed (see :mod:`tiktok_pipeline.ingest.landing`) before anything parses it. Parsing is
per row (pydantic): metrics arrive as strings or integers, ``"-"`` means empty (null); a row that
fails validation is quarantined with its raw payload and a reason naming the field, and a fetch with
a failed call is not used at all (its hours keep what they had), because replacing hours from an
incomplete report would delete good rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import polars as pl
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from tiktok_pipeline.sources.business_api.client import BusinessApiClient, BusinessApiError, BusinessCall
from tiktok_pipeline.warehouse.tables import QUARANTINED_RECORDS, RAW_AD_METRICS
from tiktok_pipeline.windows import WINDOW, utc_naive

REPORT_ENDPOINT = "report/integrated/get"
ADS_ENDPOINT = "ad/get"
LANDING_SOURCE = "business_api/report"
ASSET = "raw_ad_metrics"
ATTRIBUTES = ("campaign_id", "campaign_name", "adgroup_id", "ad_name")
COUNTS = (
    "impressions",
    "clicks",
    "conversion",
    "video_play_actions",
    "video_watched_2s",
    "video_watched_6s",
    "likes",
    "comments",
    "shares",
    "follows",
    "profile_visits",
)
REPORT_METRICS = (*ATTRIBUTES, "spend", *COUNTS)
"""What each report asks for: attribute metrics (names, ids) and the numbers stored in raw_ad_metrics."""
AD_FIELDS = ("ad_id", "tiktok_item_id", "identity_id", "identity_type")
MAX_AD_IDS = 100
MAX_PAGES = 1000
HOUR = timedelta(hours=1)
STAT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


# --- what a window fetches ------------------------------------------------------------------------
@dataclass(frozen=True)
class FetchPlan:
    """One window's fetch: the hours it replaces (UTC starts of local hours) and the dates it asks for."""

    window_start: datetime
    fetched_at: datetime
    hours: tuple[datetime, ...]
    dates: tuple[date, ...]
    timezone: str


def _local_hour_start(moment: datetime, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def plan_fetch(window_start: datetime, fetched_at: datetime, lookback_hours: int, zone: str = "UTC") -> FetchPlan:
    """The hours overlapping ``[window end - lookback_hours, window end)`` and the local dates they fall on."""
    tz = ZoneInfo(zone)
    end = window_start.astimezone(UTC) + WINDOW
    since = end - lookback_hours * HOUR
    hours: list[datetime] = []
    hour = _local_hour_start(end - timedelta(microseconds=1), tz)
    while hour + HOUR > since:
        hours.append(hour)
        hour = _local_hour_start(hour - timedelta(microseconds=1), tz)
    hours.reverse()
    dates = sorted({h.astimezone(tz).date() for h in hours})
    return FetchPlan(window_start, fetched_at, tuple(hours), tuple(dates), zone)


# --- fetching ---------------------------------------------------------------------------------------
def _record(kind: str, call: BusinessCall, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, **call.to_record(), **extra}


def _total_pages(call: BusinessCall) -> int | None:
    data = call.data
    info = data.get("page_info") if isinstance(data, dict) else None
    total = info.get("total_page") if isinstance(info, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None


def _data_list(record: dict[str, Any]) -> list[Any] | None:
    """``payload.data.list`` of a landed call, or None when it is not a list."""
    payload = record.get("payload")
    data = payload.get("data") if isinstance(payload, dict) else None
    items = data.get("list") if isinstance(data, dict) else None
    return items if isinstance(items, list) else None


def _ad_ids(records: Iterable[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        for row in _data_list(record) or []:
            dims = row.get("dimensions") if isinstance(row, dict) else None
            ad_id = dims.get("ad_id") if isinstance(dims, dict) else None
            if isinstance(ad_id, (str, int)) and not isinstance(ad_id, bool):
                seen[str(ad_id)] = None
    return list(seen)


def fetch_window(
    client: BusinessApiClient, advertiser_id: str, plan: FetchPlan, *, page_size: int = 1000
) -> list[dict[str, Any]]:
    """Every call of one window's fetch as landing records, the plan first.

    Stops at the first call that fails (after the client's retries): that record carries the error
    and the request_id, and :func:`parse_fetch` then refuses the whole fetch.
    """
    records: list[dict[str, Any]] = [
        {
            "kind": "fetch",
            "window_start": plan.window_start.isoformat(),
            "fetched_at": plan.fetched_at.isoformat(),
            "hours": [h.isoformat() for h in plan.hours],
            "dates": [d.isoformat() for d in plan.dates],
            "timezone": plan.timezone,
            "advertiser_id": advertiser_id,
        }
    ]
    kind = "report"
    try:
        for day in plan.dates:
            page = 1
            while True:
                params = {
                    "advertiser_id": advertiser_id,
                    "report_type": "BASIC",
                    "service_type": "AUCTION",
                    "data_level": "AUCTION_AD",
                    "dimensions": ["ad_id", "stat_time_hour"],
                    "metrics": list(REPORT_METRICS),
                    "start_date": day.isoformat(),
                    "end_date": day.isoformat(),
                    "page": str(page),
                    "page_size": str(page_size),
                }
                call = client.get(REPORT_ENDPOINT, params, as_of=plan.fetched_at)
                records.append(_record("report", call, report_date=day.isoformat()))
                total = _total_pages(call)
                if total is None:
                    records[-1]["error"] = "data.page_info.total_page: missing or not a non-negative integer"
                    return records
                if page >= min(total, MAX_PAGES):
                    break
                page += 1
        kind = "ads"
        ad_ids = _ad_ids(records)
        for offset in range(0, len(ad_ids), MAX_AD_IDS):
            params = {
                "advertiser_id": advertiser_id,
                "filtering": {"ad_ids": ad_ids[offset : offset + MAX_AD_IDS]},
                "fields": list(AD_FIELDS),
                "page": "1",
                "page_size": str(MAX_AD_IDS),
            }
            records.append(_record("ads", client.get(ADS_ENDPOINT, params, as_of=plan.fetched_at)))
    except BusinessApiError as error:
        records.append(_record(kind, error.call))
    return records


# --- parsing ----------------------------------------------------------------------------------------
def _empty(value: Any) -> Any:
    return None if value is None or (isinstance(value, str) and value.strip() in ("-", "")) else value


def _count(value: Any) -> int | None:
    value = _empty(value)
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("a boolean is not a count")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole count")
        value = int(value)
    if not isinstance(value, int):
        raise ValueError(f"{value!r} is not a count")
    if value >= 2**63:
        raise ValueError(f"{value} does not fit a BIGINT")
    return value


def _money(value: Any) -> float | None:
    value = _empty(value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{value!r} is not an amount")
    try:
        amount = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an amount") from None
    if amount != amount or amount in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} is not a finite amount")
    return amount


def _not_negative(value: float | int | None) -> float | int | None:
    if value is not None and value < 0:
        raise ValueError(f"{value} is negative")
    return value


def _id(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _digits(value: str) -> str:
    if not value.isdigit():
        raise ValueError(f"{value!r} is not an id of digits")
    return value


def _optional_id(value: Any) -> Any:
    value = _empty(_id(value))
    return None if value is None else value


Count = Annotated[int | None, BeforeValidator(_count), AfterValidator(_not_negative)]
Money = Annotated[float | None, BeforeValidator(_money), AfterValidator(_not_negative)]
Id = Annotated[str, BeforeValidator(_id), AfterValidator(_digits)]
OptionalId = Annotated[str | None, BeforeValidator(_optional_id)]


def _stat_hour(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a 'YYYY-MM-DD HH:MM:SS' string")
    try:
        moment = datetime.strptime(value, STAT_TIME_FORMAT)
    except ValueError:
        raise ValueError(f"{value!r} is not a 'YYYY-MM-DD HH:MM:SS' string") from None
    if moment.minute or moment.second:
        raise ValueError(f"{value!r} is not on the hour")
    return moment


StatHour = Annotated[datetime, BeforeValidator(_stat_hour)]


class ReportDimensions(BaseModel):
    """``dimensions`` of an ``AUCTION_AD`` hourly row (``stat_time_hour`` in the advertiser's time zone)."""

    model_config = ConfigDict(extra="ignore")

    ad_id: Id
    stat_time_hour: StatHour


class ReportMetrics(BaseModel):
    """``metrics`` of a row: every metric asked for must be present; ``"-"`` is null."""

    model_config = ConfigDict(extra="ignore")

    campaign_id: OptionalId
    campaign_name: str | None
    adgroup_id: OptionalId
    ad_name: str | None
    spend: Money
    impressions: Count
    clicks: Count
    conversion: Count
    video_play_actions: Count
    video_watched_2s: Count
    video_watched_6s: Count
    likes: Count
    comments: Count
    shares: Count
    follows: Count
    profile_visits: Count


class ReportRow(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dimensions: ReportDimensions
    metrics: ReportMetrics


class AdInfo(BaseModel):
    """One ``ad/get`` record: the link from an ad to the video it boosts."""

    model_config = ConfigDict(extra="ignore")

    ad_id: Id
    tiktok_item_id: OptionalId = None
    identity_id: OptionalId = None
    identity_type: str | None = None


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


KEY_SCHEMA = {"ad_id": pl.String, "stat_time_hour": pl.Datetime("us")}


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
    zone = ZoneInfo(meta.get("timezone") or "UTC")
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
        items = _data_list(record)
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
        items = _data_list(record)
        if items is None:
            bad(record, "data.list: not a list", record.get("payload"))
            continue
        for item in items:
            dims = item.get("dimensions") if isinstance(item, dict) else None
            try:
                row = ReportRow.model_validate(item)
            except ValidationError as exc:
                bad(record, _reason(exc, ""), item)
                key = _key(dims, zone)
                if key is not None:
                    kept.append(key)
                continue
            hour = utc_naive(row.dimensions.stat_time_hour.replace(tzinfo=zone))
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


def _key(dims: Any, zone: ZoneInfo) -> dict[str, Any] | None:
    """(ad_id, UTC hour) of a rejected row whose dimensions are still readable."""
    try:
        valid = ReportDimensions.model_validate(dims)
    except (ValidationError, TypeError):
        return None
    return {"ad_id": valid.ad_id, "stat_time_hour": utc_naive(valid.stat_time_hour.replace(tzinfo=zone))}
