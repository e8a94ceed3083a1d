"""The TikTok Shop Partner API (202309) as one request handler, served beside the Display API and API for Business.

Paths: ``POST /order/202309/orders/search`` and ``POST /product/202309/products/search`` (filters in the JSON body,
``page_size`` ≤ 100 and ``page_token`` in the query; ``next_page_token`` and ``total_count`` in the answer),
``GET /authorization/202309/shops`` (the shop and its ``cipher``), and the auth host's
``GET /api/v2/token/get`` and ``/api/v2/token/refresh``. Every API answer is ``{code, message, request_id, data}``.

Order of checks for an API path: route, method, injected fault, rate limit, ``app_key``, ``timestamp`` freshness,
``sign``, ``x-tts-access-token`` (105002 when expired), ``shop_cipher``, as-of header, parameters, endpoint;
then occasionally a short page. The signature is Shop's: hex HMAC-SHA256 keyed with the app secret over
``secret + path + sorted(key + value, without sign and access_token) + body + secret`` (:func:`shop_sign`).

Error codes: 105002 (access token expired, seen in users' reports) and 36004001/36004005 (refresh token expired,
auth record not found: EcomPHP/tiktokshop-php pull request 15) are sourced; 106001 (bad sign), 106002 (stale
timestamp), 105001 (invalid token), 106011 (bad shop_cipher), 36009003 (invalid parameter), 36009004 (rate
limited, HTTP 429) and 36009006 (system error, HTTP 500) are assumed: Shop's full list was not found.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import random
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from tiktok_pipeline.simulator.asof import requested_as_of
from tiktok_pipeline.simulator.faults import SimulatedTimeout
from tiktok_pipeline.simulator.ratelimit import SlidingWindow
from tiktok_pipeline.simulator.shop.catalog import SHOP_CIPHER, SHOP_ID, ShopWorld, render_product
from tiktok_pipeline.simulator.world import World

SHOP_PATH_PREFIXES = ("/order/", "/product/", "/authorization/", "/api/v2/token/")
SIM_APP_KEY = "sim-shop-app"
SIM_APP_SECRET = "sim-shop-secret"
SIM_AUTH_CODE = "sim-shop-auth-code"
"""The authorisation code the simulator grants tokens for without a seller's consent step (simulator mode)."""
TIMESTAMP_TOLERANCE_SECONDS = 300
ACCESS_TOKEN_TTL = 7 * 86400
REFRESH_TOKEN_TTL = 365 * 86400
DEFAULT_QPS = 20
MAX_PAGE_SIZE = 100
TOKEN_HEADER = "x-tts-access-token"


