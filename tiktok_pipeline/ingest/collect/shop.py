"""What TikTok Shop is asked for a window: every order updated in it, and the catalogue; landed before parsing.

Orders are searched by ``update_time`` (``update_time_ge`` = the window's start, ``update_time_lt`` its end), every
page, so an order placed earlier and changed in this window (paid, shipped, cancelled) is caught by this window's
poll: the polls of consecutive windows see every change once. Products (``products/search``) give the SKUs behind the
order lines. The raw answers (buyer fields already digests: :func:`~tiktok_pipeline.sources.shop_api.models.redact_buyer`)
land through the one landing path (:func:`tiktok_pipeline.ingest.land.land`) under ``<landing>/tiktok_shop/``; a
landed window is re-parsed, not polled again, unless its file holds a failed call and it can still be observed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from tiktok_pipeline.ingest.land import Collected, LandedWindow, land, observation_instant
from tiktok_pipeline.sources.http.calllog import call_context
from tiktok_pipeline.sources.shop_api.client import ORDERS_PATH, PRODUCTS_PATH, ShopApiClient, ShopApiError
from tiktok_pipeline.windows import WINDOW

LANDING_SOURCE = "tiktok_shop"


def collect_shop_window(
    client: ShopApiClient, window_start: datetime, observed_at: datetime, page_size: int
) -> Collected:
    """The window's orders (by update time) and products as landing records; a failed call is a record with
    ``error`` (the file is then collected afresh while the window can be observed)."""
    records, failures = [], {}
    window = {
        "update_time_ge": int(window_start.timestamp()),
        "update_time_lt": int((window_start + WINDOW).timestamp()),
    }
    for kind, path, body, purpose in (
        ("orders", ORDERS_PATH, window, "shop orders"),
        ("products", PRODUCTS_PATH, {}, "shop products"),
    ):
        with call_context(purpose=purpose, window_start=window_start):
            try:
                calls = client.search_pages(path, body, page_size=page_size, as_of=observed_at)
            except ShopApiError as exc:
                failures[kind] = str(exc)
                failed = exc.call.to_record() if exc.call is not None else {"endpoint": path, "body": body}
                records.append({**failed, "kind": kind, "observed_at": observed_at.isoformat(), "error": str(exc)})
                continue
        for page, call in enumerate(calls):
            records.append({**call.to_record(), "kind": kind, "page": page, "observed_at": observed_at.isoformat()})
    return Collected(records, failures)


def land_shop_window(
    client: ShopApiClient,
    window_start: datetime,
    *,
    now: datetime,
    landing_dir: Path,
    observe_at_window_end: bool,
    max_age: timedelta,
    page_size: int,
    recollect: bool = False,
) -> LandedWindow:
    """One window's Shop answers, landed durably (or re-read from its landing file)."""

    def observe(start: datetime) -> datetime:
        return observation_instant(start, now, at_window_end=observe_at_window_end, max_age=max_age)

    return land(
        landing_dir,
        LANDING_SOURCE,
        window_start,
        observe=observe,
        collect=lambda observed_at: collect_shop_window(client, window_start, observed_at, page_size),
        recollect=recollect,
    )
