"""The API for Business (``/open_api/v1.3/``) as one request handler, like :class:`..app.Simulator`.

Every answer is **HTTP 200** with the envelope ``{"code", "message", "request_id", "data"}``; errors
are non-zero codes (40100 rate limit, 40105 invalid token, 40002 bad parameter, 50000 system error),
exactly as TikTok sends them. Endpoints are plain functions ``BusinessRequest -> data`` registered
by path in :func:`default_endpoints`; they raise :class:`BusinessError` to answer with an error code.
The request, the error and the route live in :mod:`.protocol`, which the endpoints import; this
module only wires the endpoints and answers.

Order of checks: route, method, injected fault, rate limit, access token, as-of header, endpoint.

**Rate limit**: TikTok limits an *app* to 10, 20 or 30 requests a second (its QPS tier), shared by every
connection and endpoint of the app, and answers the excess with code 40100 (Airbyte's TikTok Marketing
connector, ``streams.py``; airbytehq/airbyte issue 70992). The simulator serves one app (one access token), so
one sliding 1-second window counts every request to ``/open_api/`` (``report/integrated/get``, ``ad/get``,
``advertiser/info``, ``event/track``, ...), measured on a real clock (``rate_clock``), not the simulated one: a
test may pin the simulated instant, but a burst is a burst in real time. The Display API's 600-a-minute limit
is :class:`..app.Simulator`'s own and separate.
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
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from tiktok_pipeline.simulator.asof import requested_as_of
from tiktok_pipeline.simulator.business.adgroups import AdGroupEndpoints, adgroup_endpoints
from tiktok_pipeline.simulator.business.ads import ADVERTISER_ID, AdAccount
from tiktok_pipeline.simulator.business.advertiser import Advertisers, advertiser_endpoints
from tiktok_pipeline.simulator.business.attribution import ATTRIBUTION_DAYS
from tiktok_pipeline.simulator.business.budgets import AdGroupBudgets
from tiktok_pipeline.simulator.business.events import EventsStore
from tiktok_pipeline.simulator.business.protocol import (
    BusinessError,
    BusinessRequest,
    Endpoint,
    GatewayFailure,
    gateway_page,
)
from tiktok_pipeline.simulator.business.reporting import Reporting, reporting_endpoints
from tiktok_pipeline.simulator.faults import SimulatedTimeout
from tiktok_pipeline.simulator.ratelimit import SlidingWindow
from tiktok_pipeline.simulator.world import World

API_PREFIX = "/open_api/v1.3/"
SIM_ACCESS_TOKEN = "sim-business-token"
QPS_TIERS = (10, 20, 30)
"""The per-app request-per-second tiers TikTok grants; ``tiktok-sim serve --business-qps`` offers these."""
DEFAULT_QPS = 10
APP_KEY = "app"
"""The rate limit's one key: every request of the app counts against the same window."""


class BusinessFaultConfig(BaseModel):
    """Rates of injected faults on API for Business calls (all off by default), drawn from one seeded RNG.

    Envelope codes are answered before processing (TikTok answered, so nothing was done). A timeout is either
    before processing (``rate_timeout``) or after it (``rate_timeout_after``: the answer is lost, the endpoint
    did its work); a gateway 504 (``rate_504``: HTTP 504 with an HTML page, no envelope) comes after processing,
    as when a gateway gives up on a slow backend that finishes anyway: the worst case for a resend.
    """

    model_config = ConfigDict(frozen=True)

    rate_40100: float = Field(default=0.0, ge=0, le=1, description="Share answered 40100 (too many requests).")
    rate_40700: float = Field(default=0.0, ge=0, le=1, description="Share answered 40700 (retried by Rudderstack).")
    rate_50000: float = Field(default=0.0, ge=0, le=1, description="Share answered 50000 (system error).")
    rate_50002: float = Field(default=0.0, ge=0, le=1, description="Share answered 50002 (system error).")
    rate_504: float = Field(default=0.0, ge=0, le=1, description="Share answered HTTP 504 (HTML), after processing.")
    rate_timeout: float = Field(default=0.0, ge=0, le=1, description="Share not answered, before processing.")
    rate_timeout_after: float = Field(default=0.0, ge=0, le=1, description="Share not answered, after processing.")
    seed: int = 0


def default_endpoints(api: BusinessApi) -> dict[str, Endpoint]:
    """The endpoints the simulator serves, by path under ``/open_api/v1.3/``.

    An endpoint with state (e.g. the Events API's deduplication store) keeps it on an object that it
    also sets as an attribute of ``api``, so tests can read it (``simulator.business.<name>``).
    """
    api.events = EventsStore()  # the Events API's deduplication store and counters
    account = AdAccount(
        api.world,
        ADVERTISER_ID,
        api.advertiser_timezone,
        attribution_days=api.attribution_days,
        budget_state=api.budget_state,
    )
    api.reporting = Reporting(account)  # the ad account's reports
    api.advertisers = Advertisers(account)  # advertiser/info: the account and its time zone
    api.budgets = account.budgets  # adgroup/get, adgroup/budget/update and the daily budget cap on spend
    return {
        "event/track": Endpoint("POST", api.events.track),
        **reporting_endpoints(api.reporting),
        **advertiser_endpoints(api.advertisers),
        **adgroup_endpoints(AdGroupEndpoints(account)),
    }


