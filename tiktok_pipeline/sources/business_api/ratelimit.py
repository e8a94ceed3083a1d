"""The API for Business app's rate limit on the client side: one limiter per app, shared by its connections.

TikTok limits an *app* to 10, 20 or 30 requests a second (its QPS tier), every connection and endpoint
together, and answers the excess with code 40100 (Airbyte's TikTok Marketing connector, ``streams.py``;
airbytehq/airbyte issue 70992). So the client takes a slot of **one** limiter (the HTTP layer's
:class:`~tiktok_pipeline.sources.http.SlidingWindowLimiter`, key :data:`APP_LIMIT_KEY`) before every attempt,
whatever the endpoint, and every client of the same host in this process shares it
(:func:`shared_app_limiter`): the reporting run and the Events API relay do not add up past the tier. Runs in
other processes have limiters of their own: give each a share of the tier
(``TIKTOK_BUSINESS_REQUESTS_PER_SECOND``), or let the rare 40100 be retried with backoff. The figures (the
default and the ceiling the setting may not pass) are the declared sources' (:mod:`tiktok_pipeline.governance.sources`).
"""

from __future__ import annotations

import math
import threading

from tiktok_pipeline.governance.rate_limits import business_requests_per_second
from tiktok_pipeline.sources.http import SlidingWindowLimiter

DEFAULT_REQUESTS_PER_SECOND = business_requests_per_second(None)
"""The declared sources' client default, TikTok's lowest tier (``TIKTOK_BUSINESS_REQUESTS_PER_SECOND`` unset;
``tiktok_pipeline/governance/sources.py``)."""
ARRIVAL_MARGIN_SECONDS = 0.1
"""Added to the limiter's window: TikTok counts a second as requests *arrive*, and they arrive later than they
leave by a varying delay (connection set-up, scheduling), so two requests sent exactly 1 s apart can arrive
closer. 100 ms covers that jitter at the cost of about a tenth of the tier."""
APP_LIMIT_KEY = "app"
"""The limiter's only key: every endpoint of the app counts against the same window."""

_shared: dict[tuple[str, float], SlidingWindowLimiter] = {}
_shared_lock = threading.Lock()


def app_limiter(requests_per_second: float) -> SlidingWindowLimiter:
    """A limiter allowing at most ``requests_per_second`` requests in any second, with the arrival margin.

    Whole requests are counted per second, as TikTok counts them: 10 → 10 per 1.1 s; 2.5 → 2 per 1.1 s; a
    rate below 1 spaces single requests (0.5 → one per 2.1 s).
    """
    if not (requests_per_second > 0 and math.isfinite(requests_per_second)):
        raise ValueError(f"requests_per_second must be a positive number, got {requests_per_second!r}")
    limit = max(1, int(requests_per_second))
    window = max(1.0, limit / requests_per_second) + ARRIVAL_MARGIN_SECONDS
    return SlidingWindowLimiter(limit, window)


def shared_app_limiter(base_url: str, requests_per_second: float) -> SlidingWindowLimiter:
    """The process-wide limiter of the app at ``base_url`` (one per host and rate)."""
    key = (base_url.rstrip("/"), float(requests_per_second))
    with _shared_lock:
        limiter = _shared.get(key)
        if limiter is None:
            limiter = _shared[key] = app_limiter(requests_per_second)
        return limiter
