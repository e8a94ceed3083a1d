"""The Display API v2 as one request handler: ``httpx.Request`` in, ``httpx.Response`` out.

The same handler serves the in-process transport (:meth:`Simulator.transport`) and real HTTP
(:mod:`tiktok_pipeline.simulator.server`). Counts and video visibility are computed as of the
``X-Simulator-As-Of`` header (epoch seconds) when present, else ``clock()``; rate limits and token
expiry always use ``clock()``.

Order of checks for a data endpoint: route, method, injected fault, rate limit, access token,
as-of header, body, fields and scopes, then the endpoint itself; finally injected record corruption.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

from tiktok_pipeline.simulator import responses
from tiktok_pipeline.simulator.asof import requested_as_of
from tiktok_pipeline.simulator.authorize import DEFAULT_REDIRECT_URIS, AuthorizationError, Authorizer
from tiktok_pipeline.simulator.business.app import DEFAULT_QPS, BusinessApi, BusinessFaultConfig
from tiktok_pipeline.simulator.business.attribution import ATTRIBUTION_DAYS
from tiktok_pipeline.simulator.endpoints import ROUTES, DataRequest, Route, parse_body
from tiktok_pipeline.simulator.faults import Fault, FaultConfig, FaultInjector, SimulatedTimeout
from tiktok_pipeline.simulator.fields import ALL_SCOPES
from tiktok_pipeline.simulator.oauth import OAuthError, TokenEndpoint
from tiktok_pipeline.simulator.provider.app import API_PREFIX as PROVIDER_PREFIX
from tiktok_pipeline.simulator.provider.app import ProviderApi
from tiktok_pipeline.simulator.provider.catalog import ProviderConfig
from tiktok_pipeline.simulator.ratelimit import SlidingWindow
from tiktok_pipeline.simulator.responses import ApiError
from tiktok_pipeline.simulator.shop.app import SHOP_PATH_PREFIXES, ShopApi, ShopFaultConfig
from tiktok_pipeline.simulator.tokens import TokenSigner
from tiktok_pipeline.simulator.webhooks import REASON_DEVELOPER_REVOKED, REASON_USER_DISCONNECTED, WebhookSender
from tiktok_pipeline.simulator.world import Creator, World, WorldConfig

OAUTH_PATH = "/v2/oauth/token/"
REVOKE_PATH = "/v2/oauth/revoke/"
AUTHORIZE_PATH = "/v2/auth/authorize/"
DEAUTHORIZE_PATH = "/sim/deauthorize/"
"""Simulator admin path (not TikTok's): ``POST`` form ``username=<handle>``: the creator disconnects the app in
TikTok; their tokens stop working and ``authorization.removed`` is delivered to the webhook URL, if one is set."""
REFRESH_TOKEN_TTL = 180 * 86400
"""The refresh token's horizon from the authorization: 180 days (TikTok's 2026 docs; older docs said 365)."""
INJECTED_RETRY_AFTER_SECONDS = 1


class Simulator:
    """An offline, deterministic TikTok Display API v2.

    ``world`` exposes the ground truth. ``stats`` counts requests per path (``"requests /v2/user/info/"``),
    granted tokens (``"oauth authorization_code"``, ``"oauth refresh_token"``), ``"throttled"`` answers
    and injected faults (``"fault 429"``, ``"fault 5xx"``, ``"fault timeout"``, ``"fault malformed"``).
    ``approved_scopes`` are the scopes the app itself was approved for (others give
    ``scope_permission_missed``). ``redirect_uris`` are the app's registered redirect URIs (checked at the
    authorization step, :mod:`.authorize`).
    """

    def __init__(
        self,
        world: WorldConfig | None = None,
        faults: FaultConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        access_token_ttl: int = 7200,
        refresh_token_ttl: int = REFRESH_TOKEN_TTL,
        rate_limit: int = 600,
        rate_window_seconds: float = 60.0,
        client_secret: str = "sim-secret",
        approved_scopes: frozenset[str] = ALL_SCOPES,
        business_faults: BusinessFaultConfig | None = None,
        business_qps: int = DEFAULT_QPS,
        advertiser_timezone: str = "UTC",
        redirect_uris: frozenset[str] = DEFAULT_REDIRECT_URIS,
        attribution_days: float = ATTRIBUTION_DAYS,
        webhooks: WebhookSender | None = None,
        budget_state: Path | None = None,
        provider: ProviderConfig | None = None,
        shop_faults: ShopFaultConfig | None = None,
    ) -> None:
        """``rate_limit`` per ``rate_window_seconds`` is the Display API's limit per endpoint; ``business_qps`` the
        API for Business app's requests-per-second tier (every endpoint together, see :class:`BusinessApi`);
        ``advertiser_timezone`` the simulated ad account's IANA time zone (its reports' dates and hours);
        ``budget_state`` a file keeping applied ad group budget changes across processes (the embedded default)."""
        self.world = World(world)
        self.webhooks = webhooks
        """Where ``authorization.removed`` goes (signed, duplicated, retried), when the app registered a webhook."""
        self.faults = faults or FaultConfig()
        self.clock = clock
        self.approved_scopes = approved_scopes
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._signer = TokenSigner(f"{self.world.config.seed}:{client_secret}")
        self._oauth = TokenEndpoint(
            self.world,
            self._signer,
            clock,
            client_secret=client_secret,
            access_token_ttl=access_token_ttl,
            refresh_token_ttl=refresh_token_ttl,
            authorizer=Authorizer(self.world, clock, redirect_uris),
        )
        self._limiter = SlidingWindow(rate_limit, rate_window_seconds)
        self._injector = FaultInjector(self.faults)
        self._log_ids = responses.LogIds()
        self.business = BusinessApi(
            self.world,
            clock=clock,
            faults=business_faults,
            qps=business_qps,
            advertiser_timezone=advertiser_timezone,
            attribution_days=attribution_days,
            budget_state=budget_state,
        )
        """The API for Business (reporting, Events API) served on the same host under ``/open_api/``."""
        self.provider = ProviderApi(self.world.config.seed, provider, clock=clock)
        """An EchoTik-style analytics provider served on the same host under ``/api/v2/`` (``provider``: its config)."""
        self.shop = ShopApi(self.world, clock=clock, faults=shop_faults)
        """The TikTok Shop Partner API (orders, products, shops, tokens) on the same host (``simulator/shop/``)."""

    def transport(self) -> httpx.BaseTransport:
        """An in-process httpx transport; a simulated timeout surfaces as ``httpx.ReadTimeout``."""

        def handler(request: httpx.Request) -> httpx.Response:
            try:
                return self.handle(request)
            except SimulatedTimeout as exc:
                raise httpx.ReadTimeout(str(exc), request=request) from exc

        return httpx.MockTransport(handler)

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as the Display API would; raises :class:`SimulatedTimeout` to not answer."""
        if request.url.path.startswith("/open_api/"):
            return self.business.handle(request)
        # Shop first: its auth host's /api/v2/token/ lies under the provider's /api/v2/ on this one simulated host
        # (on the real hosts they are auth.tiktok-shops.com and open.echotik.live)
        if request.url.path.startswith(SHOP_PATH_PREFIXES):
            return self.shop.handle(request)
        if request.url.path.startswith(PROVIDER_PREFIX):
            return self.provider.handle(request)
        path = request.url.path if request.url.path.endswith("/") else request.url.path + "/"
        log_id = self._log_ids.next(self.clock())
        self._count(f"requests {path}")
        if path in (OAUTH_PATH, REVOKE_PATH):
            return self._token(request, log_id)
        if path == AUTHORIZE_PATH:
            return self._authorize(request, log_id)
        if path == DEAUTHORIZE_PATH:
            return self._deauthorize(request, log_id)
        route = ROUTES.get(path)
        if route is None:  # TikTok's error list has no not_found; the answer to an unknown path is assumed
            return responses.api_error(ApiError("invalid_params", f"No such endpoint: {request.url.path}"), log_id)
        try:
            return self._data(route, request, log_id)
        except ApiError as error:
            return responses.api_error(error, log_id)

    # --- OAuth -------------------------------------------------------------------------------
    def _token(self, request: httpx.Request, log_id: str) -> httpx.Response:
        if request.method != "POST":
            return responses.oauth_error("invalid_request", "Use POST with a form-encoded body.", log_id)
        form = dict(parse_qsl(request.content.decode(errors="replace")))
        try:
            if request.url.path.rstrip("/") + "/" == REVOKE_PATH:
                open_id = self._oauth.revoke(form)
                self._count("oauth revoke")
                if self.webhooks is not None:
                    self.webhooks.authorization_removed(open_id, REASON_DEVELOPER_REVOKED)
                return responses.json_response(200, {}, log_id)
            grant = self._oauth.grant(form)
        except OAuthError as error:
            return responses.oauth_error(error.code, error.message, log_id)
        self._count(f"oauth {form['grant_type']}")
        return responses.json_response(200, grant, log_id)

    def _deauthorize(self, request: httpx.Request, log_id: str) -> httpx.Response:
        """Simulator admin: the creator named by the form's ``username`` disconnects the app."""
        creator = self.world.creator(dict(parse_qsl(request.content.decode(errors="replace"))).get("username", ""))
        if request.method != "POST" or creator is None:
            return responses.json_response(400, {"error": "POST a form with the username of a creator"}, log_id)
        self._oauth.deauthorize(creator.open_id)
        self._count("deauthorized")
        if self.webhooks is not None:
            self.webhooks.authorization_removed(creator.open_id, REASON_USER_DISCONNECTED)
        return responses.json_response(200, {"open_id": creator.open_id}, log_id)

    def _authorize(self, request: httpx.Request, log_id: str) -> httpx.Response:
        """The consent page's answer: a 302 back to the redirect_uri, or an error page for an unregistered one."""
        try:
            location = self._oauth.authorizer.authorize(dict(request.url.params))
        except AuthorizationError as error:
            return responses.json_response(400, {"error": error.code, "error_description": error.message}, log_id)
        return httpx.Response(302, headers={"location": location, responses.LOG_ID_HEADER: log_id})

    # --- data endpoints ----------------------------------------------------------------------
    def _data(self, route: Route, request: httpx.Request, log_id: str) -> httpx.Response:
        if request.method != route.method:
            raise ApiError("invalid_params", f"/v2/{route.name}/ expects {route.method}, got {request.method}.")
        fault = self._injector.draw()
        if fault is not None:
            return self._inject(fault, log_id)
        self._throttle(route.name)
        creator, granted = self._authenticate(request)
        data_request = DataRequest(
            world=self.world,
            creator=creator,
            params=request.url.params,
            body=parse_body(request.content) if route.method == "POST" else {},
            as_of=self._as_of(request),
            granted=granted,
            approved=self.approved_scopes,
            page_size=self._injector.page_size,
        )
        data = route.handler(data_request)
        if "videos" in data:
            data["videos"] = [self._maybe_corrupt(record) for record in data["videos"]]
        return responses.ok(data, log_id)

    def _inject(self, fault: Fault, log_id: str) -> httpx.Response:
        self._count(f"fault {fault.category}")
        if fault is Fault.TIMEOUT:
            raise SimulatedTimeout("simulated upstream timeout")
        if fault is Fault.THROTTLED:
            retry_after = {"Retry-After": str(INJECTED_RETRY_AFTER_SECONDS)} if self.faults.send_retry_after else {}
            return responses.api_error(ApiError("rate_limit_exceeded", "Too many requests.", retry_after), log_id)
        if fault is Fault.INTERNAL_ERROR:
            return responses.api_error(ApiError("internal_error", "Something went wrong. Please try again."), log_id)
        return responses.gateway_error(int(fault.value), log_id)

    def _maybe_corrupt(self, record: dict[str, Any]) -> dict[str, Any]:
        record, broken = self._injector.maybe_corrupt(record)
        if broken:
            self._count("fault malformed")
        return record

    def _throttle(self, endpoint: str) -> None:
        wait = self._limiter.admit(endpoint, self.clock())
        if wait is None:
            return
        self._count("throttled")
        headers = {"Retry-After": str(max(1, math.ceil(wait)))} if self.faults.send_retry_after else {}
        raise ApiError("rate_limit_exceeded", "Rate limit reached for this endpoint; retry later.", headers)

    def _authenticate(self, request: httpx.Request) -> tuple[Creator, frozenset[str]]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        claims = self._signer.read(token.strip(), "act") if scheme.lower() == "bearer" else None
        creator = self.world.creator_by_open_id(claims.open_id) if claims else None
        if claims is None or creator is None or claims.expires_at <= self.clock() or self._oauth.is_revoked(claims):
            raise ApiError("access_token_invalid", "The access token is invalid or not found in the request.")
        return creator, claims.scopes

    def _as_of(self, request: httpx.Request) -> float:
        try:
            return requested_as_of(request.headers, self.clock())
        except ValueError as exc:
            raise ApiError("invalid_params", str(exc)) from exc
