"""Every logical outbound call, recorded once after its retries: the rows of ``api_call_log``.

The session (:meth:`~.session.HttpSession.request`) calls :func:`record_call` once per logical call with
what it knows (source, endpoint path, status, attempts, latency); what only the caller knows (why the call
was made, the creator or advertiser it concerned, the window it served) comes from a context the
caller sets around its calls with :func:`call_context` (nested contexts add to the outer one). The scope is not
the caller's to say: it is read from the source declarations for the call's source and endpoint
(:func:`~tiktok_pipeline.governance.call_scopes.call_scope`), so an OAuth refresh made inside a data call is not
recorded under the data call's scopes. Rows are
kept only inside :func:`recording`, which yields the step's buffer; the step writes it with its other
writes (:func:`tiktok_pipeline.warehouse.call_log.append_calls`). Outside any ``recording`` nothing is kept
(the polling sensor's own calls, for instance); a CLI command records its calls with
:func:`tiktok_pipeline.warehouse.call_spool.record_command_calls`.

Never recorded: query strings, tokens, webhook URLs (a session holding secret URLs records its
``endpoint_label``, e.g. ``slack``, never a path), request or response bodies, hashed identifiers.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from tiktok_pipeline.governance.call_scopes import call_scope
from tiktok_pipeline.sources.http.exchange import Exchange


@dataclass(frozen=True)
class CallContext:
    """What the caller knows about the calls made inside it: why, about whom, for which window."""

    purpose: str | None = None
    source: str | None = None
    """Overrides the session's source (one API for Business session serves reporting and the Events API)."""
    endpoint: str | None = None
    """Overrides the path (a webhook's kind, ``slack`` or ``teams``: its URL is a secret)."""
    subject: str | None = None
    window_start: datetime | None = None


@dataclass
class CallBuffer:
    """The rows recorded inside one :func:`recording` (one step), in call order."""

    rows: list[dict[str, Any]] = field(default_factory=list)


_CONTEXT: contextvars.ContextVar[CallContext] = contextvars.ContextVar("tiktok_call_context", default=CallContext())  # noqa: B039 (frozen)
_BUFFER: contextvars.ContextVar[CallBuffer | None] = contextvars.ContextVar("tiktok_call_buffer", default=None)


@contextlib.contextmanager
def recording(buffer: CallBuffer | None = None) -> Iterator[CallBuffer]:
    """Keep a row for every logical call made inside the block (by this thread or context) in the yielded buffer
    (``buffer``, or a new one)."""
    buffer = CallBuffer() if buffer is None else buffer
    token = _BUFFER.set(buffer)
    try:
        yield buffer
    finally:
        _BUFFER.reset(token)


@contextlib.contextmanager
def call_context(**fields: Any) -> Iterator[CallContext]:
    """Set ``purpose``, ``source``, ``endpoint``, ``subject`` or ``window_start`` for the calls made inside the block."""
    current = replace(_CONTEXT.get(), **{k: v for k, v in fields.items() if v is not None})
    token = _CONTEXT.set(current)
    try:
        yield current
    finally:
        _CONTEXT.reset(token)


def _envelope(exchange: Exchange) -> tuple[str | None, str | None, int | None]:
    """TikTok's error code (an OAuth refusal's ``error``), log_id/request_id and item count (``data.videos`` or
    ``data.list``) of the last answer, when its body is a JSON envelope."""
    response = exchange.response
    if response is None or "json" not in response.headers.get("content-type", ""):
        return None, None, None
    try:
        body = response.json()
    except ValueError:
        return None, None, None
    if not isinstance(body, dict):
        return None, None, None
    error: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else {}
    code = error.get("code", body.get("code"))
    if code is None and isinstance(body.get("error"), str) and body["error"]:
        code = body["error"]  # an OAuth refusal: {"error": "invalid_grant", "log_id": ...}
    log_id = error.get("log_id") or body.get("request_id") or body.get("log_id")
    data: dict[str, Any] = body["data"] if isinstance(body.get("data"), dict) else {}
    items = next((len(v) for k in ("videos", "list", "orders", "products") if isinstance(v := data.get(k), list)), None)
    return (None if code is None else str(code)), (None if log_id is None else str(log_id)), items


def record_call(source: str, endpoint: str, exchange: Exchange, *, latency_seconds: float) -> None:
    """Keep one row for a finished logical call, if a :func:`recording` is active; else do nothing."""
    buffer = _BUFFER.get()
    if buffer is None or not exchange.attempts:
        return
    context = _CONTEXT.get()
    code, log_id, items = _envelope(exchange)
    window = context.window_start
    source = context.source or source
    buffer.rows.append(
        {
            "called_at": datetime.now(UTC).replace(tzinfo=None),
            "window_start": window.astimezone(UTC).replace(tzinfo=None) if window is not None else None,
            "source": source,
            "endpoint": context.endpoint or endpoint,
            "scope": call_scope(source, endpoint),
            "purpose": context.purpose,
            "subject": context.subject,
            "http_status": exchange.last.status,
            "error_code": code,
            "log_id": log_id,
            "attempts": len(exchange.attempts),
            "rows_produced": items,
            "latency_ms": round(latency_seconds * 1000.0, 3),
            "outcome": "answered" if exchange.answered else exchange.last.describe(),
        }
    )
