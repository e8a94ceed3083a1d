"""Decoding a response body without ever raising: hostile bodies become a reason, not an exception."""

from __future__ import annotations

import json
from typing import Any

import httpx

MAX_BODY_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in a response body (TikTok's are about 4 deep)."""
MAX_UNDECODABLE_BODY_BYTES = 16_384
"""How much of a body that cannot be decoded is kept (escaped) in the landing record."""


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests arrays/objects deeper than ``limit`` (iterative: no recursion on hostile input)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def escaped(text: str) -> str:
    """``text`` with lone surrogates backslash-escaped, so it encodes as UTF-8 (logs, metadata, the warehouse)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def raw_body(content: bytes, limit: int = MAX_UNDECODABLE_BODY_BYTES) -> str:
    """The first ``limit`` bytes of a body as text, bytes that are not UTF-8 escaped (``\\xff``), size noted."""
    text = content[:limit].decode("utf-8", "backslashreplace")
    return text if len(content) <= limit else f"{text}… [truncated: {len(content)} bytes in all]"


def decode_body(response: httpx.Response) -> tuple[Any, str | None]:
    """The JSON body, or (when it cannot be decoded: not JSON, not UTF-8, nested too deep, integers too long)
    the raw body as bounded escaped text and the reason. Never raises."""
    content = response.content
    try:
        payload = json.loads(content)
    except RecursionError:
        problem = f"body nested too deeply to decode ({len(content)} bytes)"
    except UnicodeDecodeError as exc:
        problem = f"body is not valid UTF-8 ({exc.reason} at byte {exc.start})"
    except ValueError as exc:  # JSONDecodeError, and int() beyond the digit limit
        problem = f"body is not JSON ({escaped(str(exc))[:200]})"
    else:
        if not _depth_exceeds(payload, MAX_BODY_DEPTH):
            return payload, None
        problem = f"body nested deeper than {MAX_BODY_DEPTH} levels"
    return raw_body(content), problem
