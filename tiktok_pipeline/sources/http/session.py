"""One HTTP session for every outbound call: retries on tenacity, ``Retry-After``, rate limit, hooks, redaction.

A caller sends one *logical* request with :meth:`HttpSession.request` and gets an :class:`Exchange`
back: every :class:`Attempt` made, the last one's response or transport error, and whether the
attempts ran out. The session never raises for an HTTP answer or a lost connection; the caller maps
the exchange to its own result or error (envelope codes, request ids, ...). What is worth another
attempt is the caller's decision (``retryable``, given each response); an attempt without an answer
(timeout, transport error) is retried only for ``idempotent`` requests: otherwise the server may or
may not have processed it, and the exchange ends there, unanswered.

Between attempts the session waits the server's ``Retry-After`` (seconds or HTTP-date, at most
:attr:`RetryPolicy.retry_after_cap_seconds`) when it sent a usable one, else exponential backoff with
full jitter. Secrets given to the session (tokens, webhook URLs) are replaced by ``[redacted]`` in
httpx's log lines while it is open and in anything passed through :meth:`HttpSession.redact`; the
session's own log lines name the request by the caller's ``name``, never by its URL.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

import httpx
import tenacity

from tiktok_pipeline.sources.http.asof import AS_OF_EXTENSION
from tiktok_pipeline.sources.http.ratelimit import SlidingWindowLimiter
from tiktok_pipeline.sources.http.retry import FullJitter, RetryPolicy, retry_on_status
from tiktok_pipeline.sources.http.retry_after import retry_after_seconds

log = logging.getLogger(__name__)

REDACTED = "[redacted]"
RequestHook = Callable[[httpx.Request], None]


def secret_url_forms(url: str) -> list[str]:
    """The forms a secret URL can appear in: as configured, as httpx prints it (default ports dropped,
    characters quoted), and its path with and without the query, and the query (where webhook tokens live)."""
    parsed = httpx.URL(url)
    query = parsed.query.decode("ascii")
    parts = [parsed.raw_path.decode("ascii"), parsed.path, query]
    return [url, str(parsed), *(part for part in parts if len(part) > 1)]


@dataclass
class Attempt:
    """One send of a logical request: its response, or the transport error that replaced it."""

    number: int
    response: httpx.Response | None = None
    error: httpx.TransportError | None = None
    retryable: bool = False
    """Worth another attempt (by the caller's classifier, or no answer to an idempotent request)."""
    retry_after: float | None = None
    """The wait the server asked for (``Retry-After``, capped), when it sent a usable one."""

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    @property
    def timed_out(self) -> bool:
        return isinstance(self.error, httpx.TimeoutException)

    def describe(self) -> str:
        """``HTTP 503``, ``timeout`` or ``transport error (ConnectError)``; never a URL."""
        if self.response is not None:
            return f"HTTP {self.response.status_code}"
        return "timeout" if self.timed_out else f"transport error ({type(self.error).__name__})"


@dataclass
class Exchange:
    """Every attempt of one logical request; the last one is the outcome."""

    attempts: list[Attempt]

    @property
    def last(self) -> Attempt:
        return self.attempts[-1]

    @property
    def response(self) -> httpx.Response | None:
        return self.last.response

    @property
    def answered(self) -> bool:
        """An answer came back for the last attempt (else the server may or may not have processed it)."""
        return self.last.response is not None

    @property
    def exhausted(self) -> bool:
        """The last attempt was worth retrying, but no attempt was left."""
        return self.last.retryable


class _RedactingFilter(logging.Filter):
    """Replaces the session's secrets in records of the logger it is attached to."""

    def __init__(self, redact: Callable[[str], str], secrets: Sequence[str]) -> None:
        super().__init__()
        self._redact, self._secrets = redact, secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self._secrets):
            record.msg, record.args = self._redact(message), None
        return True


