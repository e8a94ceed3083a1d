"""The offline simulator's as-of instant as an httpx request hook.

A request made ``as_of`` an instant carries it in a request extension (:data:`AS_OF_EXTENSION`);
:func:`send_as_of`, installed only on sessions whose host is a simulator, turns it into the
``X-Simulator-As-Of`` header. Against a real host the hook is not installed and no header is sent.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from tiktok_pipeline.simulator.asof import AS_OF_HEADER

AS_OF_EXTENSION = "tiktok_pipeline.as_of"
"""The request extension holding the instant (a timezone-aware ``datetime``) a request is made as of."""


def send_as_of(request: httpx.Request) -> None:
    """httpx request hook: send the request's as-of instant (epoch seconds) in ``X-Simulator-As-Of``."""
    moment: datetime | None = request.extensions.get(AS_OF_EXTENSION)
    if moment is not None:
        request.headers[AS_OF_HEADER] = repr(moment.timestamp())


SIMULATOR_HOOKS = (send_as_of,)
"""The request hooks a session talking to a simulator installs."""
