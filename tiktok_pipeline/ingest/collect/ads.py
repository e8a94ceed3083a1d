"""Collecting one window's hourly ad report from the API for Business: which hours, which calls.

A window's fetch covers the **lookback**: every hour (of the advertiser's time zone) that overlaps the
``lookback_hours`` before the window's end, the still-filling current hour included. The zone is the
account's, read from ``advertiser/info`` once per run (:class:`ZoneLookup`; its answer is landed with every
window that used it) unless ``TIKTOK_ADVERTISER_TIMEZONE`` overrides it. TikTok's hourly
reports span one day, so it asks ``report/integrated/get`` once per local date the lookback touches,
page after page, then ``ad/get`` for the ads seen (100 ids a request) to learn which video each Spark
Ad boosts. Every answer becomes a landing record, landed through :func:`tiktok_pipeline.ingest.land.land`
before anything parses it (:mod:`tiktok_pipeline.ingest.parse.ads`).

Attribution keeps revising an hour for days (TikTok attributes up to 7 days after a view, 28 after a
click), so once a day a window's run also re-fetches the **attribution days** (:func:`plan_days`): every
hour from local midnight ``attribution_days`` days back up to its lookback, landed on their own under
``business_api/report_days/`` (one file per window, like the lookback's) and replaced like the lookback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tiktok_pipeline.ingest.land import Collected, LandedWindow, WindowNotObservableError, land
from tiktok_pipeline.ingest.landing import landing_path
from tiktok_pipeline.sources.business_api.advertiser import (
    ADVERTISER_ENDPOINT,
    AdvertiserZone,
    advertiser_params,
    overridden,
    zone_from_answer,
)
from tiktok_pipeline.sources.business_api.client import BusinessApiClient, BusinessApiError, BusinessCall
from tiktok_pipeline.sources.business_api.reporting import (
    ADS_ENDPOINT,
    MAX_AD_IDS,
    MAX_PAGES,
    REPORT_ENDPOINT,
    ads_params,
    data_list,
    report_params,
    total_pages,
)
from tiktok_pipeline.sources.http.calllog import call_context
from tiktok_pipeline.windows import WINDOW, window_key, window_starts

LANDING_SOURCE = "business_api/report"
DAYS_LANDING_SOURCE = "business_api/report_days"
"""Where a window's re-fetch of the attribution days lands (beside its lookback, under ``LANDING_SOURCE``)."""
HOUR = timedelta(hours=1)
log = logging.getLogger(__name__)


# --- what a window fetches ------------------------------------------------------------------------
@dataclass(frozen=True)
class FetchPlan:
    """One window's fetch: the hours it replaces (UTC starts of local hours) and the dates it asks for;
    ``attribution_days`` > 0 for a re-fetch of the attribution days (:func:`plan_days`)."""

    window_start: datetime
    fetched_at: datetime
    hours: tuple[datetime, ...]
    dates: tuple[date, ...]
    timezone: str
    timezone_source: str = ""
    attribution_days: int = 0


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


def plan_days(
    window_start: datetime, fetched_at: datetime, lookback_hours: int, days: int, zone: str = "UTC"
) -> FetchPlan:
    """The attribution days of a window: every hour from local midnight ``days`` days before the date of its
    lookback's first hour, up to that hour (the lookback itself is :func:`plan_fetch`'s, never both)."""
    tz = ZoneInfo(zone)
    until = plan_fetch(window_start, fetched_at, lookback_hours, zone).hours[0]
    first_day = until.astimezone(tz).date() - timedelta(days=days)
    hour = _local_hour_start(datetime.combine(first_day, time(), tzinfo=tz), tz)
    hours: list[datetime] = []
    while hour < until:
        hours.append(hour)
        hour = _local_hour_start(hour + HOUR, tz)
    dates = sorted({h.astimezone(tz).date() for h in hours})
    return FetchPlan(window_start, fetched_at, tuple(hours), tuple(dates), zone, attribution_days=days)


# --- fetching ---------------------------------------------------------------------------------------
def _record(kind: str, call: BusinessCall, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, **call.to_record(), **extra}


