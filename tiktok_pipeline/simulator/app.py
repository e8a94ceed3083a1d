"""The Display API v2 as one request handler: ``httpx.Request`` in, ``httpx.Response`` out.

The same handler serves the in-process transport (:meth:`Simulator.transport`) and real HTTP
(:mod:`tiktok_pipeline.simulator.server`). Counts and visibility are computed as of the
``X-Simulator-As-Of`` header (epoch seconds) when present, else now; rate limits and token
expiry always use the wall clock.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

import httpx

from .faults import FaultConfig, SimulatedTimeout, corrupt
from .tokens import TokenClaims, TokenSigner
from .world import World, WorldConfig

AS_OF_HEADER = "x-simulator-as-of"
CODE_PREFIX = "sim-code-"
SCOPES = "user.info.basic,user.info.profile,user.info.stats,video.list"
MAX_PER_REQUEST = 20

USER_FIELDS = {
    "open_id": "user.info.basic",
    "union_id": "user.info.basic",
    "avatar_url": "user.info.basic",
    "display_name": "user.info.basic",
    "username": "user.info.profile",
    "bio_description": "user.info.profile",
    "is_verified": "user.info.profile",
    "follower_count": "user.info.stats",
    "following_count": "user.info.stats",
    "likes_count": "user.info.stats",
    "video_count": "user.info.stats",
}
VIDEO_FIELDS = {
    "id", "create_time", "cover_image_url", "share_url", "video_description", "duration", "height", "width",
    "title", "embed_html", "embed_link", "like_count", "comment_count", "share_count", "view_count",
}
STATUS = {
    "access_token_invalid": 401,
    "scope_not_authorized": 401,
    "invalid_params": 400,
    "scope_permission_missed": 400,
    "rate_limit_exceeded": 429,
    "internal_error": 500,
}
DATA_ENDPOINTS = {"/v2/user/info/": "GET", "/v2/video/list/": "POST", "/v2/video/query/": "POST"}


class ApiError(Exception):
    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.headers = code, message, headers or {}


class Simulator:
    """An offline TikTok Display API v2 with a deterministic world."""

    def __init__(
        self,
        world: WorldConfig | None = None,
        faults: FaultConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        access_token_ttl: int = 7200,
        refresh_token_ttl: int = 180 * 86400,
        rate_limit: int = 600,
        rate_window_seconds: float = 60.0,
        client_secret: str = "sim-secret",
    ) -> None:
        self.world = World(world)
        self.faults = faults or FaultConfig()
        self.clock = clock
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.rate_limit = rate_limit
        self.rate_window_seconds = rate_window_seconds
        self.client_secret = client_secret
        self.stats: Counter[str] = Counter()
        self._signer = TokenSigner(f"{self.world.config.seed}:{client_secret}")
        self._generation: dict[str, int] = {}
        self._sent: dict[str, deque[float]] = {path: deque() for path in DATA_ENDPOINTS}
        self._rng = random.Random(self.faults.seed)
        self._log_ids = itertools.count(1)
        self._lock = threading.Lock()

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport that answers in-process (timeouts become ``httpx.ReadTimeout``)."""

        def handler(request: httpx.Request) -> httpx.Response:
            try:
                return self.handle(request)
            except SimulatedTimeout as exc:
                raise httpx.ReadTimeout(str(exc), request=request) from exc

        return httpx.MockTransport(handler)

    # --- plumbing ----------------------------------------------------------------------------
    def _log_id(self) -> str:
        with self._lock:
            serial = next(self._log_ids)
        return f"{datetime.now(timezone.utc):%Y%m%d%H%M%S}{serial:06d}{self.world.config.seed:04X}"

    def _json(self, status: int, body: Any, log_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.Response(status, json=body, headers={"x-tt-logid": log_id, **(headers or {})})

    def _envelope(self, data: dict[str, Any], log_id: str) -> httpx.Response:
        return self._json(200, {"data": data, "error": {"code": "ok", "message": "", "log_id": log_id}}, log_id)

    def _error(self, error: ApiError, log_id: str) -> httpx.Response:
        body = {"data": {}, "error": {"code": error.code, "message": error.message, "log_id": log_id}}
        return self._json(STATUS[error.code], body, log_id, error.headers)

    # --- entry point -------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request exactly as the Display API would."""
        path = request.url.path if request.url.path.endswith("/") else request.url.path + "/"
        log_id = self._log_id()
        with self._lock:
            self.stats[f"requests {path}"] += 1
        if path == "/v2/oauth/token/":
            return self._oauth(request, log_id)
        if path not in DATA_ENDPOINTS:
            return self._json(404, {"data": {}, "error": {"code": "not_found", "message": f"no route {path}", "log_id": log_id}}, log_id)
        try:
            if request.method != DATA_ENDPOINTS[path]:
                raise ApiError("invalid_params", f"{path} expects {DATA_ENDPOINTS[path]}, got {request.method}")
            self._throttle(path)
            injected = self._inject_fault(log_id)
            if injected is not None:
                return injected
            claims = self._authenticate(request)
            params = dict(request.url.params)
            as_of = self._as_of(request)
            if path == "/v2/user/info/":
                data = self._user_info(claims, params, as_of)
            elif path == "/v2/video/list/":
                data = self._video_list(claims, params, self._body(request), as_of)
            else:
                data = self._video_query(claims, params, self._body(request), as_of)
            return self._envelope(data, log_id)
        except ApiError as error:
            return self._error(error, log_id)

    # --- limits, faults, auth ----------------------------------------------------------------
    def _throttle(self, path: str) -> None:
        now = self.clock()
        with self._lock:
            sent = self._sent[path]
            while sent and sent[0] <= now - self.rate_window_seconds:
                sent.popleft()
            if len(sent) >= self.rate_limit:
                self.stats["throttled"] += 1
                wait = sent[0] + self.rate_window_seconds - now
                headers = {"Retry-After": str(max(1, math.ceil(wait)))} if self.faults.send_retry_after else {}
                raise ApiError("rate_limit_exceeded", "Request rate limit exceeded; retry later.", headers)
            sent.append(now)

    def _inject_fault(self, log_id: str) -> httpx.Response | None:
        f = self.faults
        with self._lock:
            roll = self._rng.random()
            gateway = self._rng.random() < 0.3
        if roll < f.rate_429:
            self.stats["fault 429"] += 1
            headers = {"Retry-After": "1"} if f.send_retry_after else {}
            return self._error(ApiError("rate_limit_exceeded", "Request rate limit exceeded.", headers), log_id)
        if roll < f.rate_429 + f.rate_5xx:
            self.stats["fault 5xx"] += 1
            if gateway:
                return httpx.Response(502, text="<html><body>502 Bad Gateway</body></html>")
            return self._error(ApiError("internal_error", "Something went wrong. Please try again."), log_id)
        if roll < f.rate_429 + f.rate_5xx + f.rate_timeout:
            self.stats["fault timeout"] += 1
            raise SimulatedTimeout("simulated upstream timeout")
        return None

    def _authenticate(self, request: httpx.Request) -> TokenClaims:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        claims = self._signer.read(token, "act")
        if claims is None or claims.expires_at <= self.clock():
            raise ApiError("access_token_invalid", "The access token is invalid or not found in the request.")
        return claims

    def _as_of(self, request: httpx.Request) -> float:
        raw = request.headers.get(AS_OF_HEADER)
        if raw is None:
            return self.clock()
        try:
            return float(raw)
        except ValueError:
            raise ApiError("invalid_params", f"{AS_OF_HEADER} must be epoch seconds, got {raw!r}") from None

    @staticmethod
    def _body(request: httpx.Request) -> dict[str, Any]:
        try:
            body = json.loads(request.content or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError("invalid_params", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ApiError("invalid_params", "The request body must be a JSON object.")
        return body

    @staticmethod
    def _fields(params: dict[str, str], allowed: set[str] | dict[str, str], scope: str) -> list[str]:
        raw = params.get("fields")
        if not raw:
            raise ApiError("invalid_params", "The fields query parameter is required.")
        fields = [f.strip() for f in raw.split(",") if f.strip()]
        unknown = [f for f in fields if f not in allowed]
        if unknown:
            raise ApiError("invalid_params", f"Invalid fields: {','.join(unknown)}")
        granted = set(scope.split(","))
        needed = {allowed[f] for f in fields} if isinstance(allowed, dict) else {"video.list"}
        missing = needed - granted
        if missing:
            raise ApiError("scope_not_authorized", f"The user did not authorize the scope: {','.join(sorted(missing))}")
        return fields

    # --- endpoints ---------------------------------------------------------------------------
    def _user_info(self, claims: TokenClaims, params: dict[str, str], as_of: float) -> dict[str, Any]:
        fields = self._fields(params, USER_FIELDS, claims.scope)
        creator = self.world.creator_by_open_id(claims.open_id)
        if creator is None:
            raise ApiError("access_token_invalid", "The access token belongs to no known user.")
        values: dict[str, Any] = {
            "open_id": creator.open_id,
            "union_id": "u" + creator.open_id[:24],
            "avatar_url": f"https://p16-sign.tiktokcdn.com/sim/avatar/{creator.open_id}.jpeg",
            "display_name": creator.display_name,
            "username": creator.username,
            "bio_description": f"Simulated creator {creator.username}",
            "is_verified": False,
        }
        if any(f in fields for f in ("follower_count", "following_count", "likes_count", "video_count")):
            values.update(self.world.user_stats(creator.username, as_of))
        return {"user": {f: values[f] for f in fields}}

    def _video_record(self, video_id: str, fields: list[str], as_of: float) -> dict[str, Any]:
        video = self.world.video(video_id)
        assert video is not None
        counts = self.world.counts(video_id, as_of)
        values = {
            "id": video.id,
            "create_time": video.create_time,
            "cover_image_url": video.cover_image_url,
            "share_url": video.share_url,
            "video_description": video.video_description,
            "duration": video.duration,
            "height": video.height,
            "width": video.width,
            "title": video.title,
            "embed_html": f'<blockquote class="tiktok-embed" data-video-id="{video.id}"></blockquote>',
            "embed_link": video.embed_link,
            "like_count": counts.like_count,
            "comment_count": counts.comment_count,
            "share_count": counts.share_count,
            "view_count": counts.view_count,
        }
        record = {f: values[f] for f in fields}
        with self._lock:
            broken = self._rng.random() < self.faults.rate_malformed
            if broken:
                self.stats["fault malformed"] += 1
                record = corrupt(record, self._rng)
        return record

    def _creator_of(self, claims: TokenClaims) -> str:
        creator = self.world.creator_by_open_id(claims.open_id)
        if creator is None:
            raise ApiError("access_token_invalid", "The access token belongs to no known user.")
        return creator.username

    def _video_list(self, claims: TokenClaims, params: dict[str, str], body: dict[str, Any], as_of: float) -> dict[str, Any]:
        fields = self._fields(params, VIDEO_FIELDS, claims.scope)
        max_count = body.get("max_count", 10)
        if not isinstance(max_count, int) or not 1 <= max_count <= MAX_PER_REQUEST:
            raise ApiError("invalid_params", f"max_count must be an integer from 1 to {MAX_PER_REQUEST}.")
        cursor = body.get("cursor", int(as_of * 1000))
        if not isinstance(cursor, int):
            raise ApiError("invalid_params", "cursor must be an epoch time in milliseconds.")
        older = [v for v in self.world.videos_as_of(self._creator_of(claims), as_of) if v.create_time * 1000 < cursor]
        page = older[:max_count]
        return {
            "videos": [self._video_record(v.id, fields, as_of) for v in page],
            "cursor": page[-1].create_time * 1000 if page else cursor,
            "has_more": len(older) > len(page),
        }

    def _video_query(self, claims: TokenClaims, params: dict[str, str], body: dict[str, Any], as_of: float) -> dict[str, Any]:
        fields = self._fields(params, VIDEO_FIELDS, claims.scope)
        ids = (body.get("filters") or {}).get("video_ids") if isinstance(body.get("filters"), dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise ApiError("invalid_params", "filters.video_ids must be a non-empty list of strings.")
        if len(ids) > MAX_PER_REQUEST:
            raise ApiError("invalid_params", f"At most {MAX_PER_REQUEST} video_ids per request.")
        owner = self._creator_of(claims)
        owned = []
        for video_id in dict.fromkeys(ids):
            video = self.world.video(video_id)
            if video is not None and video.creator_username == owner and video.create_time <= as_of:
                owned.append(video_id)
        return {"videos": [self._video_record(i, fields, as_of) for i in owned]}

    # --- OAuth -------------------------------------------------------------------------------
    def _oauth(self, request: httpx.Request, log_id: str) -> httpx.Response:
        def fail(error: str, description: str) -> httpx.Response:
            return self._json(400, {"error": error, "error_description": description, "log_id": log_id}, log_id)

        if request.method != "POST":
            return fail("invalid_request", "Use POST with a form-encoded body.")
        form = dict(parse_qsl(request.content.decode(errors="replace")))
        grant = form.get("grant_type")
        if not form.get("client_key") or not grant:
            return fail("invalid_request", "client_key and grant_type are required.")
        if form.get("client_secret") != self.client_secret:
            return fail("invalid_client", "Client secret is invalid.")
        if grant == "authorization_code":
            code = form.get("code", "")
            creator = self.world.creator(code[len(CODE_PREFIX):]) if code.startswith(CODE_PREFIX) else None
            if creator is None:
                return fail("invalid_grant", "Authorization code is invalid or expired.")
            open_id = creator.open_id
        elif grant == "refresh_token":
            claims = self._signer.read(form.get("refresh_token", ""), "rft")
            with self._lock:
                latest = self._generation.get(claims.open_id, 0) if claims else 0
            if claims is None or claims.expires_at <= self.clock() or claims.generation < latest:
                return fail("invalid_grant", "Refresh token is invalid or expired.")
            open_id = claims.open_id
        else:
            return fail("unsupported_grant_type", f"grant_type {grant!r} is not supported.")
        with self._lock:
            generation = self._generation.get(open_id, 0) + 1
            self._generation[open_id] = generation
            self.stats[f"oauth {grant}"] += 1
        now = self.clock()
        access = TokenClaims("act", open_id, generation, now + self.access_token_ttl, SCOPES)
        refresh = TokenClaims("rft", open_id, generation, now + self.refresh_token_ttl, SCOPES)
        return self._json(
            200,
            {
                "access_token": self._signer.issue(access),
                "expires_in": self.access_token_ttl,
                "open_id": open_id,
                "refresh_token": self._signer.issue(refresh),
                "refresh_expires_in": self.refresh_token_ttl,
                "scope": SCOPES,
                "token_type": "Bearer",
            },
            log_id,
        )
