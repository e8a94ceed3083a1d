"""The one HTTP layer every outbound call goes through (Display API, API for Business, Events API, webhooks).

- :class:`HttpSession` / :class:`RetryPolicy`: retries on tenacity (exponential backoff, full jitter, at
  most ``max_attempts``), what is retryable decided by the caller, ``Retry-After`` honoured and capped per
  wait, every call within a total retry budget, no resend without an answer unless the request is idempotent.
- :class:`Exchange` / :class:`Attempt`: what a call produced; a connection dropped after the request was
  sent counts as a timeout.
- :class:`Redactor` / :func:`secret_url_forms`: a session's secrets (tokens, webhook URLs) in every form a
  receiver may quote them back, replaced in logs and in any text quoted from an answer.
- :class:`SlidingWindowLimiter`: a client-side rate limit any session can take slots of.
- :func:`send_as_of`: the simulator's ``X-Simulator-As-Of`` request hook, installed only for a simulator.
- :func:`parse_retry_after`: ``Retry-After`` as delta-seconds or HTTP-date (RFC 9110).
"""

from tiktok_pipeline.sources.http.asof import AS_OF_EXTENSION, SIMULATOR_HOOKS, send_as_of
from tiktok_pipeline.sources.http.exchange import Attempt, Exchange
from tiktok_pipeline.sources.http.ratelimit import SlidingWindowLimiter
from tiktok_pipeline.sources.http.redaction import Redactor, secret_url_forms
from tiktok_pipeline.sources.http.retry import RETRYABLE_STATUSES, RetryPolicy, retry_on_status
from tiktok_pipeline.sources.http.retry_after import parse_retry_after, retry_after_seconds
from tiktok_pipeline.sources.http.session import HttpSession, SessionClient

__all__ = [
    "AS_OF_EXTENSION",
    "RETRYABLE_STATUSES",
    "SIMULATOR_HOOKS",
    "Attempt",
    "Exchange",
    "HttpSession",
    "Redactor",
    "RetryPolicy",
    "SessionClient",
    "SlidingWindowLimiter",
    "parse_retry_after",
    "retry_after_seconds",
    "retry_on_status",
    "secret_url_forms",
    "send_as_of",
]
