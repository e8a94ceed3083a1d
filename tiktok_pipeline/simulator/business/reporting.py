"""``report/integrated/get`` and ``ad/get`` of the simulated API for Business, with TikTok's quirks.

- Synchronous BASIC reports at ``AUCTION_AD`` (also ``AUCTION_ADGROUP``, ``AUCTION_CAMPAIGN``,
  ``AUCTION_ADVERTISER``, summed from the ads), one id dimension plus ``stat_time_hour`` (the span must
  be one day) or ``stat_time_day`` (at most 30 days). ``dimensions``, ``metrics`` (and ``ad/get``'s
  ``filtering`` and ``fields``) arrive as JSON strings in the query.
- Rows ``{"dimensions": {...}, "metrics": {...}}`` paged with ``page``/``page_size`` (≤ 1000) and
  ``page_info {page, page_size, total_number, total_page}``, ordered by time, then id.
- Counts come back as strings or integers (a seeded choice per cell); money and ratios as strings with
  two decimals; ``"-"`` where a metric is empty: conversions of a REACH campaign, CTR without
  impressions, CPC without clicks, video-view metrics still being computed for a recent hour.
- Reporting latency and attribution revisions as modelled by :class:`.ads.AdAccount` (answered as of
  the request's as-of instant).
- **The account's time zone**: dates, ``stat_time_hour`` (an hour's local start) and ``stat_time_day`` are
  local; a DST day has 23 or 25 hours. The fall-back hour's two hours share one label, and what TikTok sends
  then is not documented: :attr:`Reporting.fall_back_rows` is ``"merged"`` (default: one row summing both)
  or ``"separate"`` (two rows with one label, the earlier first).
- ``ad/get`` lists the account's ads of the last ``AD_LIST_DAYS`` (60) days, long enough for a 28-day
  re-read; deleted ads only when ``filtering`` asks ``{"secondary_status": "AD_STATUS_ALL"}`` (or
  ``AD_STATUS_DELETE``), as TikTok does: by default it answers every status but deleted.
- Parameter errors are code 40002 with a message that names the parameter; an advertiser the token
  cannot see is 40001.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from tiktok_pipeline.simulator.business.ads import CURRENCY, HOUR, Ad, AdAccount
from tiktok_pipeline.simulator.business.attribution import HourMetrics
from tiktok_pipeline.simulator.business.budgets import local_midnight
from tiktok_pipeline.simulator.business.params import (
    bad_parameter,
    check_advertiser,
    date_parameter,
    json_parameter,
    page_of,
    required,
    string_list,
)
from tiktok_pipeline.simulator.business.protocol import BusinessRequest, Endpoint
from tiktok_pipeline.simulator.randomness import unit

COUNT_METRICS = (
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
RATIO_METRICS = ("ctr", "cpc", "cpm", "cost_per_conversion")
LEVEL_ID = {
    "AUCTION_AD": "ad_id",
    "AUCTION_ADGROUP": "adgroup_id",
    "AUCTION_CAMPAIGN": "campaign_id",
    "AUCTION_ADVERTISER": "advertiser_id",
}
ATTRIBUTE_LEVELS = {
    "campaign_id": {"AUCTION_AD", "AUCTION_ADGROUP"},
    "campaign_name": {"AUCTION_AD", "AUCTION_ADGROUP", "AUCTION_CAMPAIGN"},
    "adgroup_id": {"AUCTION_AD"},
    "adgroup_name": {"AUCTION_AD", "AUCTION_ADGROUP"},
    "ad_name": {"AUCTION_AD"},
    "currency": set(LEVEL_ID),
}
METRICS = {*COUNT_METRICS, "spend", *RATIO_METRICS, *ATTRIBUTE_LEVELS}
MAX_DAILY_SPAN_DAYS = 30
AD_FIELDS = (
    "advertiser_id",
    "campaign_id",
    "campaign_name",
    "adgroup_id",
    "adgroup_name",
    "ad_id",
    "ad_name",
    "ad_format",
    "identity_type",
    "identity_id",
    "tiktok_item_id",
    "operation_status",
    "secondary_status",
    "create_time",
    "modify_time",
)
AD_LIST_DAYS = 60
"""``ad/get`` lists ads created within this many days before the as-of instant (the account's history)."""
AD_STATUSES = ("AD_STATUS_NOT_START", "AD_STATUS_DELIVERY_OK", "AD_STATUS_DONE", "AD_STATUS_DELETE")
SECONDARY_STATUS_FILTERS = ("AD_STATUS_ALL", "AD_STATUS_NOT_DELETE", *AD_STATUSES)
"""``filtering.secondary_status`` values: every status, every status but deleted (the default), or one status."""
MAX_FILTER_IDS = 100


FallBackRows = Literal["merged", "separate"]
STAMP = "%Y-%m-%d %H:%M:%S"


def _stamp(epoch: float, zone: ZoneInfo | None = None) -> str:
    return datetime.fromtimestamp(epoch, zone or UTC).strftime(STAMP)


def _sum(values: list[int | float | None]) -> int | float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _ratio(numerator: float | None, denominator: float | None, scale: float = 1.0) -> str:
    if numerator is None or not denominator:
        return "-"
    return f"{numerator / denominator * scale:.2f}"


class Reporting:
    """The reporting endpoints over one :class:`AdAccount` (registered as ``api.reporting``)."""

    def __init__(self, account: AdAccount, fall_back_rows: FallBackRows = "merged") -> None:
        self.account = account
        self.fall_back_rows: FallBackRows = fall_back_rows
        """How the repeated local hour of a DST fall-back is answered (see the module docstring)."""

    # --- report/integrated/get -----------------------------------------------------------------
    def report(self, request: BusinessRequest) -> dict[str, Any]:
        params = request.params
        check_advertiser(params, self.account)
        report_type = required(params, "report_type")
        if report_type != "BASIC":
            raise bad_parameter("report_type", f"{report_type!r} is not supported here; use BASIC.")
        if params.get("service_type", "AUCTION") != "AUCTION":
            raise bad_parameter("service_type", f"must be AUCTION, got {params['service_type']!r}.")
        if params.get("query_lifetime", "false").lower() == "true":
            raise bad_parameter("query_lifetime", "lifetime reports are not simulated; pass start_date and end_date.")
        level = required(params, "data_level")
        if level not in LEVEL_ID:
            raise bad_parameter("data_level", f"must be one of {', '.join(LEVEL_ID)}, got {level!r}.")
        dimensions = string_list(params, "dimensions") or []
        time_dimensions = [d for d in dimensions if d in ("stat_time_hour", "stat_time_day")]
        id_dimension = LEVEL_ID[level]
        if len(time_dimensions) != 1 or set(dimensions) != {id_dimension, time_dimensions[0]}:
            raise bad_parameter(
                "dimensions",
                f"must be [{id_dimension!r}] plus one of 'stat_time_hour', 'stat_time_day' at {level}, got {dimensions}.",
            )
        hourly = time_dimensions[0] == "stat_time_hour"
        metrics = string_list(params, "metrics") or []
        for metric in metrics:
            if metric not in METRICS:
                raise bad_parameter("metrics", f"unknown metric {metric!r}.")
            if metric in ATTRIBUTE_LEVELS and level not in ATTRIBUTE_LEVELS[metric]:
                raise bad_parameter("metrics", f"{metric!r} is not available at data_level {level}.")
        start, end = date_parameter(params, "start_date"), date_parameter(params, "end_date")
        if end < start:
            raise bad_parameter("end_date", "must not be before start_date.")
        if hourly and end != start:
            raise bad_parameter(
                "end_date", "an hourly report (stat_time_hour) spans one day: start_date must equal end_date."
            )
        if (end - start).days + 1 > MAX_DAILY_SPAN_DAYS:
            raise bad_parameter("end_date", f"the date range is at most {MAX_DAILY_SPAN_DAYS} days.")

        rows = self._rows(level, hourly, start, end, request.as_of)
        rows.sort(key=lambda row: (row["time"], row["id"]))
        formatted = [
            {
                "dimensions": {id_dimension: row["id"], time_dimensions[0]: row["time"]},
                "metrics": self._metrics(row, metrics),
            }
            for row in rows
        ]
        return page_of(formatted, params, default_size=10)

    def _rows(self, level: str, hourly: bool, start: date, end: date, as_of: float) -> list[dict[str, Any]]:
        """Reported ad-hours as of ``as_of`` (local hours of ``start`` .. ``end``, stamped with their local wall
        time, a day with its local date), summed to the level's id and the time granularity."""
        zone = self.account.zone
        lo = local_midnight(start, zone)
        hi = local_midnight(end + timedelta(days=1), zone)
        groups: dict[tuple[object, str], dict[str, Any]] = {}
        for ad in self.account.ads_between(lo, min(hi, as_of)):
            for hour in range(int(lo), int(min(hi, as_of)), HOUR):
                metrics = self.account.reported(ad, hour, as_of)
                if metrics is None:
                    continue
                stamp = _stamp(hour, zone)
                if not hourly:
                    stamp = stamp[:10] + " 00:00:00"
                slot = hour if hourly and self.fall_back_rows == "separate" else stamp
                key = self._key(ad, level)
                group = groups.setdefault(
                    (slot, key), {"time": stamp, "id": key, "ad": ad, "level": level, "parts": []}
                )
                group["parts"].append(metrics)
        return list(groups.values())

    def _key(self, ad: Ad, level: str) -> str:
        return {
            "AUCTION_AD": ad.id,
            "AUCTION_ADGROUP": ad.adgroup.id,
            "AUCTION_CAMPAIGN": ad.campaign.id,
            "AUCTION_ADVERTISER": self.account.advertiser_id,
        }[level]

    def _metrics(self, row: dict[str, Any], metrics: list[str]) -> dict[str, Any]:
        parts: list[HourMetrics] = row["parts"]
        totals = {name: _sum([getattr(p, name) for p in parts]) for name in (*COUNT_METRICS, "spend")}
        ad: Ad = row["ad"]
        attributes = {
            "campaign_id": ad.campaign.id,
            "campaign_name": ad.campaign.name,
            "adgroup_id": ad.adgroup.id,
            "adgroup_name": ad.adgroup.name,
            "ad_name": ad.name,
            "currency": CURRENCY,
        }
        spend = totals["spend"]
        out: dict[str, Any] = {}
        for name in metrics:
            if name in attributes:
                out[name] = attributes[name]
            elif name == "spend":
                out[name] = f"{spend:.2f}"
            elif name == "ctr":
                out[name] = _ratio(totals["clicks"], totals["impressions"], 100)
            elif name == "cpc":
                out[name] = _ratio(spend, totals["clicks"])
            elif name == "cpm":
                out[name] = _ratio(spend, totals["impressions"], 1000)
            elif name == "cost_per_conversion":
                out[name] = _ratio(spend, totals["conversion"])
            else:
                value = totals[name]
                if value is None:
                    out[name] = "-"
                else:
                    as_string = unit(self.account.seed, "format", row["id"], row["time"], name) < 0.5
                    out[name] = str(value) if as_string else value
        return out

    # --- ad/get -----------------------------------------------------------------------------------
    def ads(self, request: BusinessRequest) -> dict[str, Any]:
        params = request.params
        check_advertiser(params, self.account)
        filtering = json_parameter(params, "filtering", dict) or {}
        status = filtering.pop("secondary_status", "AD_STATUS_NOT_DELETE")
        if status not in SECONDARY_STATUS_FILTERS:
            raise bad_parameter("filtering.secondary_status", f"must be one of {', '.join(SECONDARY_STATUS_FILTERS)}.")
        wanted: dict[str, set[str]] = {}
        for name, value in filtering.items():
            if name not in ("ad_ids", "adgroup_ids", "campaign_ids"):
                raise bad_parameter(
                    f"filtering.{name}", "unknown filter; use ad_ids, adgroup_ids, campaign_ids or secondary_status."
                )
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad_parameter(f"filtering.{name}", "must be a JSON array of id strings.")
            if len(value) > MAX_FILTER_IDS:
                raise bad_parameter(f"filtering.{name}", f"at most {MAX_FILTER_IDS} ids, got {len(value)}.")
            wanted[name] = set(value)
        fields = string_list(params, "fields", required=False) or list(AD_FIELDS)
        unknown = [f for f in fields if f not in AD_FIELDS]
        if unknown:
            raise bad_parameter("fields", f"unknown fields {unknown}.")
        listed = []
        for ad in self.account.ads_created(request.as_of, request.as_of - AD_LIST_DAYS * 86400):
            if "ad_ids" in wanted and ad.id not in wanted["ad_ids"]:
                continue
            if "adgroup_ids" in wanted and ad.adgroup.id not in wanted["adgroup_ids"]:
                continue
            if "campaign_ids" in wanted and ad.campaign.id not in wanted["campaign_ids"]:
                continue
            record = self._ad_record(ad, request.as_of)
            if not _status_matches(record["secondary_status"], status):
                continue
            listed.append({field: record[field] for field in fields})
        return page_of(listed, params, default_size=10)

    def _ad_record(self, ad: Ad, as_of: float) -> dict[str, Any]:
        deleted = ad.deleted is not None and ad.deleted <= as_of
        if deleted:
            status = "AD_STATUS_DELETE"
        elif as_of < ad.start:
            status = "AD_STATUS_NOT_START"
        elif as_of < ad.end:
            status = "AD_STATUS_DELIVERY_OK"
        else:
            status = "AD_STATUS_DONE"
        return {
            "advertiser_id": self.account.advertiser_id,
            "campaign_id": ad.campaign.id,
            "campaign_name": ad.campaign.name,
            "adgroup_id": ad.adgroup.id,
            "adgroup_name": ad.adgroup.name,
            "ad_id": ad.id,
            "ad_name": ad.name,
            "ad_format": "SINGLE_VIDEO",
            "identity_type": "AUTH_CODE",
            "identity_id": ad.identity_id,
            "tiktok_item_id": ad.video.id,
            "operation_status": "DISABLE" if deleted else "ENABLE",
            "secondary_status": status,
            "create_time": _stamp(ad.create_time),
            "modify_time": _stamp(ad.deleted if deleted and ad.deleted else min(max(as_of, ad.create_time), ad.end)),
        }


def _status_matches(status: str, wanted: str) -> bool:
    if wanted == "AD_STATUS_ALL":
        return True
    if wanted == "AD_STATUS_NOT_DELETE":
        return status != "AD_STATUS_DELETE"
    return status == wanted


def reporting_endpoints(reporting: Reporting) -> dict[str, Endpoint]:
    """The reporting routes for :func:`..app.default_endpoints` (which sets ``api.reporting``)."""
    return {
        "report/integrated/get": Endpoint("GET", reporting.report),
        "ad/get": Endpoint("GET", reporting.ads),
    }