class BusinessApi:
    """An offline API for Business: same paths, envelope, codes and quirks as ``business-api.tiktok.com``.

    ``stats`` counts requests per path (``"requests report/integrated/get"``), ``"throttled"``
    answers, injected faults (``"fault 40100"``, ``"fault 40700"``, ``"fault 50000"``, ``"fault 50002"``,
    ``"fault 504"``, ``"fault timeout"``, ``"fault timeout_after"``), gateway failures answered (``"gateway 504"``,
    injected or raised by an endpoint as :class:`GatewayFailure`) and whatever the endpoints count (they receive
    the counter through :meth:`count`).
    """

    events: EventsStore
    """The Events API's state (set by :func:`default_endpoints`)."""
    reporting: Reporting
    """The reporting endpoints' ad account (set by :func:`default_endpoints`)."""
    advertisers: Advertisers
    """``advertiser/info`` (set by :func:`default_endpoints`)."""
    budgets: AdGroupBudgets
    """Ad group budgets and every applied change (set by :func:`default_endpoints`)."""

    def __init__(
        self,
        world: World,
        *,
        clock: Callable[[], float] = time.time,
        access_token: str = SIM_ACCESS_TOKEN,
        faults: BusinessFaultConfig | None = None,
        qps: int = DEFAULT_QPS,
        rate_clock: Callable[[], float] = time.monotonic,
        advertiser_timezone: str = "UTC",
        endpoints: dict[str, Endpoint] | None = None,
        attribution_days: float = ATTRIBUTION_DAYS,
        budget_state: Path | None = None,
    ) -> None:
        """``qps``: the app's requests-per-second tier (TikTok's are :data:`QPS_TIERS`; any positive number for
        tests), counted over a sliding second of ``rate_clock``; ``advertiser_timezone``: the ad account's IANA
        zone (``advertiser/info``, report dates and hours); ``endpoints`` replaces :func:`default_endpoints`
        (tests serve their own); ``attribution_days``: how long the ad
        account's reports keep revising an hour (:mod:`.attribution`); ``budget_state``: a file keeping applied
        budget changes across processes (:mod:`.budget_state`; the pipeline's embedded simulator)."""
        if qps < 1:
            raise ValueError(f"qps must be a positive number of requests a second, got {qps}")
        self.world = world
        self.advertiser_timezone = advertiser_timezone
        self.attribution_days = attribution_days
        self.budget_state = budget_state
        self.clock = clock
        self.faults = faults or BusinessFaultConfig()
        self.stats: Counter[str] = Counter()
        self._access_token = access_token
        self._lock = threading.Lock()
        self._rng = random.Random(self.faults.seed)
        self._rate_clock = rate_clock
        self._limiter = SlidingWindow(qps, 1.0)
        self._serial = itertools.count(1)
        self.endpoints = endpoints if endpoints is not None else default_endpoints(self)

    @property
    def qps(self) -> int:
        """The app's requests-per-second tier."""
        return self._limiter.limit

    @qps.setter
    def qps(self, value: int) -> None:
        self._limiter.limit = value

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
            after = self._inject_fault()
            if self._limiter.admit(APP_KEY, self._rate_clock()) is not None:
                self.count("throttled")
                raise BusinessError(40100, f"Too many requests: the app's limit is {self.qps} requests per second.")
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
            if after is not None:
                raise after
        except BusinessError as error:
            return envelope(error.code, error.message, request_id, {})
        except GatewayFailure as failure:
            self.count(f"gateway {failure.status}")
            return httpx.Response(
                failure.status, text=gateway_page(failure.status), headers={"content-type": "text/html"}
            )
        return envelope(0, "OK", request_id, data)

    def _inject_fault(self) -> Exception | None:
        """Raise the fault drawn for this request, or return the one to raise after processing it (or None)."""
        with self._lock:
            draw = self._rng.random()
        for name in _FAULTS:
            rate = getattr(self.faults, f"rate_{name}")
            if draw < rate:
                self.count(f"fault {name}")
                if name in _AFTER_PROCESSING:
                    return _fault(name)
                raise _fault(name)
            draw -= rate
        return None

    def _as_of(self, request: httpx.Request) -> float:
        try:
            return requested_as_of(request.headers, self.clock())
        except ValueError as exc:
            raise BusinessError(40002, str(exc)) from exc


_FAULTS = ("timeout", "timeout_after", "504", "40100", "40700", "50000", "50002")
_AFTER_PROCESSING = frozenset({"timeout_after", "504"})
_FAULT_MESSAGES = {
    40100: "Too many requests. Please retry in some time.",
    40700: "Internal error. Please retry later.",
    50000: "System error. Please retry later.",
    50002: "System error. Please retry later.",
}


def _fault(name: str) -> Exception:
    if name.startswith("timeout"):
        return SimulatedTimeout(f"simulated API for Business {name.replace('_', ' ')}")
    if name == "504":
        return GatewayFailure(504)
    return BusinessError(int(name), _FAULT_MESSAGES[int(name)])


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
