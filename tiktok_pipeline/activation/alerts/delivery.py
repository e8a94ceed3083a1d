"""Deliver alerts to Slack and Microsoft Teams webhooks, with retries and Slack pacing.

Webhook URLs are secrets (whoever holds one can post to the channel): they are kept as
:class:`~pydantic.SecretStr` and never written to logs, exception messages, reprs or results.
They are registered as secret URLs with the sender's HTTP session (:mod:`tiktok_pipeline.sources.http`),
which replaces them, their paths and queries and each secret part of them (``T…``, ``B…``, the token,
a Teams ``sig``), in any encoding, with ``[webhook]``: in httpx's request log line and in every answer
quoted in a result (a receiver answering ``404 Cannot POST /services/T…/B…/<secret>``).

Retries are the HTTP layer's (exponential backoff with full jitter) on 429, 5xx, timeouts and
transport errors, waiting the ``Retry-After`` (seconds or HTTP-date, capped) when the server sends
one, within the per-call retry budget: a ``Retry-After`` beyond it ends the attempt at once and the
alert stays undelivered (retried by a later alert run). Other 4xx answers are final. Posts to a Slack
webhook are paced: one a second per webhook.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from tiktok_pipeline.activation.alerts.formatting import slack_payload, teams_payload
from tiktok_pipeline.activation.alerts.models import Alert
from tiktok_pipeline.settings.domains import HTTP_MAX_RETRY_SECONDS
from tiktok_pipeline.sources.http import Attempt, HttpSession, RetryPolicy, SlidingWindowLimiter
from tiktok_pipeline.sources.http.calllog import call_context

log = logging.getLogger(__name__)

ERROR_TEXT_LIMIT = 200
REDACTED = "[webhook]"


class Destination(BaseModel):
    """One webhook to deliver alerts to; ``url`` is a secret."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    kind: Literal["slack", "teams"]
    url: SecretStr

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: SecretStr) -> SecretStr:
        """Accept only absolute http(s) URLs; the error message never repeats the URL."""
        try:
            parsed = httpx.URL(url.get_secret_value())
        except httpx.InvalidURL:
            raise ValueError("webhook URL is not a valid URL") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("webhook URL must be an absolute http(s) URL")
        return url


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of delivering one alert to one destination (never holds the webhook URL)."""

    kind: Literal["slack", "teams"]
    delivered: bool
    attempts: int
    last_status: int | None
    error: str | None = None


def _retryable(response: httpx.Response) -> bool:
    """Whether a webhook's answer is worth another attempt: rate limited or a server error."""
    return response.status_code == 429 or response.status_code >= 500


def _pace_key(url: str) -> str:
    """The Slack pacing key of a webhook: a digest, so that the limiter never holds the URL itself."""
    return hashlib.sha256(url.encode()).hexdigest()


class AlertSender:
    """Posts alerts to every configured destination; use as a context manager (owns one HTTP session)."""

    def __init__(
        self,
        destinations: list[Destination],
        *,
        max_attempts: int = 5,
        base_seconds: float = 0.5,
        cap_seconds: float = 30.0,
        retry_after_cap_seconds: float = 60.0,
        max_retry_seconds: float = HTTP_MAX_RETRY_SECONDS,
        timeout_seconds: float = 10.0,
        slack_min_interval_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """Configure retries (``max_attempts`` posts at most per destination, within ``max_retry_seconds``),
        timeouts and pacing.

        ``sleep``, ``clock``, ``rng`` and ``transport`` are injectable for tests.
        """
        retry = RetryPolicy(
            max_attempts=max_attempts,
            base_seconds=base_seconds,
            cap_seconds=cap_seconds,
            retry_after_cap_seconds=retry_after_cap_seconds,
            max_retry_seconds=max_retry_seconds,
            rng=rng or random.Random(),
        )
        self._destinations = list(destinations)
        self._max_attempts = max_attempts
        self._http = HttpSession(
            retry=retry,
            limiter=SlidingWindowLimiter(1, slack_min_interval_seconds, clock=clock, sleep=sleep),
            timeout_seconds=timeout_seconds,
            transport=transport,
            secret_urls=[d.url.get_secret_value() for d in self._destinations],
            redacted=REDACTED,
            sleep=sleep,
            source="webhook",
        )

    def __enter__(self) -> AlertSender:
        """Return the sender itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the HTTP session."""
        self.close()

    def close(self) -> None:
        """Close the HTTP session (which removes its log filter)."""
        self._http.close()

    def send(self, alert: Alert) -> list[DeliveryResult]:
        """Deliver ``alert`` to every destination, in order; one result per destination."""
        payloads = {"slack": slack_payload(alert), "teams": teams_payload(alert)}
        return [self._deliver(d, payloads[d.kind]) for d in self._destinations]

    def _deliver(self, destination: Destination, payload: dict[str, Any]) -> DeliveryResult:
        """Post ``payload`` to one destination, retrying transient failures (Slack: paced by the limiter)."""
        url = destination.url.get_secret_value()
        kind = destination.kind

        def on_retry(attempt: Attempt, delay: float) -> None:
            log.warning(
                "alert to %s failed (%s), retry %d/%d in %.2fs",
                kind,
                attempt.status or attempt.describe(),
                attempt.number,
                self._max_attempts - 1,
                delay,
            )

        with call_context(endpoint=kind, purpose="alert"):
            exchange = self._http.request(
                "POST",
                url,
                json=payload,
                retryable=_retryable,
                limit_key=_pace_key(url) if kind == "slack" else None,
                name=f"alert to {kind}",
                on_retry=on_retry,
            )
        attempts, last = len(exchange.attempts), exchange.last
        if last.response is None:
            status, error = None, last.describe()
        else:
            status = last.response.status_code
            if last.response.is_success:
                log.info("alert delivered to %s (HTTP %d)", kind, status)
                return DeliveryResult(kind, True, attempts, status)
            error = f"HTTP {status}: {last.quote(ERROR_TEXT_LIMIT)}"
            if not exchange.exhausted:
                log.error("alert to %s rejected with HTTP %d, not retrying", kind, status)
                return DeliveryResult(kind, False, attempts, status, error)
        if exchange.stop == "retry_budget":
            error += f" ({exchange.gave_up})"
        log.error("alert to %s undelivered after %d attempts (%s)", kind, attempts, error)
        return DeliveryResult(kind, False, attempts, status, error)
