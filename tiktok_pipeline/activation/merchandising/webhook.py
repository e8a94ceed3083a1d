"""Push a merchandising feed to a webhook, signed with HMAC-SHA256, through the one HTTP layer.

The body is the feed's JSON document. ``X-Tiktok-Pipeline-Signature: t=<unix seconds>,v1=<hex>`` carries the
HMAC-SHA256, keyed with ``TIKTOK_MERCH_WEBHOOK_SECRET``, of ``<t>.<body>``; a receiver recomputes it (see
:func:`verify_signature`) and refuses a stale ``t``. ``X-Tiktok-Pipeline-Feed-Version`` names the version (a receiver
may deduplicate by it). 429, 5xx and timeouts are retried by the HTTP layer (backoff with full jitter,
``Retry-After`` honoured, within the retry budget); other answers are final. The URL and the key are secrets: the
session redacts them from logs and quoted answers, and ``api_call_log`` records the call as source ``webhook``,
endpoint ``merchandising``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from tiktok_pipeline.sources.http import HttpSession, RetryPolicy
from tiktok_pipeline.sources.http.calllog import call_context

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Tiktok-Pipeline-Signature"
VERSION_HEADER = "X-Tiktok-Pipeline-Feed-Version"
ENDPOINT = "merchandising"
REDACTED = "[merchandising webhook]"
_SIGNATURE = re.compile(r"^t=(\d{1,12}),v1=([0-9a-f]{64})$")


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for ``body`` sent at ``timestamp``: ``t=<timestamp>,v1=<HMAC-SHA256(secret, "t.body")>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def parse_signature(header: str) -> tuple[int, str]:
    """``(t, v1)`` of a signature header; ``ValueError`` naming the header when it is not ``t=<digits>,v1=<64 hex>``."""
    match = _SIGNATURE.fullmatch(header.strip())
    if match is None:
        raise ValueError(f"{SIGNATURE_HEADER} is not of the form t=<unix seconds>,v1=<64 hex digits>")
    return int(match.group(1)), match.group(2)


def verify_signature(secret: str, body: bytes, header: str, *, now: float, tolerance_seconds: float = 300.0) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance_seconds`` of ``now``."""
    try:
        timestamp, digest = parse_signature(header)
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature(secret, body, timestamp), f"t={timestamp},v1={digest}")


@dataclass(frozen=True)
class PushResult:
    """One push's outcome (never holds the URL or the key)."""

    delivered: bool
    attempts: int
    http_status: int | None
    error: str | None
    answered: bool
    """Whether any attempt got an HTTP answer (else the receiver may or may not have the feed)."""


def _retryable(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


class FeedPusher:
    """Posts feeds to one webhook; a context manager owning one HTTP session."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        retry: RetryPolicy | None = None,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = url
        self._secret = secret
        self._clock = clock
        self._http = HttpSession(
            retry=retry or RetryPolicy(),
            timeout_seconds=timeout_seconds,
            transport=transport,
            secrets=[secret],
            secret_urls=[url],
            redacted=REDACTED,
            sleep=sleep,
            source="webhook",
        )

    def __enter__(self) -> FeedPusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def push(self, body: bytes, version: str) -> PushResult:
        """POST ``body`` signed, retrying 429, 5xx and timeouts; the outcome."""
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, body, int(self._clock())),
            VERSION_HEADER: version,
        }
        with call_context(endpoint=ENDPOINT, purpose="merchandising feed"):
            exchange = self._http.request(
                "POST", self._url, content=body, headers=headers, retryable=_retryable, name="merchandising webhook"
            )
        attempts, last = len(exchange.attempts), exchange.last
        answered = any(a.response is not None for a in exchange.attempts)
        if last.response is not None and last.response.is_success:
            log.info("merchandising feed %s delivered (HTTP %d)", version, last.response.status_code)
            return PushResult(True, attempts, last.response.status_code, None, True)
        error = last.describe() if last.response is None else f"HTTP {last.response.status_code}: {last.quote(200)}"
        log.error("merchandising feed %s not delivered after %d attempts (%s)", version, attempts, error)
        return PushResult(False, attempts, last.status, error, answered)
