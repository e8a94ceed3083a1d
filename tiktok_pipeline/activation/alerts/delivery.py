"""Deliver alerts to Slack and Microsoft Teams webhooks, with retries and Slack pacing.

Webhook URLs are secrets (whoever holds one can post to the channel): they are kept as
:class:`~pydantic.SecretStr` and never written to logs, exception messages, reprs or results.
httpx's own request log line names the URL, so while an :class:`AlertSender` is open a filter on
the ``httpx`` logger replaces its URLs with ``[webhook]``.

Retries use exponential backoff with full jitter on 429, 5xx, timeouts and transport errors,
waiting at least a ``Retry-After`` (seconds) when the server sends one. Other 4xx answers are final.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from tiktok_pipeline.activation.alerts.formatting import slack_payload, teams_payload
from tiktok_pipeline.activation.alerts.models import Alert

log = logging.getLogger(__name__)

ENV_VARS: dict[Literal["slack", "teams"], str] = {
    "slack": "TIKTOK_SLACK_WEBHOOK_URL",
    "teams": "TIKTOK_TEAMS_WEBHOOK_URL",
}
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

    def secret_forms(self) -> list[str]:
        """The URL as configured and as httpx prints it (default ports dropped, characters quoted)."""
        raw = self.url.get_secret_value()
        return [raw, str(httpx.URL(raw))]


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of delivering one alert to one destination (never holds the webhook URL)."""

    kind: Literal["slack", "teams"]
    delivered: bool
    attempts: int
    last_status: int | None
    error: str | None = None


class _RedactUrls(logging.Filter):
    """Replace the given secret URLs in records of the logger it is attached to."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self._secrets):
            record.msg, record.args = _redact(message, self._secrets), None
        return True


def _redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by :data:`REDACTED`."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _retry_after(response: httpx.Response) -> float:
    """The ``Retry-After`` delay in seconds, or 0 when absent, negative or not a number of seconds."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "0")))
    except ValueError:
        return 0.0


def _retryable(status: int) -> bool:
    """Whether an HTTP status is worth another attempt: rate limited or a server error."""
    return status == 429 or status >= 500


class AlertSender:
    """Posts alerts to every configured destination; use as a context manager (owns one httpx client)."""

    def __init__(
        self,
        destinations: list[Destination],
        *,
        max_attempts: int = 5,
        base_seconds: float = 0.5,
        cap_seconds: float = 30.0,
        timeout_seconds: float = 10.0,
        slack_min_interval_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """Configure retries (``max_attempts`` posts at most per destination), timeouts and pacing.

        ``sleep``, ``clock``, ``rng`` and ``transport`` are injectable for tests.
        """
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._destinations = list(destinations)
        self._max_attempts = max_attempts
        self._base = base_seconds
        self._cap = cap_seconds
        self._slack_interval = slack_min_interval_seconds
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._client = httpx.Client(timeout=timeout_seconds, transport=transport)
        self._last_slack_post: dict[str, float] = {}
        self._secrets = [form for d in self._destinations for form in d.secret_forms()]
        self._log_filter = _RedactUrls(self._secrets)
        logging.getLogger("httpx").addFilter(self._log_filter)

    def __enter__(self) -> AlertSender:
        """Return the sender itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the HTTP client."""
        self.close()

    def close(self) -> None:
        """Close the HTTP client and remove the log filter."""
        self._client.close()
        logging.getLogger("httpx").removeFilter(self._log_filter)

    def send(self, alert: Alert) -> list[DeliveryResult]:
        """Deliver ``alert`` to every destination, in order; one result per destination."""
        payloads = {"slack": slack_payload(alert), "teams": teams_payload(alert)}
        return [self._deliver(d, payloads[d.kind]) for d in self._destinations]

    def _backoff(self, attempt: int, retry_after: float) -> float:
        """Full-jitter delay after failed attempt number ``attempt``, but at least ``retry_after``."""
        jitter = self._rng.uniform(0.0, min(self._cap, self._base * 2 ** (attempt - 1)))
        return max(jitter, retry_after)

    def _pace(self, url: str) -> None:
        """Wait until ``slack_min_interval_seconds`` have passed since the last post to this Slack webhook."""
        last = self._last_slack_post.get(url)
        if last is not None:
            wait = last + self._slack_interval - self._clock()
            if wait > 0:
                self._sleep(wait)

    def _deliver(self, destination: Destination, payload: dict[str, Any]) -> DeliveryResult:
        """Post ``payload`` to one destination, retrying transient failures."""
        url = destination.url.get_secret_value()
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self._max_attempts + 1):
            if destination.kind == "slack":
                self._pace(url)
            retry_after = 0.0
            try:
                response = self._client.post(url, json=payload)
            except httpx.TimeoutException:
                status, error = None, "timeout"
            except httpx.TransportError as exc:
                status, error = None, f"transport error ({type(exc).__name__})"
            else:
                status = response.status_code
                if response.is_success:
                    log.info("alert delivered to %s (HTTP %d)", destination.kind, status)
                    return DeliveryResult(destination.kind, True, attempt, status)
                error = f"HTTP {status}: {_redact(response.text, self._secrets)[:ERROR_TEXT_LIMIT]}"
                if not _retryable(status):
                    log.error("alert to %s rejected with HTTP %d, not retrying", destination.kind, status)
                    return DeliveryResult(destination.kind, False, attempt, status, error)
                retry_after = _retry_after(response)
            finally:
                if destination.kind == "slack":
                    self._last_slack_post[url] = self._clock()
            if attempt < self._max_attempts:
                delay = self._backoff(attempt, retry_after)
                log.warning(
                    "alert to %s failed (%s), retry %d/%d in %.2fs",
                    destination.kind,
                    status or error,
                    attempt,
                    self._max_attempts - 1,
                    delay,
                )
                self._sleep(delay)
        log.error(
            "alert to %s undelivered after %d attempts (%s)", destination.kind, self._max_attempts, status or error
        )
        return DeliveryResult(destination.kind, False, self._max_attempts, status, error)


def destinations_from_env(environ: Mapping[str, str] = os.environ) -> list[Destination]:
    """Destinations configured by ``TIKTOK_SLACK_WEBHOOK_URL`` / ``TIKTOK_TEAMS_WEBHOOK_URL`` (unset or empty: none)."""
    return [
        Destination(kind=kind, url=SecretStr(value))
        for kind, var in ENV_VARS.items()
        if (value := environ.get(var, "").strip())
    ]
