"""The limiters' limits, read from the declared sources; the settings may lower them, never raise them.

The declaration (:data:`tiktok_pipeline.governance.sources.SOURCES`) is the one source of truth: a setting left
unset means the declared ``client_default``; a setting above the declared limit is refused with a
:class:`~tiktok_pipeline.settings.SettingsError` naming both. Settings stay a leaf (they import nothing from
here): the resources resolve the figures when they are built (``defs/resources.py``), and so do the clients'
own defaults. :func:`render_rate_limit_policy` writes ``docs/rate-limit-policy.md`` from the same declarations.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tiktok_pipeline.governance.source_models import RateLimit, SourceDeclaration
from tiktok_pipeline.governance.sources import BUSINESS_APP_POOL, SOURCES
from tiktok_pipeline.settings import PROJECT_ROOT, SettingsError

DISPLAY_DATA_ENDPOINTS = ("user/info", "video/list", "video/query")
"""The Display API endpoints the client paces (each against its own limit)."""
RATE_LIMIT_POLICY_PATH = PROJECT_ROOT / "docs" / "rate-limit-policy.md"
DECLARATIONS_FILE = "tiktok_pipeline/governance/sources.py"


def _resolve(source: SourceDeclaration, limit: RateLimit, configured: float | None) -> float:
    assert limit.requests is not None and limit.client_default is not None  # a paced limit (the model checks)
    if configured is None:
        return limit.client_default
    if configured > limit.requests:
        raise SettingsError(
            f"{limit.setting}={configured:g} is above the declared rate limit of source {source.name!r}"
            f" ({', '.join(limit.endpoints)}: {limit.requests:g} requests per {limit.window_seconds:g} s"
            f" {limit.counted.replace('_', ' ')}; {DECLARATIONS_FILE}, SOURCES[{source.name!r}]). Lower"
            f" {limit.setting} (unset: {limit.client_default:g}), or correct the declaration if the limit changed."
        )
    return configured


def display_limit(sources: Mapping[str, SourceDeclaration] = SOURCES) -> RateLimit:
    """The Display API's declared per-endpoint limit (one for its paced endpoints)."""
    source = sources["display_api"]
    limits = {source.rate_limit(endpoint) for endpoint in DISPLAY_DATA_ENDPOINTS}
    if len(limits) != 1:
        raise ValueError(f"display_api declares different limits for {DISPLAY_DATA_ENDPOINTS}: one setting paces them")
    return limits.pop()


def display_requests_per_minute(configured: int | None, sources: Mapping[str, SourceDeclaration] = SOURCES) -> int:
    """Requests per endpoint and minute the Display API client keeps to: TIKTOK_REQUESTS_PER_MINUTE, else declared."""
    limit = display_limit(sources)
    if limit.window_seconds != 60:
        raise ValueError(f"display_api's limit counts {limit.window_seconds:g} s, TIKTOK_REQUESTS_PER_MINUTE a minute")
    return int(_resolve(sources["display_api"], limit, configured))


def business_requests_per_second(configured: float | None, sources: Mapping[str, SourceDeclaration] = SOURCES) -> float:
    """Requests a second the API for Business app's limiter keeps to (reporting and the Events API together):
    TIKTOK_BUSINESS_REQUESTS_PER_SECOND, else declared; refused above any source's declared limit of the pool."""
    pooled = [(s, limit) for s in sources.values() for limit in s.rate_limits if limit.pool == BUSINESS_APP_POOL]
    if not pooled:
        raise ValueError(f"no source declares a limit of pool {BUSINESS_APP_POOL!r}")
    return min(_resolve(source, limit, configured) for source, limit in pooled)


def provider_requests_per_minute(configured: int | None, sources: Mapping[str, SourceDeclaration] = SOURCES) -> int:
    """Requests a minute the analytics provider's client keeps to (the whole account): TIKTOK_PROVIDER_REQUESTS_PER_MINUTE,
    else declared; refused above the declared limit."""
    source = sources["analytics_provider"]
    limit = source.rate_limit("video/list")
    if limit.window_seconds != 60:
        raise ValueError(f"analytics_provider's limit counts {limit.window_seconds:g} s, the setting a minute")
    return int(_resolve(source, limit, configured))


SHOP_DATA_ENDPOINT = "orders/search"
"""An endpoint of the Shop app's limit (every Shop API endpoint counts against the one limiter)."""


def shop_requests_per_second(configured: float | None, sources: Mapping[str, SourceDeclaration] = SOURCES) -> float:
    """Requests a second the TikTok Shop client keeps to (every Shop API endpoint together):
    TIKTOK_SHOP_REQUESTS_PER_SECOND, else declared; refused above the declared limit."""
    source = sources["tiktok_shop"]
    limit = source.rate_limit(SHOP_DATA_ENDPOINT)
    if limit.window_seconds != 1:
        raise ValueError(
            f"tiktok_shop's limit counts {limit.window_seconds:g} s, TIKTOK_SHOP_REQUESTS_PER_SECOND a second"
        )
    return _resolve(source, limit, configured)


def _figure(value: float | None) -> str:
    return "not published" if value is None else f"{value:,g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_rate_limit_policy(sources: Mapping[str, SourceDeclaration] = SOURCES) -> str:
    """``docs/rate-limit-policy.md``: every declared source's limits, what the client keeps to, and why."""
    lines = [
        "# Rate-limit policy",
        "",
        f"Generated from the source declarations (`{DECLARATIONS_FILE}`) by `tiktok-pipeline docs rate-limits`;",
        "do not edit by hand (a test fails when this file is out of date).",
        "",
        "The client-side limiters read these figures: a setting left unset keeps to *client keeps to*; a setting",
        "may lower it, and a setting above *limit* is refused when the resources are built, naming both.",
        "Limits of one pool count every endpoint of the pool together, with one limiter per process.",
        "",
    ]
    for source in sources.values():
        lines += [
            f"## {source.title} (`{source.name}`)",
            "",
            f"Owner `{source.owner}`, terms: {source.terms.status} ({source.terms.name}"
            + (f", contract {source.terms.contract}" if source.terms.contract else "")
            + f"). Host {source.base_url}"
            + (f" (`{source.setting}`)." if source.setting else ".")
            + (f" Off unless `{source.switch}` is set." if source.switch else ""),
            "",
        ]
        if not source.rate_limits:
            lines += ["No outbound calls: nothing to pace.", ""]
            continue
        lines += [
            "| endpoints | counted | limit | window | client keeps to | setting | pool | per request | basis |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for limit in source.rate_limits:
            per_request = f"{limit.max_items:,} {limit.items}" if limit.max_items is not None else ""
            cells = [
                ", ".join(f"`{e}`" for e in limit.endpoints),
                limit.counted.replace("_", " "),
                _figure(limit.requests),
                f"{limit.window_seconds:g} s" if limit.requests is not None else "",
                _figure(limit.client_default) if limit.requests is not None else "not paced",
                f"`{limit.setting}`" if limit.setting else "",
                f"`{limit.pool}`" if limit.pool else "",
                per_request,
                limit.basis,
            ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_rate_limit_policy(path: Path = RATE_LIMIT_POLICY_PATH, *, check: bool = False) -> int:
    """Write the rendered policy to ``path`` (0); with ``check``, write nothing and return 1 if it is out of date."""
    rendered = render_rate_limit_policy()
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if check:
        if current != rendered:
            print(f"{path} is out of date: run `tiktok-pipeline docs rate-limits`")
            return 1
        print(f"{path} is up to date")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rendered, encoding="utf-8")
    print(f"wrote {path}" if current != rendered else f"{path} unchanged")
    return 0
