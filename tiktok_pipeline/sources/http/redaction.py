"""The secrets of one HTTP session, and every form they can be quoted in, replaced in any text.

A :class:`Redactor` holds plain secrets (tokens, client secrets) and secret URLs (webhooks: whoever
holds one can post). A receiver quoting a request back (``404 Cannot POST /services/T…/B…/<secret>``)
may quote it as sent, decoded, percent-encoded, JSON-escaped (``\\/``), HTML-escaped, with the query
reordered, or one part alone; so a URL is registered as its whole, its path and query, and each of its
parts that can carry a secret (path segments, query values, user info), each in all of those forms.
Matching ignores case (``%2f`` and ``%2F`` are the same byte). Hosts and plain words of a path
(``services``, ``triggers``) are not secrets and stay readable.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from urllib.parse import quote, unquote, unquote_plus

import httpx

REDACTED = "[redacted]"
MIN_SECRET_PART = 4
"""Shortest URL part treated as a secret (``T0`` or ``1.0`` is not one; ``T000`` may be)."""
PLAIN_WORD_UNTIL = 12
"""Letters-only URL parts (``services``, ``invoke``) shorter than this are words, not secrets."""


def carries_secret(part: str) -> bool:
    """Whether one path segment or query value may be (part of) a secret: not a short plain word."""
    if len(part) < MIN_SECRET_PART:
        return False
    return len(part) >= PLAIN_WORD_UNTIL or not part.replace("-", "").replace("_", "").isalpha()


def quoted_forms(text: str) -> set[str]:
    """``text`` as it may be quoted back: as is, decoded, percent-encoded, JSON- and HTML-escaped."""
    forms = {text, unquote(text), unquote_plus(text), quote(text, safe=""), quote(text, safe="/")}
    forms |= {form.replace("/", "\\/") for form in list(forms)} | {html.escape(form) for form in list(forms)}
    return {form for form in forms if form}


def secret_url_forms(url: str) -> list[str]:
    """The parts of a secret URL to redact: the URL (as configured and as httpx prints it), its path with and
    without the query, its query, and each path segment, query value and user-info part that may be a secret."""
    parsed = httpx.URL(url)
    target = parsed.raw_path.decode("ascii")
    path, _, query = target.partition("?")
    wholes = [url, str(parsed), target, path, parsed.path, query]
    segments = [s for p in (path, parsed.path) for s in p.split("/")]
    values = [pair.partition("=")[2] for pair in query.split("&")]
    userinfo = parsed.userinfo.decode("ascii").split(":")
    parts = [p for p in (*segments, *values, *userinfo) if carries_secret(p) or carries_secret(unquote_plus(p))]
    return sorted({w for w in wholes if len(w) > 1} | set(parts), key=len, reverse=True)


class Redactor:
    """Secrets (plain and URLs) registered for one session, replaced by ``replacement`` in any text."""

    def __init__(self, replacement: str = REDACTED) -> None:
        self.replacement = replacement
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, secrets: Iterable[str]) -> None:
        """Register plain secrets (each in every quoted form); empty ones are ignored."""
        self._register(form for secret in secrets if secret for form in quoted_forms(secret))

    def add_url(self, url: str) -> None:
        """Register a secret URL: every part of it that may be quoted back (:func:`secret_url_forms`)."""
        self._register(form for part in secret_url_forms(url) for form in quoted_forms(part))

    def _register(self, forms: Iterable[str]) -> None:
        new = set(forms) - self._forms
        if new:
            self._forms |= new
            alternatives = sorted(self._forms, key=len, reverse=True)  # the longest form wins where forms overlap
            self._pattern = re.compile("|".join(map(re.escape, alternatives)), re.IGNORECASE)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def found_in(self, text: str) -> bool:
        """Whether ``text`` holds any registered secret."""
        return self._pattern is not None and self._pattern.search(text) is not None

    def redact(self, text: str) -> str:
        """``text`` with every registered secret, in any of its forms, replaced."""
        return text if self._pattern is None else self._pattern.sub(self.replacement, text)