class HttpSession:
    """An httpx client with the project's retry, rate-limit, hook and redaction policies; a context manager."""

    def __init__(
        self,
        base_url: str = "",
        *,
        retry: RetryPolicy | None = None,
        limiter: SlidingWindowLimiter | None = None,
        timeout_seconds: float = 20.0,
        transport: httpx.BaseTransport | None = None,
        request_hooks: Sequence[RequestHook] = (),
        secrets: Iterable[str] = (),
        redacted: str = REDACTED,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``request_hooks`` are httpx request event hooks (e.g. the simulator's as-of header); ``secrets``
        are the strings never to log (longest replaced first); ``wall_clock`` dates HTTP-date Retry-Afters."""
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._redacted = redacted
        self._backoff = FullJitter(self.retry)
        self._http = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=timeout_seconds,
            event_hooks={"request": list(request_hooks)},
        )
        self._filter: logging.Filter | None = None
        if self._secrets:
            self._filter = _RedactingFilter(self.redact, self._secrets)
            logging.getLogger("httpx").addFilter(self._filter)

    @property
    def request_hooks(self) -> list[RequestHook]:
        return list(self._http.event_hooks["request"])

    def redact(self, text: str) -> str:
        """``text`` with every secret of the session replaced."""
        for secret in self._secrets:
            text = text.replace(secret, self._redacted)
        return text

    def close(self) -> None:
        self._http.close()
        if self._filter is not None:
            logging.getLogger("httpx").removeFilter(self._filter)
            self._filter = None

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        retryable: Callable[[httpx.Response], bool] = retry_on_status(),
        idempotent: bool = True,
        limit_key: str | None = None,
        as_of: datetime | None = None,
        max_attempts: int | None = None,
        name: str | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        on_retry: Callable[[Attempt, float], None] | None = None,
        **httpx_kwargs: Any,
    ) -> Exchange:
        """Send one logical request with retries; ``httpx_kwargs`` (params, json, data, headers, auth) go to httpx.

        ``limit_key``: take a slot of the session's limiter under this key before every attempt.
        ``as_of``: the instant the request is made as of (reaches the host only through a hook).
        ``on_attempt`` sees every attempt once it is classified, ``on_retry`` every retry with its wait.
        Exceptions other than transport errors (from auth flows, hooks, the limiter) propagate at once.
        """
        # a session holding secrets names requests by the caller's name only: its URLs may be secrets
        label = self.redact(name or f"{method} {self._redacted if self._secrets else httpx.URL(url).path}")
        attempts: list[Attempt] = []
        extensions = {AS_OF_EXTENSION: as_of} if as_of is not None else None

        def attempt() -> Attempt:
            current = Attempt(len(attempts) + 1)
            attempts.append(current)
            if limit_key is not None and self.limiter is not None:
                self.limiter.acquire(limit_key)
            try:
                current.response = self._http.request(method, url, extensions=extensions, **httpx_kwargs)
            except httpx.TransportError as exc:
                current.error = exc
                current.retryable = idempotent
            else:
                current.retryable = retryable(current.response)
                if current.retryable:
                    current.retry_after = retry_after_seconds(
                        current.response, now=self._wall_clock(), cap=self.retry.retry_after_cap_seconds
                    )
            if on_attempt is not None:
                on_attempt(current)
            return current

        def before_sleep(state: tenacity.RetryCallState) -> None:
            last: Attempt = state.outcome.result()  # type: ignore[union-attr]
            delay = state.next_action.sleep if state.next_action else 0.0
            log.debug("%s: attempt %d got %s, retrying in %.2fs", label, last.number, last.describe(), delay)
            if on_retry is not None:
                on_retry(last, delay)

        tenacity.Retrying(
            stop=tenacity.stop_after_attempt(max_attempts or self.retry.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_result(lambda a: a.retryable),
            sleep=self._sleep,
            before_sleep=before_sleep,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            reraise=True,
        )(attempt)
        return Exchange(attempts)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        last: Attempt = state.outcome.result()  # type: ignore[union-attr]
        return last.retry_after if last.retry_after is not None else self._backoff(state)


class SessionClient:
    """Base of the API clients: each owns one :class:`HttpSession` (``_http``) and is a context manager."""

    _http: HttpSession
    stats: Counter[str]

    def _count(self, endpoint: str, attempt: Attempt) -> str | None:
        """Count one attempt in ``stats``; for an attempt without an answer, ``"timeout"`` or ``"transport"``."""
        self.stats[f"requests.{endpoint}"] += 1
        if attempt.response is not None:
            return None
        self.stats["timeouts" if attempt.timed_out else "transport_errors"] += 1
        return "timeout" if attempt.timed_out else "transport"

    @property
    def retry(self) -> RetryPolicy:
        return self._http.retry

    @property
    def request_hooks(self) -> list[RequestHook]:
        """The httpx request hooks installed (the simulator's as-of hook, or none for a real host)."""
        return self._http.request_hooks

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
