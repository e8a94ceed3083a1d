"""The retry policy of the HTTP layer: attempts, full-jitter exponential backoff (tenacity), retryable statuses."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx
import tenacity

from tiktok_pipeline.settings.domains import HTTP_MAX_RETRY_SECONDS

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def retry_on_status(statuses: Iterable[int] = RETRYABLE_STATUSES) -> Callable[[httpx.Response], bool]:
    """A ``retryable`` classifier: the answer is worth another attempt when its status is in ``statuses``."""
    wanted = frozenset(statuses)
    return lambda response: response.status_code in wanted


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``max_attempts`` sends; between them ``Retry-After`` (capped), else full-jitter backoff.

    The backoff after attempt *n* is uniform in [0, min(``cap_seconds``, ``base_seconds`` · 2ⁿ⁻¹)]. Each wait
    is at most ``retry_after_cap_seconds``; a call spends at most ``max_retry_seconds`` in attempts and waits
    (TIKTOK_HTTP_MAX_RETRY_SECONDS): a wait that would pass it (a ``Retry-After`` as asked) ends the call.
    """

    max_attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 30.0
    retry_after_cap_seconds: float = 60.0
    max_retry_seconds: float = HTTP_MAX_RETRY_SECONDS
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not self.max_retry_seconds >= 0:
            raise ValueError(f"max_retry_seconds must be at least 0, not {self.max_retry_seconds}")


class FullJitter(tenacity.wait_exponential):
    """tenacity's exponential wait, drawn uniformly below it from the policy's own ``rng``."""

    def __init__(self, policy: RetryPolicy) -> None:
        super().__init__(multiplier=policy.base_seconds, max=policy.cap_seconds)
        self._rng = policy.rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        return self._rng.uniform(0.0, super().__call__(retry_state))