def shop_sign(secret: str, path: str, params: dict[str, str], body: bytes) -> str:
    """Shop's request signature (the simulator's own copy of the algorithm, independent of the client's)."""
    pairs = "".join(f"{k}{params[k]}" for k in sorted(params) if k not in ("sign", "access_token"))
    message = secret.encode() + path.encode() + pairs.encode() + body + secret.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class ShopError(Exception):
    def __init__(self, code: int, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class ShopFaultConfig(BaseModel):
    """Shares of Shop API requests answered with injected faults (off by default), from one seeded RNG."""

    model_config = ConfigDict(frozen=True)

    rate_429: float = Field(default=0.0, ge=0, le=1, description="Rate limited (code 36009004, HTTP 429).")
    rate_500: float = Field(default=0.0, ge=0, le=1, description="System error (code 36009006, HTTP 500).")
    rate_502: float = Field(default=0.0, ge=0, le=1, description="A gateway's HTTP 502 page, no envelope.")
    rate_timeout: float = Field(default=0.0, ge=0, le=1, description="No answer at all.")
    rate_short_page: float = Field(default=0.2, ge=0, le=1, description="Pages cut short while more follow.")
    seed: int = 0


class ShopApi:
    """An offline TikTok Shop: same paths, signing, envelope and quirks; ``stats`` counts requests and faults."""

    def __init__(
        self,
        world: World,
        *,
        clock: Callable[[], float] = time.time,
        wall_clock: Callable[[], float] = time.time,
        app_key: str = SIM_APP_KEY,
        app_secret: str = SIM_APP_SECRET,
        faults: ShopFaultConfig | None = None,
        qps: int = DEFAULT_QPS,
        access_token_ttl: int = ACCESS_TOKEN_TTL,
    ) -> None:
        """``clock``: the simulated instant (token expiry, orders without as-of); ``wall_clock``: the real one
        (``timestamp`` freshness and the rate limit: a signed request is fresh in real time)."""
        self.shop = ShopWorld(world)
        self.clock, self.wall_clock = clock, wall_clock
        self.app_key, self.app_secret = app_key, app_secret
        self.faults = faults or ShopFaultConfig()
        self.access_token_ttl = access_token_ttl
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._rng = random.Random(self.faults.seed)
        self._limiter = SlidingWindow(qps, 1.0)
        self._serial = itertools.count(1)
        self._access: dict[str, float] = {}
        """access token → expiry (epoch seconds of ``clock``)."""
        self._refresh: dict[str, float] = {}

    # --- helpers -----------------------------------------------------------------------------
    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] += n

    def request_id(self) -> str:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(self.wall_clock()))
        return f"{stamp}{next(self._serial) % 10**6:06d}{uuid.uuid4().hex[:10].upper()}"

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now (the next call gets 105002)."""
        with self._lock:
            self._access = dict.fromkeys(self._access, self.clock() - 1)

    # --- dispatch ----------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request; raises :class:`SimulatedTimeout` to not answer at all."""
        path = request.url.path.rstrip("/")
        request_id = self.request_id()
        self.count(f"requests {path}")
        try:
            if path.startswith("/api/v2/token/"):
                return _envelope(0, "success", request_id, self._token(path, dict(request.url.params)))
            route = ROUTES.get(path)
            if route is None:
                raise ShopError(36009003, f"Invalid path: {path}", 404)
            method, needs_shop, handler = route
            if request.method != method:
                raise ShopError(36009003, f"{path} expects {method}, got {request.method}", 405)
            self._inject()
            if self._limiter.admit("app", self.wall_clock()) is not None:
                self.count("throttled")
                raise ShopError(36009004, "Too many requests, please retry later", 429)
            params = dict(request.url.params)
            self._verify(path, params, request)
            if needs_shop and params.get("shop_cipher") != SHOP_CIPHER:
                raise ShopError(106011, "Invalid shop_cipher")
            try:
                as_of = requested_as_of(request.headers, self.clock())
            except ValueError as exc:
                raise ShopError(36009003, str(exc)) from exc
            data = handler(self, params, _body(request), as_of)
        except ShopError as error:
            return _envelope(error.code, error.message, request_id, None, status=error.status)
        except _Gateway:
            return httpx.Response(502, text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                                  headers={"content-type": "text/html"})  # fmt: skip
        return _envelope(0, "Success", request_id, data)

    def _inject(self) -> None:
        with self._lock:
            draw = self._rng.random()
        for name in ("timeout", "502", "500", "429"):
            rate = getattr(self.faults, f"rate_{name}")
            if draw < rate:
                self.count(f"fault {name}")
                if name == "timeout":
                    raise SimulatedTimeout("simulated Shop API timeout")
                if name == "502":
                    raise _Gateway
                if name == "500":
                    raise ShopError(36009006, "System error, please retry", 500)
                raise ShopError(36009004, "Too many requests, please retry later", 429)
            draw -= rate

    def _verify(self, path: str, params: dict[str, str], request: httpx.Request) -> None:
        if params.get("app_key") != self.app_key:
            raise ShopError(106001, "Invalid app_key")
        try:
            stamp = int(params.get("timestamp", ""))
        except ValueError:
            raise ShopError(36009003, "timestamp is required (Unix seconds)") from None
        if abs(self.wall_clock() - stamp) > TIMESTAMP_TOLERANCE_SECONDS:
            self.count("stale timestamp")
            raise ShopError(106002, "The timestamp is expired, please use the current time")
        expected = shop_sign(self.app_secret, path, params, request.content)
        if not hmac.compare_digest(expected, params.get("sign", "")):
            self.count("bad sign")
            raise ShopError(106001, "Invalid credentials: the sign is wrong")
        token = request.headers.get(TOKEN_HEADER, "")
        with self._lock:
            expiry = self._access.get(token)
        if expiry is None:
            raise ShopError(105001, "Invalid access token")
        if expiry <= self.clock():
            self.count("expired token")
            raise ShopError(105002, "access token is expired, please refresh it")

    # --- auth host ---------------------------------------------------------------------------
    def _token(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        if params.get("app_key") != self.app_key or params.get("app_secret") != self.app_secret:
            raise ShopError(36004003, "Invalid app_key or app_secret")
        now = self.clock()
        with self._lock:
            if path.endswith("/get"):
                if params.get("grant_type") != "authorized_code" or params.get("auth_code") != SIM_AUTH_CODE:
                    raise ShopError(36004005, "can not find related auth record")
                refresh_expiry = now + REFRESH_TOKEN_TTL
            elif path.endswith("/refresh"):
                expiry = self._refresh.pop(params.get("refresh_token", ""), None)
                if params.get("grant_type") != "refresh_token" or expiry is None:
                    raise ShopError(36004005, "can not find related auth record")
                if expiry <= now:
                    raise ShopError(36004001, "rt has expired")
                refresh_expiry = expiry  # Shop's refresh token keeps the horizon of the authorisation
            else:
                raise ShopError(36009003, f"Invalid path: {path}", 404)
            access, refresh = f"ROW_{secrets.token_urlsafe(24)}", f"ROW_{secrets.token_urlsafe(24)}"
            self._access[access] = now + self.access_token_ttl
            self._refresh[refresh] = refresh_expiry
        self.count(f"token {path.rsplit('/', 1)[-1]}")
        return {
            "access_token": access,
            "access_token_expire_in": int(now + self.access_token_ttl),
            "refresh_token": refresh,
            "refresh_token_expire_in": int(refresh_expiry),
            "open_id": "sim-shop-open-id",
            "seller_name": "Simulated Shop",
            "seller_base_region": "US",
            "user_type": 0,
            "granted_scopes": ["seller.order.info", "seller.product.basic", "seller.authorization.info"],
        }

    # --- endpoints ---------------------------------------------------------------------------
    def _shops(self, params: dict[str, str], body: Any, as_of: float) -> dict[str, Any]:
        return {"shops": [{"id": SHOP_ID, "name": "Simulated Shop", "region": "US", "seller_type": "LOCAL",
                           "cipher": SHOP_CIPHER, "code": "USLCSIM01"}]}  # fmt: skip

    def _orders(self, params: dict[str, str], body: Any, as_of: float) -> dict[str, Any]:
        filters = body or {}
        if not isinstance(filters, dict):
            raise ShopError(36009003, "The body must be a JSON object")
        field = "update_time" if {"update_time_ge", "update_time_lt"} & filters.keys() else "create_time"
        bounds = [filters.get(f"{field}_ge"), filters.get(f"{field}_lt")]
        if any(b is not None and (isinstance(b, bool) or not isinstance(b, int)) for b in bounds):
            raise ShopError(36009003, f"{field}_ge and {field}_lt must be Unix seconds (integers)")
        orders = self.shop.orders_as_of(as_of, field=field, ge=bounds[0], lt=bounds[1])
        status = filters.get("order_status")
        if status is not None:
            orders = [o for o in orders if o["status"] == status]
        return self._page("orders", orders, params, filters)

    def _products(self, params: dict[str, str], body: Any, as_of: float) -> dict[str, Any]:
        return self._page("products", [render_product(s) for s in self.shop.skus], params, body or {})

    def _page(self, key: str, items: list[dict[str, Any]], params: dict[str, str], filters: Any) -> dict[str, Any]:
        try:
            size = int(params.get("page_size", ""))
        except ValueError:
            raise ShopError(36009003, "page_size is required (1 to 100)") from None
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ShopError(36009003, f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {size}")
        digest = hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:12]
        offset = 0
        if params.get("page_token"):
            try:
                token_digest, _, raw = base64.urlsafe_b64decode(params["page_token"]).decode().partition(":")
                offset = int(raw)
            except (ValueError, UnicodeDecodeError):
                raise ShopError(36009003, "Invalid page_token") from None
            if token_digest != digest:
                raise ShopError(36009003, "page_token does not belong to these filters")
        take = size
        if offset + size < len(items) and self._short():
            take = max(1, size // 3)
            self.count("short page")
        page = items[offset : offset + take]
        following = offset + len(page)
        token = base64.urlsafe_b64encode(f"{digest}:{following}".encode()).decode() if following < len(items) else ""
        return {key: page, "next_page_token": token, "total_count": len(items)}

    def _short(self) -> bool:
        with self._lock:
            return self._rng.random() < self.faults.rate_short_page


class _Gateway(Exception):
    pass


ROUTES: dict[str, tuple[str, bool, Callable[[ShopApi, dict[str, str], Any, float], dict[str, Any]]]] = {
    "/authorization/202309/shops": ("GET", False, ShopApi._shops),
    "/order/202309/orders/search": ("POST", True, ShopApi._orders),
    "/product/202309/products/search": ("POST", True, ShopApi._products),
}
"""path → (method, needs shop_cipher, handler)."""


def _body(request: httpx.Request) -> Any:
    if not request.content:
        return None
    try:
        return json.loads(request.content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShopError(36009003, f"The body is not valid JSON: {exc}") from exc


def _envelope(code: int, message: str, request_id: str, data: Any, *, status: int = 200) -> httpx.Response:
    body = {"code": code, "message": message, "request_id": request_id, "data": data}
    return httpx.Response(status, json=body, headers={"x-tt-logid": request_id})
