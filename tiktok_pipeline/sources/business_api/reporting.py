"""The reporting part of TikTok's API for Business: endpoints, what is asked for, and models of the answers.

``report/integrated/get`` (BASIC, ``AUCTION_AD``, dimensions ``["ad_id", "stat_time_hour"]``) answers
hourly rows, one local date per request, page after page (``page_info.total_page``); ``ad/get`` tells
which video each Spark Ad boosts (``tiktok_item_id``) and as which creator identity (``identity_id``),
deleted ads included (``secondary_status`` ``AD_STATUS_ALL``). Metrics arrive as strings or integers; ``"-"`` means empty (null). The models below validate one row
each (pydantic); what a window asks for is planned and fetched in :mod:`tiktok_pipeline.ingest.collect.ads`,
and the landed answers are parsed in :mod:`tiktok_pipeline.ingest.parse.ads`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

REPORT_ENDPOINT = "report/integrated/get"
ADS_ENDPOINT = "ad/get"
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
AD_STATUS_ALL = "AD_STATUS_ALL"
"""``ad/get``'s ``secondary_status`` that lists deleted ads too."""
MAX_AD_IDS = 100
"""Ad ids per ``ad/get`` request."""
MAX_PAGES = 1000
"""Report pages read per date at most."""
STAT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def report_params(advertiser_id: str, day: str, page: int, page_size: int) -> dict[str, Any]:
    """Query of one page of a day's hourly ``AUCTION_AD`` report."""
    return {
        "advertiser_id": advertiser_id,
        "report_type": "BASIC",
        "service_type": "AUCTION",
        "data_level": "AUCTION_AD",
        "dimensions": ["ad_id", "stat_time_hour"],
        "metrics": list(REPORT_METRICS),
        "start_date": day,
        "end_date": day,
        "page": str(page),
        "page_size": str(page_size),
    }


def ads_params(advertiser_id: str, ad_ids: list[str]) -> dict[str, Any]:
    """Query of one ``ad/get`` request for up to :data:`MAX_AD_IDS` ads, of every status.

    TikTok's ``ad/get`` leaves deleted ads out unless ``secondary_status`` is ``AD_STATUS_ALL`` (Airbyte's
    manifest; singer-io/tap-tiktok-ads issue 18), while reports keep their hours: without it a deleted Spark
    Ad's hours would lose the video they boosted.
    """
    return {
        "advertiser_id": advertiser_id,
        "filtering": {"ad_ids": ad_ids, "secondary_status": AD_STATUS_ALL},
        "fields": list(AD_FIELDS),
        "page": "1",
        "page_size": str(MAX_AD_IDS),
    }


def total_pages(data: Any) -> int | None:
    """``page_info.total_page`` of an answer's ``data``, or None when missing or not a non-negative integer."""
    info = data.get("page_info") if isinstance(data, dict) else None
    total = info.get("total_page") if isinstance(info, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None


def data_list(record: dict[str, Any]) -> list[Any] | None:
    """``payload.data.list`` of a landed call, or None when it is not a list."""
    payload = record.get("payload")
    data = payload.get("data") if isinstance(payload, dict) else None
    items = data.get("list") if isinstance(data, dict) else None
    return items if isinstance(items, list) else None


# --- validators and models of the answers ---------------------------------------------------------
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
