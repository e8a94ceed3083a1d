"""``advertiser/info`` of the simulated API for Business: the ad account, its currency and its time zone.

``GET /open_api/v1.3/advertiser/info/?advertiser_ids=["7000000000000000001"]&fields=[...]`` answers
``data.list``, one record per id, with ``timezone`` (TikTok's "time zone including GMT offset", e.g.
``Etc/GMT+5``: a fixed offset, the zone's standard one, sign inverted as POSIX has it) and
``display_timezone`` (the region's IANA name, e.g. ``America/New_York``, whose rules include DST). Only
the second tells a DST-aware client when the local clock jumps. The ``Etc/GMT±N`` form of ``timezone``
is an assumption built on the field's description (stitchdata's tap-tiktok-ads schema: "Ad account time
zone including GMT offset. For example, "Etc/GMT""); a zone whose standard offset is not whole hours
answers its IANA name in both fields. An id the token cannot see is code 40001, as for reports.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tiktok_pipeline.simulator.business.ads import CURRENCY, AdAccount
from tiktok_pipeline.simulator.business.params import bad_parameter, string_list
from tiktok_pipeline.simulator.business.protocol import BusinessError, BusinessRequest, Endpoint

ADVERTISER_FIELDS = (
    "advertiser_id",
    "name",
    "company",
    "status",
    "role",
    "currency",
    "timezone",
    "display_timezone",
    "country",
    "language",
    "create_time",
)
MAX_ADVERTISER_IDS = 100
CREATED = datetime(2025, 1, 15, tzinfo=UTC)


def gmt_offset_name(zone: ZoneInfo, year: int) -> str:
    """The zone's standard (non-DST) offset as an ``Etc/GMT±N`` name (POSIX sign: UTC-5 is ``Etc/GMT+5``)."""
    moments = [datetime(year, 1, 1, tzinfo=zone), datetime(year, 7, 1, tzinfo=zone)]
    standard = [m.utcoffset() for m in moments if not m.dst()] or [min(m.utcoffset() or timedelta() for m in moments)]
    seconds = int((standard[0] or timedelta()).total_seconds())
    if seconds % 3600:
        return zone.key
    hours = -seconds // 3600
    return "Etc/GMT" if hours == 0 else f"Etc/GMT{hours:+d}"


class Advertisers:
    """``advertiser/info`` over one :class:`AdAccount` (registered as ``api.advertisers``)."""

    def __init__(self, account: AdAccount) -> None:
        self.account = account

    def info(self, request: BusinessRequest) -> dict[str, Any]:
        ids = string_list(request.params, "advertiser_ids") or []
        if len(ids) > MAX_ADVERTISER_IDS:
            raise bad_parameter("advertiser_ids", f"at most {MAX_ADVERTISER_IDS} ids, got {len(ids)}.")
        fields = string_list(request.params, "fields", required=False) or list(ADVERTISER_FIELDS)
        unknown = [f for f in fields if f not in ADVERTISER_FIELDS]
        if unknown:
            raise bad_parameter("fields", f"unknown fields {unknown}.")
        for advertiser_id in ids:
            if advertiser_id != self.account.advertiser_id:
                raise BusinessError(40001, f"No permission to operate advertiser_id {advertiser_id}.")
        record = self._record(datetime.fromtimestamp(request.as_of, UTC).year)
        return {"list": [{field: record[field] for field in fields} for _ in dict.fromkeys(ids)]}

    def _record(self, year: int) -> dict[str, Any]:
        return {
            "advertiser_id": self.account.advertiser_id,
            "name": "Simulated Spark Ads",
            "company": "Simulated Shop Ltd",
            "status": "STATUS_ENABLE",
            "role": "ROLE_ADVERTISER",
            "currency": CURRENCY,
            "timezone": gmt_offset_name(self.account.zone, year),
            "display_timezone": self.account.timezone,
            "country": "US",
            "language": "en",
            "create_time": int(CREATED.timestamp()),
        }


def advertiser_endpoints(advertisers: Advertisers) -> dict[str, Endpoint]:
    """The ``advertiser/info`` route for :func:`..app.default_endpoints` (which sets ``api.advertisers``)."""
    return {"advertiser/info": Endpoint("GET", advertisers.info)}
