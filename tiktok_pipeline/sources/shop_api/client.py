"""The TikTok Shop Partner API client (202309) on the one HTTP layer: signing, tokens, the envelope and its codes.

Every call goes through :class:`~tiktok_pipeline.sources.http.HttpSession` (retries, capped ``Retry-After``, the
retry budget, the call log) and takes a slot of the app's limiter first (the declared source's figure). Each request
is signed afresh (``app_key``, ``timestamp``, ``shop_cipher``, ``sign`` in the query; the access token only in the
``x-tts-access-token`` header, never in a query, a log line or a record). An expired access token (105002) is
refreshed on the auth host and the call resent once; the rotated tokens are persisted at once. Answers are kept raw
in a :class:`ShopCall` (buyer fields already replaced by digests) so callers land them before parsing.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from tiktok_pipeline.sources.http import Attempt, HttpSession, RetryPolicy, SessionClient, SlidingWindowLimiter
from tiktok_pipeline.sources.http.calllog import call_context
from tiktok_pipeline.sources.http.decode import decode_body
from tiktok_pipeline.sources.http.session import RequestHook
from tiktok_pipeline.sources.shop_api.calls import ShopApiError, ShopCall, envelope_code, retryable
from tiktok_pipeline.sources.shop_api.codes import CODES, TIMEOUT_CODE
from tiktok_pipeline.sources.shop_api.models import ShopInfo, TokenAnswer, redact_buyer
from tiktok_pipeline.sources.shop_api.signing import sign_request
from tiktok_pipeline.sources.shop_api.tokens import ShopTokens, ShopTokenStore

log = logging.getLogger(__name__)

SOURCE = "tiktok_shop"
ORDERS_PATH = "/order/202309/orders/search"
PRODUCTS_PATH = "/product/202309/products/search"
SHOPS_PATH = "/authorization/202309/shops"
TOKEN_GET_PATH = "/api/v2/token/get"
TOKEN_REFRESH_PATH = "/api/v2/token/refresh"
LIMIT_KEY = "shop_app"
REFRESH_MARGIN = timedelta(minutes=5)


class ShopApiClient(SessionClient):
    """A client for ``open-api.tiktokglobalshop.com`` (or the simulator serving the same paths)."""

    def __init__(
        self,
        base_url: str,
        *,
        app_key: str,
        app_secret: SecretStr,
        token_store: ShopTokenStore,
        auth_base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        limiter: SlidingWindowLimiter | None = None,
        timeout_seconds: float = 30.0,
        request_hooks: Sequence[RequestHook] = (),
        unattended_code: str | None = None,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``unattended_code``: an authorisation code exchanged when the store holds no tokens (the simulator's);
        ``auth_base_url``: the auth host (token get/refresh), else ``base_url``."""
        self.base_url = base_url.rstrip("/")
        self.auth_base_url = (auth_base_url or base_url).rstrip("/")
        self.app_key, self._secret, self.store = app_key, app_secret, token_store
        self._unattended_code, self._wall_clock = unattended_code, wall_clock
        self.stats: Counter[str] = Counter()
        self._tokens: ShopTokens | None = None
        self._http = HttpSession(
            "",
            retry=retry,
            limiter=limiter,
            timeout_seconds=timeout_seconds,
            transport=transport,
            request_hooks=request_hooks,
            secrets=[app_secret.get_secret_value()],
            sleep=sleep,
            source=SOURCE,
        )

    # --- tokens ------------------------------------------------------------------------------
    def tokens(self) -> ShopTokens:
        """The shop's tokens: stored, refreshed when near expiry, or (simulator) obtained unattended."""
        if self._tokens is None:
            self._tokens = self.store.load()
            if self._tokens is not None:
                self._http.add_secrets(*self._tokens.secrets())
        now = datetime.fromtimestamp(self._wall_clock(), UTC)
        if self._tokens is None:
            if self._unattended_code is None:
                raise ShopApiError(
                    f"no TikTok Shop tokens in {self.store.path}: store the shop's token answer with"
                    " `tiktok-pipeline shop-tokens add < answer.json` (TIKTOK_SHOP_TOKEN_STORE_PATH)",
                    code=None,
                    request_id=None,
                )
            self._grant(TOKEN_GET_PATH, {"auth_code": self._unattended_code, "grant_type": "authorized_code"})
        elif self._tokens.access_expires_at - REFRESH_MARGIN <= now:
            self.refresh()
        assert self._tokens is not None
        return self._tokens

    def refresh(self) -> ShopTokens:
        """Exchange the refresh token for new tokens and persist them at once."""
        current = self._tokens or self.store.load()
        if current is None:
            return self.tokens()
        refresh = current.refresh_token.get_secret_value()
        return self._grant(TOKEN_REFRESH_PATH, {"refresh_token": refresh, "grant_type": "refresh_token"})

    def _grant(self, path: str, params: dict[str, str]) -> ShopTokens:
        query = {"app_key": self.app_key, "app_secret": self._secret.get_secret_value(), **params}
        with call_context(purpose=f"token {path.rsplit('/', 1)[-1]}", subject="shop"):
            exchange = self._http.request(
                "GET", f"{self.auth_base_url}{path}", params=query, retryable=retryable, name=f"GET {path}"
            )
        response = exchange.response
        payload = decode_body(response)[0] if response is not None else None
        code, request_id = envelope_code(payload)
        if code != 0:
            what = CODES[code].meaning if code in CODES else "unknown code"
            message = payload.get("message") if isinstance(payload, dict) else None
            raise ShopApiError(
                self._http.redact(f"tiktok_shop {path} refused: code {code} ({what}): {message!r}, request_id={request_id}"
                                  if code is not None else f"tiktok_shop {path} failed: {exchange.last.describe()}"),
                code=code,
                request_id=request_id,
            )  # fmt: skip
        try:
            answer = TokenAnswer.model_validate(payload["data"])  # type: ignore[index]
        except (ValidationError, TypeError) as exc:
            raise ShopApiError(
                f"tiktok_shop {path}: token answer invalid: {_first(exc)}", code=0, request_id=request_id
            ) from None
        cipher = self._tokens.shop_cipher if self._tokens else None
        self._tokens = ShopTokens.from_answer(answer, cipher)
        self._http.add_secrets(*self._tokens.secrets())
        self.store.save(self._tokens)
        self.stats[f"token {path.rsplit('/', 1)[-1]}"] += 1
        return self._tokens

    def shop_cipher(self) -> str:
        """The shop's ``shop_cipher`` (``authorization/202309/shops``), asked once and kept with the tokens."""
        tokens = self.tokens()
        if tokens.shop_cipher:
            return tokens.shop_cipher
        call = self.call("GET", SHOPS_PATH, shop_scoped=False)
        shops = call.data.get("shops") if isinstance(call.data, dict) else None
        if not isinstance(shops, list) or not shops:
            raise ShopApiError(
                "tiktok_shop authorization/shops: no authorised shop in the answer", code=0, request_id=call.request_id
            )
        try:
            shop = ShopInfo.model_validate(shops[0])
        except ValidationError as exc:
            raise ShopApiError(
                f"tiktok_shop authorization/shops: {_first(exc)}", code=0, request_id=call.request_id
            ) from None
        assert self._tokens is not None
        self._tokens = self._tokens.model_copy(update={"shop_cipher": shop.cipher})
        self.store.save(self._tokens)
        return shop.cipher

    # --- calls -------------------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        shop_scoped: bool = True,
        as_of: datetime | None = None,
    ) -> ShopCall:
        """One logical call, signed, with retries; a 105002 refreshes the token and resends once."""
        call = ShopCall(path, method, dict(query or {}), body)
        content = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        for round_ in (1, 2):
            params = {**call.params, "app_key": self.app_key, "timestamp": str(int(self._wall_clock()))}
            if shop_scoped:
                params["shop_cipher"] = self.shop_cipher()
            params["sign"] = sign_request(self._secret.get_secret_value(), path, params, content)
            headers = {"x-tts-access-token": self.tokens().access_token.get_secret_value()}
            if body is not None:
                headers["content-type"] = "application/json"
            exchange = self._http.request(
                method,
                f"{self.base_url}{path}",
                params=params,
                content=content or None,
                headers=headers,
                retryable=retryable,
                limit_key=LIMIT_KEY,
                as_of=as_of,
                name=f"{method} {path}",
                on_attempt=lambda attempt: self._observe(call, attempt),
            )
            call.attempts += len(exchange.attempts)
            if call.code == 105002 and round_ == 1:
                self.refresh()
                continue
            break
        if call.code == 0:
            return call
        call.error = self._http.redact(call.error or "failed")
        raise ShopApiError(
            f"tiktok_shop {method} {path} failed: {call.error}, request_id={call.request_id}",
            code=call.code,
            request_id=call.request_id,
            call=call,
        )

    def _observe(self, call: ShopCall, attempt: Attempt) -> None:
        lost, response = self._count(call.path, attempt), attempt.response
        if lost is not None or response is None:
            call.attempt_codes.append(lost or "transport")
            call.code, call.status, call.payload = TIMEOUT_CODE, None, None
            call.error = f"no answer: {attempt.describe()}"
            return
        call.status = response.status_code
        payload, _ = decode_body(response)
        code, request_id = envelope_code(payload)
        call.request_id = request_id or response.headers.get("x-tt-logid")
        if code is None:
            call.code, call.payload = None, payload
            call.attempt_codes.append(f"http {response.status_code}")
            call.error = f"HTTP {response.status_code} without a Shop envelope: {attempt.quote(200)!r}"
            self.stats["server_errors"] += 1
            return
        if isinstance(payload.get("data"), dict) and isinstance(payload["data"].get("orders"), list):
            payload = {
                **payload,
                "data": {**payload["data"], "orders": [redact_buyer(o) for o in payload["data"]["orders"]]},
            }
        call.code, call.payload = code, payload
        call.attempt_codes.append(code)
        if code == 0:
            call.error = None
            return
        rule = CODES.get(code)
        call.error = f"code {code}: {payload.get('message')} ({rule.meaning if rule else 'unknown code: not retried'})"
        self.stats["throttled" if code == 36009004 else f"code {code}"] += 1

    # --- endpoints ---------------------------------------------------------------------------
    def search_pages(
        self, path: str, body: dict[str, Any], *, page_size: int, as_of: datetime | None = None, max_pages: int = 500
    ) -> list[ShopCall]:
        """Every page of an ``orders/search`` or ``products/search`` (``next_page_token`` until empty; a token that
        does not move, or ``max_pages``, stops it: the last call's ``stop`` says why)."""
        calls: list[ShopCall] = []
        token = ""
        for _ in range(max_pages):
            query = {"page_size": str(page_size), **({"page_token": token} if token else {})}
            call = self.call("POST", path, query=query, body=body, as_of=as_of)
            calls.append(call)
            data = call.data if isinstance(call.data, dict) else {}
            following = data.get("next_page_token")
            if not isinstance(following, str) or not following or following == token:
                break
            token = following
        return calls


def _first(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
    return str(exc)
