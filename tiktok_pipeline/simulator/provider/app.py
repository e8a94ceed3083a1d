"""The simulated analytics provider's HTTP API (EchoTik-style), one request handler like :class:`..app.Simulator`.

What it assumes (EchoTik publishes HTTP Basic credentials, the base ``/api/v2`` and influencer / video / product
list and detail endpoints with page or cursor paging; refresh intervals and error codes are not published, so these
are the simulator's choices, documented in README "Approved analytics provider"):

- **Auth**: HTTP Basic (``Authorization: Basic base64(username:password)``); missing or wrong: HTTP 401, code 10001.
- **Envelope**: ``{"code": 0, "message": "success", "data": {...}, "request_id": "..."}``; errors are non-zero codes:
  10001 bad credentials (HTTP 401), 10002 bad parameter, 10004 no such endpoint (HTTP 404), 10005 not found,
  30003 rate limited (HTTP **200**: only the code says so, no ``Retry-After``).
- **Rate limit**: ``requests_per_minute`` for the whole account over a sliding minute of a real clock.
- **Paging**: ``influencer/list`` and ``product/list`` by ``page_num`` (from 1) and ``page_size`` (1-20, default
  10); ``video/list`` by ``cursor`` (an offset, ``next_cursor`` in the answer) and ``page_size``.
- **Unkindness**: counts are the provider's last crawl (``updated_at``), not now; some video and influencer records
  carry their counts as strings of digits; some ``video/list`` pages repeat the previous page's last video; a share of videos is
  never listed at all (coverage) and videos younger than the creator's last crawl are not listed yet.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from tiktok_pipeline.simulator.asof import requested_as_of
from tiktok_pipeline.simulator.provider.catalog import Catalog, ProviderConfig
from tiktok_pipeline.simulator.ratelimit import SlidingWindow

API_PREFIX = "/api/v2/"
MAX_PAGE_SIZE = 20
DEFAULT_PAGE_SIZE = 10
RATE_LIMITED = 30003
STATUS = {10001: 401, 10004: 404}


class ProviderError(Exception):
    """An answer with a non-zero code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class ProviderApi:
    """An offline EchoTik-style provider over the simulator's world; ``stats`` counts requests and refusals."""

    def __init__(
        self,
        seed: int,
        config: ProviderConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        rate_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or ProviderConfig()
        self.catalog = Catalog(seed, self.config)
        self.clock = clock
        self._rate_clock = rate_clock
        self._limiter = SlidingWindow(self.config.requests_per_minute, 60.0)
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._routes: dict[str, Callable[[httpx.QueryParams, float], dict[str, Any]]] = {
            "influencer/list": self._influencer_list,
            "influencer/detail": self._influencer_detail,
            "video/list": self._video_list,
            "video/detail": self._video_detail,
            "product/list": self._product_list,
        }

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request under ``/api/v2/``."""
        request_id = uuid.uuid4().hex
        name = request.url.path.removeprefix(API_PREFIX).strip("/")
        self._count(f"requests {name}")
        try:
            route = self._routes.get(name)
            if route is None or request.method != "GET":
                raise ProviderError(10004, f"no such endpoint: GET {request.url.path}")
            self._authenticate(request)
            if self._limiter.admit("account", self._rate_clock()) is not None:
                self._count("throttled")
                raise ProviderError(RATE_LIMITED, "request too frequent, please retry later")
            try:
                as_of = requested_as_of(request.headers, self.clock())
            except ValueError as exc:
                raise ProviderError(10002, str(exc)) from exc
            data = route(request.url.params, as_of)
        except ProviderError as error:
            body = {"code": error.code, "message": error.message, "data": None, "request_id": request_id}
            return httpx.Response(STATUS.get(error.code, 200), json=body)
        return httpx.Response(200, json={"code": 0, "message": "success", "data": data, "request_id": request_id})

    def _authenticate(self, request: httpx.Request) -> None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        good = secrets.compare_digest(user.encode(), self.config.username.encode()) and secrets.compare_digest(
            password.encode(), self.config.password.encode()
        )
        if scheme.lower() != "basic" or not good:
            self._count("unauthorised")
            raise ProviderError(10001, "invalid API credentials")

    # --- endpoints -------------------------------------------------------------------------------------------------
    @staticmethod
    def _int(params: httpx.QueryParams, name: str, default: int, lo: int, hi: int | None = None) -> int:
        raw = params.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or int(raw) < lo or (hi is not None and int(raw) > hi):
            raise ProviderError(10002, f"{name} must be an integer in [{lo}, {hi if hi is not None else '...'}]")
        return int(raw)

    def _page(self, params: httpx.QueryParams, rows: list[dict[str, Any]]) -> dict[str, Any]:
        page_num = self._int(params, "page_num", 1, 1)
        size = self._int(params, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        chunk = rows[(page_num - 1) * size : page_num * size]
        return {
            "list": chunk,
            "total": len(rows),
            "page_num": page_num,
            "page_size": size,
            "has_more": page_num * size < len(rows),
        }

    def _creator(self, params: httpx.QueryParams):
        user_id = params.get("user_id")
        if not user_id:
            raise ProviderError(10002, "user_id is required")
        creator = self.catalog.creator_by_id(user_id)
        if creator is None:
            raise ProviderError(10005, f"influencer {user_id} not found")
        return creator

    def _influencer_list(self, params: httpx.QueryParams, t: float) -> dict[str, Any]:
        return self._page(params, [self.catalog.influencer(c, t) for c in self.catalog.creators()])

    def _influencer_detail(self, params: httpx.QueryParams, t: float) -> dict[str, Any]:
        return self.catalog.influencer(self._creator(params), t)

    def _video_list(self, params: httpx.QueryParams, t: float) -> dict[str, Any]:
        creator = self._creator(params)
        cursor = self._int(params, "cursor", 0, 0)
        size = self._int(params, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        videos = self.catalog.videos(creator, t)
        first = cursor
        crawl = self.catalog.crawled_at(creator, t)
        if cursor > 0 and self.catalog.draw("dup", creator.index, crawl, cursor) < self.config.duplicate_page_share:
            first = cursor - 1  # a stale page boundary: the previous page's last video comes again
            self._count("duplicated pages")
        end = cursor + size
        return {"list": videos[first:end], "has_more": end < len(videos), "next_cursor": end}

    def _video_detail(self, params: httpx.QueryParams, t: float) -> dict[str, Any]:
        video_id = params.get("video_id") or ""
        record = self.catalog.video(video_id, t)
        if record is None:
            raise ProviderError(10005, f"video {video_id} not found")
        return record

    def _product_list(self, params: httpx.QueryParams, t: float) -> dict[str, Any]:
        return self._page(params, self.catalog.products(t))
