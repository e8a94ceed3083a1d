"""What one logical request produced: every :class:`Attempt`, and why retrying stopped (:class:`Exchange`).

An attempt without an answer *timed out* when httpx says so, and also when the server took the request and
then closed or reset the connection without answering (``RemoteProtocolError: Server disconnected without
sending a response``, ``ReadError``): the client waited and nothing came, as when a gateway gives up on a
slow backend, or the simulator's timeout fault over real HTTP. Failures before the request was sent
(connection refused, DNS, TLS) and answers that are not HTTP at all are *transport errors*.

Text quoted from an attempt (:meth:`Attempt.quote`, :meth:`Attempt.error_text`) passes through the
session's redaction: a receiver echoing a secret URL or token back never puts it in a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx

from tiktok_pipeline.sources.http.decode import escaped

Stop = Literal["attempts", "retry_budget"]
DROPPED = ("disconnect", "closed")
"""Words of httpx's/h11's ``RemoteProtocolError`` when the peer closed the connection instead of answering."""


def dropped_after_sending(error: BaseException | None) -> bool:
    """The server had the request, then closed or reset the connection without a (complete) answer."""
    if isinstance(error, httpx.ReadError):
        return True
    return isinstance(error, httpx.RemoteProtocolError) and any(word in str(error).lower() for word in DROPPED)


@dataclass
class Attempt:
    """One send of a logical request: its response, or the error that replaced it."""

    number: int
    response: httpx.Response | None = None
    error: httpx.RequestError | None = None
    retryable: bool = False
    """Worth another attempt (by the caller's classifier, or no answer to an idempotent request)."""
    retry_after: float | None = None
    """The wait the server asked for (``Retry-After``, uncapped), when it sent a usable one."""
    seconds: float = 0.0
    """How long the send took (until the answer, the timeout or the error)."""
    redact: Callable[[str], str] = field(default=str, repr=False, compare=False)
    """The session's redaction, applied to every text quoted from this attempt."""

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    @property
    def timed_out(self) -> bool:
        """No answer came in time: an httpx timeout, or the connection dropped after the request was sent."""
        return isinstance(self.error, httpx.TimeoutException) or dropped_after_sending(self.error)

    def describe(self) -> str:
        """``HTTP 503``, ``timeout``, ``timeout (ReadError: connection dropped without an answer)`` or
        ``transport error (ConnectError)``; never a URL."""
        if self.response is not None:
            return f"HTTP {self.response.status_code}"
        name = type(self.error).__name__
        if isinstance(self.error, httpx.TimeoutException):
            return "timeout"
        return (
            f"timeout ({name}: connection dropped without an answer)" if self.timed_out else f"transport error ({name})"
        )

    def error_text(self) -> str:
        """``ReadTimeout: <message>`` of an attempt without an answer, redacted; empty for an answer."""
        if self.error is None:
            return ""
        return escaped(self.redact(f"{type(self.error).__name__}: {self.error}"))

    def quote(self, limit: int) -> str:
        """At most ``limit`` characters of the answer's body as text, redacted (secrets echoed back never show)."""
        if self.response is None:
            return ""
        return escaped(self.redact(self.response.content.decode("utf-8", "replace")))[:limit]


@dataclass
class Exchange:
    """Every attempt of one logical request; the last one is the outcome, ``stop`` says why retrying ended."""

    attempts: list[Attempt]
    stop: Stop | None = None
    """``attempts``: every attempt was used; ``retry_budget``: the next wait (a server's ``Retry-After`` or the
    backoff) would pass the call's retry budget; None: the last attempt was final (an answer, or unretryable)."""
    budget_seconds: float = 0.0
    """The call's retry budget (:attr:`RetryPolicy.max_retry_seconds`, or what the caller left of it)."""
    seconds: float = 0.0
    """Time spent in attempts and waits between them (limiter pacing not included)."""

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
        """The last attempt was worth retrying, but no attempt (or no time) was left."""
        return self.last.retryable

    @property
    def gave_up(self) -> str:
        """Why an exhausted exchange stopped, for messages: ``gave up after 5 attempts``, or the budget it would pass."""
        count = len(self.attempts)
        if self.stop != "retry_budget":
            return f"gave up after {count} attempts"
        asked = self.last.retry_after
        wait = f"Retry-After {asked:g} s" if asked is not None else "the next backoff"
        return (
            f"gave up after {count} attempt{'s' if count > 1 else ''}: {wait} would pass the {self.budget_seconds:g} s"
            f" retry budget, {self.seconds:.1f} s of it spent (TIKTOK_HTTP_MAX_RETRY_SECONDS)"
        )
