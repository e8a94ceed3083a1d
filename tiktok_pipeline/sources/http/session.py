"""One HTTP session for every outbound call: retries on tenacity, ``Retry-After``, rate limit, hooks, redaction.

A caller sends one *logical* request with :meth:`HttpSession.request` and gets an :class:`Exchange`
back: every :class:`Attempt` made, the last one's response or the error that replaced it, and why
retrying stopped. The session never raises for an HTTP answer or a lost connection; the caller maps
the exchange to its own result or error (envelope codes, request ids, ...). What is worth another
attempt is the caller's decision (``retryable``, given each response); an attempt without an answer
(timeout, transport error) is retried only for ``idempotent`` requests: otherwise the server may or
may not have processed it, and the exchange ends there, unanswered.

Between attempts the session waits the server's ``Retry-After`` (seconds or HTTP-date, at most
:attr:`RetryPolicy.retry_after_cap_seconds`) when it sent a usable one, else exponential backoff with
full jitter. A call never spends more than :attr:`RetryPolicy.max_retry_seconds` in attempts and waits:
when the next wait (the server's ``Retry-After`` as asked, or the backoff) would pass it, the call stops
at once (``Exchange.stop == "retry_budget"``): a ``Retry-After: 86400`` is never slept.

Secrets given to the session (tokens, webhook URLs: :class:`~.redaction.Redactor`) are replaced in
httpx's log lines while it is open, in text quoted from attempts, and in anything passed through
:meth:`HttpSession.redact`; the session's own log lines name the request by the caller's ``name``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Self

import httpx
import tenacity

from tiktok_pipeline.sources.http.asof import AS_OF_EXTENSION
from tiktok_pipeline.sources.http.calllog import record_call
from tiktok_pipeline.sources.http.exchange import Attempt, Exchange, Stop
from tiktok_pipeline.sources.http.ratelimit import SlidingWindowLimiter
from tiktok_pipeline.sources.http.redaction import REDACTED, Redactor
from tiktok_pipeline.sources.http.retry import FullJitter, RetryPolicy, retry_on_status
from tiktok_pipeline.sources.http.retry_after import retry_after_seconds

log = logging.getLogger(__name__)

RequestHook = Callable[[httpx.Request], None]


class _RedactingFilter(logging.Filter):
    """Replaces the session's secrets in records of the logger it is attached to."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if self._redactor:
            message = record.getMessage()
            if self._redactor.found_in(message):
                record.msg, record.args = self._redactor.redact(message), None
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
        secret_urls: Iterable[str] = (),
        redacted: str = REDACTED,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        source: str = "unknown",
    ) -> None:
        """``request_hooks`` are httpx request event hooks (e.g. the simulator's as-of header); ``secrets``
        (tokens) and ``secret_urls`` (webhooks) are never to be quoted, in any form (replaced by ``redacted``);
        ``wall_clock`` dates HTTP-date Retry-Afters. ``source`` (a ``SOURCES`` name, or ``webhook``) names its calls in
        ``api_call_log`` (:mod:`.calllog`); a session holding secret URLs records ``webhook`` as their endpoint."""
        self.source = source
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self._sleep = sleep
        self._wall_clock = wall_clock
        self.redactor = Redactor(redacted)
        self.redactor.add(secrets)
        self._secret_urls = False
        for url in secret_urls:
            self.redactor.add_url(url)
            self._secret_urls = True
        self._backoff = FullJitter(self.retry)
        self._http = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=timeout_seconds,
            event_hooks={"request": list(request_hooks)},
        )
        self._filter: logging.Filter | None = _RedactingFilter(self.redactor)
        logging.getLogger("httpx").addFilter(self._filter)

    @property
    def request_hooks(self) -> list[RequestHook]:
        return list(self._http.event_hooks["request"])

    def add_secrets(self, *secrets: str) -> None:
        """Register secrets obtained on the way (a refreshed access token): redacted from now on."""
        self.redactor.add(secrets)

    def redact(self, text: str) -> str:
        """``text`` with every secret of the session, in any quoted form, replaced."""
        return self.redactor.redact(text)

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
        retry_seconds: float | None = None,
        name: str | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        on_retry: Callable[[Attempt, float], None] | None = None,
        **httpx_kwargs: Any,
    ) -> Exchange:
        """Send one logical request with retries; ``httpx_kwargs`` (params, json, data, headers, auth) go to httpx.

        ``limit_key``: take a slot of the session's limiter under this key before every attempt.
        ``as_of``: the instant the request is made as of (reaches the host only through a hook).
        ``max_attempts`` / ``retry_seconds``: what is left of the policy's attempts / retry budget (a caller
        resending after a token refresh). ``on_attempt`` sees every attempt once it is classified, ``on_retry``
        every retry with its wait. Exceptions other than httpx's request errors (from auth flows, hooks, the
        limiter) propagate at once.
        """
        # a session holding secrets names requests by the caller's name only: its URLs may be secrets
        label = self.redact(name or f"{method} {self.redactor.replacement if self.redactor else httpx.URL(url).path}")
        budget = self.retry.max_retry_seconds if retry_seconds is None else max(0.0, retry_seconds)
        exchange = Exchange([], budget_seconds=budget)
        extensions = {AS_OF_EXTENSION: as_of} if as_of is not None else None
        call_started = time.perf_counter()

        def attempt() -> Attempt:
            current = Attempt(len(exchange.attempts) + 1, redact=self.redact)
            exchange.attempts.append(current)
            if limit_key is not None and self.limiter is not None:
                self.limiter.acquire(limit_key)
            started = time.perf_counter()
            try:
                current.response = self._http.request(method, url, extensions=extensions, **httpx_kwargs)
            except httpx.RequestError as exc:
                current.error = exc
                current.retryable = idempotent
            else:
                current.retryable = retryable(current.response)
                if current.retryable:
                    current.retry_after = retry_after_seconds(current.response, now=self._wall_clock(), cap=None)
            current.seconds = time.perf_counter() - started
            exchange.seconds += current.seconds
            if on_attempt is not None:
                on_attempt(current)
            return current

        def stopped(why: Stop, condition: bool) -> bool:
            if condition:
                exchange.stop = why
            return condition

        def out_of_attempts(state: tenacity.RetryCallState) -> bool:
            return stopped("attempts", state.attempt_number >= (max_attempts or self.retry.max_attempts))

        def out_of_budget(state: tenacity.RetryCallState) -> bool:
            last: Attempt = state.outcome.result()  # type: ignore[union-attr]
            asked = max(last.retry_after or 0.0, state.upcoming_sleep)  # the server's wait as asked, not capped
            return stopped("retry_budget", exchange.seconds + asked > budget)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            last: Attempt = state.outcome.result()  # type: ignore[union-attr]
            delay = state.next_action.sleep if state.next_action else 0.0
            exchange.seconds += delay
            log.debug("%s: attempt %d got %s, retrying in %.2fs", label, last.number, last.describe(), delay)
            if on_retry is not None:
                on_retry(last, delay)

        tenacity.Retrying(
            stop=lambda state: out_of_attempts(state) or out_of_budget(state),
            wait=self._wait,
            retry=tenacity.retry_if_result(lambda a: a.retryable),
            sleep=self._sleep,
            before_sleep=before_sleep,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            reraise=True,
        )(attempt)
        endpoint = "webhook" if self._secret_urls else httpx.URL(url).path
        record_call(self.source, endpoint, exchange, latency_seconds=time.perf_counter() - call_started)
        return exchange

    def _wait(self, state: tenacity.RetryCallState) -> float:
        last: Attempt = state.outcome.result()  # type: ignore[union-attr]
        if last.retry_after is None:
            return self._backoff(state)
        return min(last.retry_after, max(0.0, self.retry.retry_after_cap_seconds))


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

    def _count_stop(self, exchange: Exchange) -> None:
        """Count a call whose retry budget ran out (e.g. a ``Retry-After`` beyond it) in ``stats``."""
        if exchange.exhausted and exchange.stop == "retry_budget":
            self.stats["retry_budget_stops"] += 1

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
