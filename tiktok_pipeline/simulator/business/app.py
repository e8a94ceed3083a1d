"""The API for Business (``/open_api/v1.3/``) as one request handler, like :class:`..app.Simulator`.

Every answer is **HTTP 200** with the envelope ``{"code", "message", "request_id", "data"}``; errors
are non-zero codes (40100 rate limit, 40105 invalid token, 40002 bad parameter, 50000 system error),
exactly as TikTok sends them. Endpoints are plain functions ``BusinessRequest -> data`` registered
by path in :func:`default_endpoints`; they raise :class:`BusinessError` to answer with an error code.
The request, the error and the route live in :mod:`.protocol`, which the endpoints import; this
module only wires the endpoints and answers.

Order of checks: route, method, injected fault, rate limit, access token, as-of header, endpoint.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from tiktok_pipeline.simulator.asof import requested_as_of
from tiktok_pipeline.simulator.business.ads import ADVERTISER_ID, AdAccount
from tiktok_pipeline.simulator.business.attribution import ATTRIBUTION_DAYS
from tiktok_pipeline.simulator.business.events import EventsStore
from tiktok_pipeline.simulator.business.protocol import BusinessError, BusinessRequest, Endpoint
from tiktok_pipeline.simulator.business.reporting import Reporting, reporting_endpoints
from tiktok_pipeline.simulator.faults import SimulatedTimeout
from tiktok_pipeline.simulator.ratelimit import SlidingWindow
from tiktok_pipeline.simulator.world import World

API_PREFIX = "/open_api/v1.3/"
SIM_ACCESS_TOKEN = "sim-business-token"


class BusinessFaultConfig(BaseModel):
    """Rates of injected faults on API for Business calls (all off by default), drawn from one seeded RNG."""

    model_config = ConfigDict(frozen=True)

    rate_40100: float = Field(default=0.0, ge=0, le=1, description="Share answered 40100 (too many requests).")
    rate_50000: float = Field(default=0.0, ge=0, le=1, description="Share answered 50000 (system error).")
    rate_timeout: float = Field(default=0.0, ge=0, le=1, description="Share not answered, before processing.")
    seed: int = 0


def default_endpoints(api: BusinessApi) -> dict[str, Endpoint]:
    """The endpoints the simulator serves, by path under ``/open_api/v1.3/``.

    An endpoint with state (e.g. the Events API's deduplication store) keeps it on an object that it
    also sets as an attribute of ``api``, so tests can read it (``simulator.business.<name>``).
    """
    api.events = EventsStore()  # the Events API's deduplication store and counters
    api.reporting = Reporting(AdAccount(api.world, ADVERTISER_ID, attribution_days=api.attribution_days))
    return {"event/track": Endpoint("POST", api.events.track), **reporting_endpoints(api.reporting)}


class BusinessApi:
    """An offline API for Business: same paths, envelope, codes and quirks as ``business-api.tiktok.com``.

    ``stats`` counts requests per path (``"requests report/integrated/get"``), ``"throttled"``
    answers, injected faults (``"fault 40100"``, ``"fault 50000"``, ``"fault timeout"``) and whatever
    the endpoints count (they receive the counter through :meth:`count`).
    """

    events: EventsStore
    """The Events API's state (set by :func:`default_endpoints`)."""
    reporting: Reporting
    """The reporting endpoints' ad account (set by :func:`default_endpoints`)."""

    def __init__(
        self,
        world: World,
        *,
        clock: Callable[[], float] = time.time,
        access_token: str = SIM_ACCESS_TOKEN,
        faults: BusinessFaultConfig | None = None,
        rate_limit: int = 600,
        rate_window_seconds: float = 60.0,
        endpoints: dict[str, Endpoint] | None = None,
        attribution_days: float = ATTRIBUTION_DAYS,
    ) -> None:
        """``endpoints`` replaces :func:`default_endpoints` (tests serve their own); ``attribution_days``: how
        long the ad account's reports keep revising an hour (:mod:`.attribution`)."""
        self.world = world
        self.attribution_days = attribution_days
        self.clock = clock
        self.faults = faults or BusinessFaultConfig()
        self.stats: Counter[str] = Counter()
        self._access_token = access_token
        self._lock = threading.Lock()
        self._rng = random.Random(self.faults.seed)
        self._limiter = SlidingWindow(rate_limit, rate_window_seconds)
        self._serial = itertools.count(1)
        self.endpoints = endpoints if endpoints is not None else default_endpoints(self)

    def count(self, key: str, n: int = 1) -> None:
        """Add ``n`` to the ``key`` statistic (thread-safe)."""
        with self._lock:
            self.stats[key] += n

    def request_id(self) -> str:
        """A fresh request id like TikTok's: UTC timestamp, serial and random hex."""
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(self.clock()))
        return f"{stamp}{next(self._serial) % 10**6:06d}{uuid.uuid4().hex[:10].upper()}"

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request; raises :class:`SimulatedTimeout` to not answer at all."""
        path = request.url.path
        name = path[len(API_PREFIX) :].strip("/") if path.startswith(API_PREFIX) else path
        request_id = self.request_id()
        self.count(f"requests {name}")
        try:
            endpoint = self.endpoints.get(name)
            if endpoint is None:
                raise BusinessError(40002, f"No such API: {path}")
            if request.method != endpoint.method:
                raise BusinessError(40002, f"{name} expects {endpoint.method}, got {request.method}.")
            self._inject_fault()
            if self._limiter.admit(name, self.clock()) is not None:
                self.count("throttled")
                raise BusinessError(40100, "Too many requests. Please retry in some time.")
            if request.headers.get("access-token") != self._access_token:
                raise BusinessError(40105, "The access token is invalid or has been revoked.")
            data = endpoint.handler(
                BusinessRequest(
                    world=self.world,
                    method=request.method,
                    params=dict(request.url.params),
                    body=_body(request),
                    as_of=self._as_of(request),
                    now=self.clock(),
                )
            )
        except BusinessError as error:
            return envelope(error.code, error.message, request_id, {})
        return envelope(0, "OK", request_id, data)

    def _inject_fault(self) -> None:
        with self._lock:
            draw = self._rng.random()
        if draw < self.faults.rate_timeout:
            self.count("fault timeout")
            raise SimulatedTimeout("simulated API for Business timeout")
        draw -= self.faults.rate_timeout
        if draw < self.faults.rate_40100:
            self.count("fault 40100")
            raise BusinessError(40100, "Too many requests. Please retry in some time.")
        draw -= self.faults.rate_40100
        if draw < self.faults.rate_50000:
            self.count("fault 50000")
            raise BusinessError(50000, "System error. Please retry later.")

    def _as_of(self, request: httpx.Request) -> float:
        try:
            return requested_as_of(request.headers, self.clock())
        except ValueError as exc:
            raise BusinessError(40002, str(exc)) from exc


def _body(request: httpx.Request) -> Any:
    if not request.content:
        return None
    try:
        return json.loads(request.content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BusinessError(40002, f"The request body is not valid JSON: {exc}") from exc


def envelope(code: int, message: str, request_id: str, data: Any) -> httpx.Response:
    """HTTP 200 with the API for Business envelope (errors too: that is TikTok's behaviour)."""
    body = {"code": code, "message": message, "request_id": request_id, "data": data}
    return httpx.Response(200, json=body, headers={"x-tt-logid": request_id})