def _ad_ids(records: Iterable[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        for row in data_list(record) or []:
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
    and the request_id, and :func:`tiktok_pipeline.ingest.parse.ads.parse_fetch` then refuses the whole fetch.
    """
    records: list[dict[str, Any]] = [
        {
            "kind": "fetch",
            "window_start": plan.window_start.isoformat(),
            "fetched_at": plan.fetched_at.isoformat(),
            "hours": [h.isoformat() for h in plan.hours],
            "dates": [d.isoformat() for d in plan.dates],
            "timezone": plan.timezone,
            "timezone_source": plan.timezone_source,
            "attribution_days": plan.attribution_days,
            "advertiser_id": advertiser_id,
        }
    ]
    kind = "report"
    try:
        for day in plan.dates:
            page = 1
            while True:
                params = report_params(advertiser_id, day.isoformat(), page, page_size)
                call = client.get(REPORT_ENDPOINT, params, as_of=plan.fetched_at)
                records.append(_record("report", call, report_date=day.isoformat()))
                total = total_pages(call.data)
                if total is None:
                    records[-1]["error"] = "data.page_info.total_page: missing or not a non-negative integer"
                    return records
                if page >= min(total, MAX_PAGES):
                    break
                page += 1
        kind = "ads"
        ad_ids = _ad_ids(records)
        for offset in range(0, len(ad_ids), MAX_AD_IDS):
            params = ads_params(advertiser_id, ad_ids[offset : offset + MAX_AD_IDS])
            records.append(_record("ads", client.get(ADS_ENDPOINT, params, as_of=plan.fetched_at)))
    except BusinessApiError as error:
        records.append(_record(kind, error.call))
    return records


# --- the advertiser's time zone -------------------------------------------------------------------
@dataclass
class ZoneLookup:
    """The advertiser's time zone for one run: ``override`` (TIKTOK_ADVERTISER_TIMEZONE), else ``advertiser/info``
    asked once, at the first fetch that needs it, and kept (answer or failure) for the rest of the run."""

    client: BusinessApiClient
    advertiser_id: str
    override: str | None = None
    _zone: AdvertiserZone | None = None
    _records: list[dict[str, Any]] = field(default_factory=list)
    _asked: bool = False

    def resolve(self, as_of: datetime) -> tuple[AdvertiserZone | None, list[dict[str, Any]]]:
        """The zone (None when it cannot be known) and the records to land with the fetch that uses it."""
        if self.override is not None:
            if self._zone is None:
                self._zone = overridden(self.override)
                log.warning("advertiser time zone: %s", self._zone.describe())
            return self._zone, []
        if not self._asked:
            self._asked = True
            try:
                call = self.client.get(ADVERTISER_ENDPOINT, advertiser_params(self.advertiser_id), as_of=as_of)
            except BusinessApiError as error:
                self._records = [_record("advertiser", error.call)]
                return None, self._records
            self._records = [_record("advertiser", call)]
            try:
                self._zone = zone_from_answer(call.data, self.advertiser_id)
            except ValueError as exc:
                self._records[0]["error"] = str(exc)
                return None, self._records
            log.info("advertiser time zone: %s", self._zone.describe())
        return self._zone, self._records


# --- landing ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdFetchOptions:
    """How much each window re-fetches and how: lookback, the time zone override (None: the account's, from
    ``advertiser/info``), page size, and the days a daily re-fetch re-reads."""

    lookback_hours: int = 6
    timezone: str | None = None
    page_size: int = 1000
    attribution_days: int = 7


def land_ad_windows(
    client: BusinessApiClient,
    advertiser_id: str,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    landing_dir: Path,
    options: AdFetchOptions,
    observe_at_window_end: bool,
    refetch: bool = False,
    attribution_days: bool = False,
) -> list[LandedWindow]:
    """Each window of ``[start, end)`` landed: re-read when landed and complete, else fetched and landed.

    A fetch is made as of the window's end when ``observe_at_window_end`` (a simulator), else as of now
    (TikTok: revised hours are replaced only by fetches at least as recent, so a late fetch is safe).
    A window that has not closed yet cannot be fetched (:class:`WindowNotObservableError`).
    With ``attribution_days`` the last window also re-fetches its attribution days (:func:`plan_days`);
    a window whose attribution days were landed before has them re-read too. Each window's lookback
    comes first in the list, its attribution days (when any) right after it.
    """
    starts = list(window_starts(start, end))
    for window_start in starts:
        if window_start + WINDOW > now:
            raise WindowNotObservableError(
                f"window {window_key(window_start)} has not closed yet; its ads cannot be fetched"
            )

    def observe(window_start: datetime) -> datetime:
        return window_start + WINDOW if observe_at_window_end else now

    zones = ZoneLookup(client, advertiser_id, options.timezone)

    def collector(window_start: datetime, days: bool):
        def collect(fetched_at: datetime) -> Collected:
            with call_context(window_start=window_start):
                return collect_in_context(fetched_at)

        def collect_in_context(fetched_at: datetime) -> Collected:
            zone, zone_records = zones.resolve(fetched_at)
            if zone is None:  # the zone is unknown: nothing can be planned; the failed call is landed
                meta = {"kind": "fetch", "window_start": window_start.isoformat(), "fetched_at": fetched_at.isoformat()}
                return Collected([{**meta, "hours": [], "dates": [], "advertiser_id": advertiser_id}, *zone_records])
            if days:
                plan = plan_days(window_start, fetched_at, options.lookback_hours, options.attribution_days, zone.name)
            else:
                plan = plan_fetch(window_start, fetched_at, options.lookback_hours, zone.name)
            records = fetch_window(
                client, advertiser_id, replace(plan, timezone_source=zone.describe()), page_size=options.page_size
            )
            return Collected(records[:1] + zone_records + records[1:])

        return collect

    landed = []
    for w in starts:
        landed.append(
            land(landing_dir, LANDING_SOURCE, w, observe=observe, collect=collector(w, False), recollect=refetch)
        )
        asked = attribution_days and w == starts[-1]
        if asked or landing_path(landing_dir, DAYS_LANDING_SOURCE, w).exists():
            days = land(
                landing_dir,
                DAYS_LANDING_SOURCE,
                w,
                observe=observe,
                collect=collector(w, True),
                recollect=refetch and asked,
            )
            landed.append(days)
    return landed
