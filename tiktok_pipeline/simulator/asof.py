"""The instant a simulator answers as of: the ``X-Simulator-As-Of`` header (epoch seconds), else now."""

from __future__ import annotations

import math
from collections.abc import Mapping

AS_OF_HEADER = "X-Simulator-As-Of"


def requested_as_of(headers: Mapping[str, str], now: float) -> float:
    """The as-of instant a request asks for; ``ValueError`` (the message names the header) when malformed."""
    raw = headers.get(AS_OF_HEADER)
    if raw is None:
        return now
    try:
        as_of = float(raw)
    except ValueError:
        as_of = math.nan
    if not math.isfinite(as_of):
        raise ValueError(f"{AS_OF_HEADER} must be epoch seconds, got {raw!r}.")
    return as_of
