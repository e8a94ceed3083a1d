"""Every source the pipeline uses, declared once: :data:`SOURCES` (name → :class:`SourceDeclaration`).

The declarations are Python constants validated by pydantic when this module is imported, not a YAML or JSON
file: they are reviewed in the same diff as the code that uses them, mypy and the models check them before
anything runs, and nothing outside the locked dependencies is needed to read them (PyYAML is only a dev
dependency). Figures come from ``/work/shared/reference/tiktok-apis.md`` (§1, §3, §4, §7) and match what the
code does; the limiters read their limits from here (:mod:`tiktok_pipeline.governance.rate_limits`), and
``docs/rate-limit-policy.md`` is rendered from here (``tiktok-pipeline docs rate-limits``).

To declare a new source, add a :class:`SourceDeclaration` below and to :data:`SOURCES` (README → Sources).
An ``unofficial`` one is refused when the definitions load unless a risk acceptance is recorded
(:mod:`tiktok_pipeline.governance.risk`); one with a ``switch`` is only used (and so only checked) when that
setting turns it on (:mod:`tiktok_pipeline.governance.admission`).
"""

from __future__ import annotations

from types import MappingProxyType

from tiktok_pipeline.governance.source_models import (
    PersonalData,
    ProviderValidation,
    RateLimit,
    Retention,
    Scope,
    SourceDeclaration,
    Terms,
    Webhook,
)
from tiktok_pipeline.settings.retention import RetentionSettings

RETENTION_JOB = "window_retention_job (daily, 01:00 UTC)"


def _days(field: str) -> int:
    """The default of a RetentionSettings field: the declarations state the days kept when nothing is set."""
    return int(RetentionSettings.model_fields[field].default)


def _landing_files() -> Retention:
    return Retention(
        what="landing files (raw answers, TIKTOK_LANDING_DIR)",
        days=_days("landing_retention_days"),
        setting="TIKTOK_LANDING_RETENTION_DAYS",
        enforced_by=f"{RETENTION_JOB}, once the window was parsed and its day's window rows are pruned",
    )


def _aged(what: str, field: str) -> Retention:
    """Rows deleted by age (HELD_TABLES, tiktok_pipeline/governance/held_tables.py)."""
    return Retention(what=what, days=_days(field), setting=f"TIKTOK_{field}".upper(), enforced_by=RETENTION_JOB)


BUSINESS_APP_POOL = "tiktok_business_app"
"""The API for Business app's requests-per-second tier: reporting and the Events API count against it together."""

_BUSINESS_APP_BASIS = (
    "TikTok limits an app to 10, 20 or 30 requests a second (its QPS tier), every endpoint and connection together,"
    " and answers the excess with code 40100 (tiktok-apis.md §7: Airbyte streams.py, airbytehq/airbyte issue 70992)."
    " The declared limit is the highest tier; the client keeps to the lowest unless the setting names the app's tier."
)


def _business_app_limit(
    endpoints: tuple[str, ...], basis: str, *, max_items: int | None = None, items: str | None = None
) -> RateLimit:
    """A limit counted against the API for Business app's tier (:data:`BUSINESS_APP_POOL`)."""
    return RateLimit(
        endpoints=endpoints,
        counted="per_app",
        requests=30,
        window_seconds=1,
        client_default=10,
        setting="TIKTOK_BUSINESS_REQUESTS_PER_SECOND",
        pool=BUSINESS_APP_POOL,
        basis=basis,
        max_items=max_items,
        items=items,
    )


DISPLAY_API = SourceDeclaration(
    name="display_api",
    title="TikTok Display API v2 (Login Kit)",
    owner="team:data-platform",
    terms=Terms(status="official", name="TikTok for Developers terms of service (Login Kit, Display API)"),
    base_url="https://open.tiktokapis.com",
    setting="TIKTOK_API_BASE_URL",
    scopes=(
        Scope(name="user.info.basic", needed_for="user/info: open_id, display_name", endpoints=("user/info",)),
        Scope(name="user.info.profile", needed_for="user/info: username", endpoints=("user/info",)),
        Scope(
            name="user.info.stats",
            needed_for="user/info: follower_count, following_count, likes_count, video_count",
            endpoints=("user/info",),
        ),
        Scope(
            name="video.list",
            needed_for="video/list and video/query: every video field, counts included",
            endpoints=("video/list", "video/query"),
        ),
    ),
    rate_limits=(
        RateLimit(
            endpoints=("user/info", "video/list", "video/query"),
            counted="per_endpoint",
            requests=600,
            window_seconds=60,
            client_default=590,
            setting="TIKTOK_REQUESTS_PER_MINUTE",
            max_items=20,
            items="videos per request (video/list max_count, video/query video_ids)",
            basis=(
                "600 requests per 1-minute sliding window, separately for each endpoint; over it HTTP 429"
                " rate_limit_exceeded (tiktok-apis.md §1). The client's window slides like TikTok's; 590 leaves a"
                " margin for clock drift, and a rare 429 is retried."
            ),
        ),
        RateLimit(
            endpoints=("oauth/token", "oauth/revoke"),
            counted="per_endpoint",
            requests=None,
            window_seconds=60,
            basis="No published limit (tiktok-apis.md §1, §7); one refresh per creator per access-token lifetime.",
        ),
    ),
    personal_data=(
        PersonalData(
            data="open_id, username, display_name, follower/following/likes/video counts",
            subject="authorised creators",
            handling="stored as received in raw_creator_snapshots and the landing files; used only for their metrics",
        ),
        PersonalData(
            data="video ids, titles and counts of the creator's videos",
            subject="authorised creators",
            handling="stored as received (raw_video_snapshots and downstream tables, landing files)",
        ),
        PersonalData(
            data="OAuth access and refresh tokens, granted scopes",
            subject="authorised creators",
            handling="secrets: token store file (mode 0600) only, never logged, in run config, metadata or tables",
        ),
        PersonalData(
            data="consent: granted scopes, when granted, refresh horizon, revocation time, how and why",
            subject="authorised creators",
            handling="token store and its consent ledger (consent.json, mode 0600), creator_consent; never a token",
        ),
    ),
    retention=(
        Retention(
            what="window rows: raw_video_snapshots, raw_creator_snapshots, enriched_video_metrics, video_velocity",
            days=35,
            setting="TIKTOK_RETENTION_DAYS",
            enforced_by="window_retention_job (daily, 01:00 UTC), once the day is rolled up",
        ),
        Retention(what="daily rollups, video_current_state, poll_telemetry", enforced_by="nothing: kept"),
        _aged("display_api_quarantine (rejected records with their raw payload)", "quarantine_retention_days"),
        _landing_files(),
        _aged("api_call_log rows of its calls", "call_log_retention_days"),
        Retention(
            what="a creator's rows in every table, landing records, polling state and tokens, on request",
            enforced_by="tiktok-pipeline creators purge <handle-or-open_id> (after a revocation; kept otherwise)",
        ),
        Retention(
            what="creators' tokens (TIKTOK_TOKEN_STORE_PATH)",
            enforced_by="tiktok-pipeline tokens revoke <username> (revokes at TikTok and deletes them)",
        ),
    ),
    purpose=(
        "Near-real-time performance of the videos of creators who authorised the app: views, likes, comments and"
        " shares every 5 minutes, turned into velocity and momentum for the growth team."
    ),
    webhooks=(
        Webhook(
            events=("authorization.removed",),
            receiver=(
                "tiktok-pipeline display-webhooks serve --port P (tiktok_pipeline/ingest/display_webhooks.py); events"
                " land in TIKTOK_LANDING_DIR/display_webhooks/ before the 200"
            ),
            verification=(
                "TikTok-Signature t=<unix>,s=<hex>: HMAC-SHA256 keyed with TIKTOK_CLIENT_SECRET over t + '.' + body,"
                " compared in constant time; a bad signature or a timestamp more than"
                " TIKTOK_DISPLAY_WEBHOOK_TOLERANCE_SECONDS (300) from now is refused with 401"
            ),
            delivery="at least once: duplicates and retries for up to 72 hours; counted once (one landed file per event)",
            purpose=(
                "consent: a creator who removes the app's authorisation is recorded as revoked (creator_consent),"
                " no longer polled from the next polling tick, and reported by an alert"
            ),
        ),
    ),
)

BUSINESS_REPORTING = SourceDeclaration(
    name="business_reporting",
    title="TikTok API for Business v1.3: reporting",
    owner="team:growth",
    terms=Terms(status="official", name="TikTok for Business Marketing API terms"),
    base_url="https://business-api.tiktok.com",
    setting="TIKTOK_BUSINESS_API_BASE_URL",
    scopes=(
        Scope(
            name="Reporting",
            needed_for="report/integrated/get: hourly ad metrics",
            endpoints=("report/integrated/get",),
        ),
        Scope(
            name="Ads Management",
            needed_for="ad/get: each ad's video (tiktok_item_id), deleted ads included; adgroup/get: ad group budgets;"
            " adgroup/budget/update: budget pacing in apply mode (TIKTOK_PACING_MODE=apply)",
            endpoints=("ad/get", "adgroup/get", "adgroup/budget/update"),
        ),
        Scope(
            name="Ad Account Management",
            needed_for="advertiser/info: the account's time zone",
            endpoints=("advertiser/info",),
        ),
    ),
    rate_limits=(
        _business_app_limit(
            ("report/integrated/get", "ad/get", "advertiser/info", "adgroup/get", "adgroup/budget/update"),
            _BUSINESS_APP_BASIS + " report/integrated/get: at most 1,000 rows a page (TIKTOK_AD_REPORT_PAGE_SIZE).",
        ),
    ),
    personal_data=(),
    retention=(
        Retention(
            what="raw_ad_metrics, ad_velocity, pacing_recommendations, budget_changes", enforced_by="nothing: kept"
        ),
        _aged("ad_report_quarantine (rejected rows with their raw payload)", "quarantine_retention_days"),
        _landing_files(),
        _aged("api_call_log rows of its calls", "call_log_retention_days"),
    ),
    purpose="Paid reach of the tracked videos: hourly impressions, clicks, spend and CTR of their ads, joined to them.",
)

EVENTS_API = SourceDeclaration(
    name="events_api",
    title="TikTok Events API 2.0 (server-side conversions)",
    owner="team:growth",
    terms=Terms(status="official", name="TikTok for Business terms (Events API)"),
    base_url="https://business-api.tiktok.com",
    setting="TIKTOK_BUSINESS_API_BASE_URL",
    scopes=(
        Scope(
            name="Events API access to the pixel and event sets",
            needed_for="event/track to TIKTOK_PIXEL_CODE, TIKTOK_OFFLINE_EVENT_SET_ID, TIKTOK_CRM_EVENT_SET_ID",
            endpoints=("event/track",),
        ),
    ),
    rate_limits=(
        _business_app_limit(
            ("event/track",),
            "No Events API-specific limit in the sources checked: the client counts event/track against the app's"
            " tier with the reporting endpoints (one limiter per app). " + _BUSINESS_APP_BASIS,
            max_items=1000,
            items="events per request (TIKTOK_CONVERSIONS_BATCH_SIZE)",
        ),
    ),
    personal_data=(
        PersonalData(
            data="customers' email, phone, external id",
            subject="the shop's customers",
            handling="normalised and SHA-256 hashed before anything else sees them; only the digests are sent and stored",
        ),
        PersonalData(
            data="ttclid, _ttp cookie, IP address, user agent, page URL",
            subject="the shop's customers",
            handling="sent to TikTok as exported; their values are never stored (quarantine keeps digests only)",
        ),
    ),
    retention=(
        Retention(what="conversion_outbox (hashed identifiers)", enforced_by="nothing: kept"),
        _aged("conversion_quarantine (redacted payloads)", "quarantine_retention_days"),
        _aged("api_call_log rows of its calls", "call_log_retention_days"),
        Retention(
            what="the shop's exports (TIKTOK_CONVERSIONS_DIR: raw emails and phones)",
            enforced_by="nothing: the shop's own folder, read but never written or deleted by the pipeline",
        ),
    ),
    purpose=(
        "Send the shop's orders to TikTok as conversions (deduplicated with the browser Pixel) so the ads that drove"
        " them are credited."
    ),
)

LIVE_EVENTS = SourceDeclaration(
    name="live_events",
    title="TikTok LIVE events collected by the user (unofficial intake)",
    owner="team:growth",
    terms=Terms(
        status="unofficial",
        name=(
            "none: TikTok has no public LIVE events API; community connectors (TikTokLive, TikTok-Live-Connector)"
            " reverse-engineer its web client and may break TikTok's terms; collected by the user on their own"
            " responsibility, no connector shipped"
        ),
    ),
    base_url="file: JSON lines in TIKTOK_LIVE_INTAKE_DIR (no outbound call)",
    setting="TIKTOK_LIVE_INTAKE_DIR",
    switch="TIKTOK_LIVE_INTAKE_DIR",
    scopes=(),
    rate_limits=(),
    personal_data=(
        PersonalData(
            data="LIVE viewers' unique ids (commenters, gifters, likers, followers, sharers) and comment text",
            subject="viewers of the creators' LIVE streams",
            handling=(
                "viewer ids stored only as SHA-256 digests and comment text not stored in live_events_raw; the"
                " landing files and live_events_rejected keep the lines as received"
            ),
        ),
    ),
    retention=(
        Retention(what="live_events_raw, live_stream_metrics, live_events_rejected", enforced_by="nothing: kept"),
        Retention(
            what="landing files (lines as received, TIKTOK_LANDING_DIR/live_events) and the intake folder",
            enforced_by="nothing: kept (the user's own folder is theirs to clear)",
        ),
    ),
    purpose=(
        "Show LIVE engagement (comments, gifts, likes, peak viewers per stream and window) beside the official"
        " signal, every row and alert labelled unofficial; only while a current risk acceptance is recorded."
    ),
)

PROVIDER_ENDPOINTS = ("influencer/list", "influencer/detail", "video/list", "video/detail", "product/list")
"""The provider endpoints the client calls (under ``/api/v2/``)."""

ANALYTICS_PROVIDER = SourceDeclaration(
    name="analytics_provider",
    title="Approved analytics provider (EchoTik-style API, open.echotik.live/api/v2)",
    owner="team:growth",
    terms=Terms(
        status="approved_provider",
        name="EchoTik Open API terms of service and data subscription",
        contract=(
            "ECHOTIK-API-SUBSCRIPTION (placeholder: procurement records the signed order's reference here before"
            " TIKTOK_PROVIDER_ENABLED is set against the real host)"
        ),
    ),
    base_url="https://open.echotik.live",
    setting="TIKTOK_PROVIDER_BASE_URL",
    switch="TIKTOK_PROVIDER_ENABLED",
    scopes=(
        Scope(
            name="API account (HTTP Basic)",
            needed_for="influencer, video and product lists and details of public TikTok accounts",
            endpoints=PROVIDER_ENDPOINTS,
        ),
    ),
    rate_limits=(
        RateLimit(
            endpoints=PROVIDER_ENDPOINTS,
            counted="per_app",
            requests=120,
            window_seconds=60,
            client_default=100,
            setting="TIKTOK_PROVIDER_REQUESTS_PER_MINUTE",
            max_items=20,
            items="records per page (page_size)",
            basis=(
                "Not published by EchoTik (tiktok-apis.md §7): 120 requests a minute for the account is the"
                " simulator's assumption, to be replaced by the contract's figure; over it the provider answers code"
                " 30003 with HTTP 200 (no Retry-After), which the client retries with backoff."
            ),
        ),
    ),
    personal_data=(
        PersonalData(
            data="public profile (user id, handle, nickname, follower/like/video totals) and public video counts",
            subject="TikTok creators, including creators who never authorised the app",
            handling=(
                "video counts stored as received in raw_video_snapshots (source analytics_provider) and downstream;"
                " profile totals (handle, nickname, follower/following/like/video totals; no user id) in"
                " raw_creator_snapshots (source analytics_provider) and daily_creator_metrics; public data used for"
                " aggregate performance only"
            ),
        ),
    ),
    retention=(
        Retention(
            what=(
                "window rows of raw_video_snapshots and raw_creator_snapshots (source analytics_provider) and their"
                " enriched and velocity rows"
            ),
            days=35,
            setting="TIKTOK_RETENTION_DAYS",
            enforced_by="window_retention_job (daily, 01:00 UTC), once the day is rolled up",
        ),
        _aged("analytics_provider_quarantine (rejected records with their raw payload)", "quarantine_retention_days"),
        _landing_files(),
        _aged("api_call_log rows of its calls", "call_log_retention_days"),
    ),
    purpose=(
        "Wider coverage than the Display API: the public counts of videos of creators who did not authorise the app"
        " (and a second view of those who did), every window, for velocity across sources."
    ),
    validation=ProviderValidation(
        sourcing="crawls public TikTok profiles and videos on its own schedule (its updated_at per record)",
        refresh="not published; the benchmark measures the effective interval from updated_at against the truth",
        coverage="partial: not every video of a covered creator is listed; measured against the simulator's world",
        geography="global per the vendor's documentation; not verifiable against the simulator",
        compliance=(
            "approved provider under contract; the pipeline stores only public counts, never scrapes TikTok itself"
        ),
        measured="benchmarks/provider_validation.py -> docs/provider-validation.json (shown by governance_report)",
    ),
)

TIKTOK_SHOP = SourceDeclaration(
    name="tiktok_shop",
    title="TikTok Shop Partner API (202309): orders and products of our shop",
    owner="team:growth",
    terms=Terms(status="official", name="TikTok Shop Partner Center terms (Partner API, app authorised by the seller)"),
    base_url="https://open-api.tiktokglobalshop.com (tokens: https://auth.tiktok-shops.com)",
    setting="TIKTOK_SHOP_API_BASE_URL",
    scopes=(
        Scope(
            name="seller.order.info",
            needed_for="orders/search: the shop's orders, their line items (SKUs, quantities, prices) and status",
            endpoints=("orders/search",),
        ),
        Scope(
            name="seller.product.basic",
            needed_for="products/search: the shop's products and their SKUs (seller_sku joins the registry)",
            endpoints=("products/search",),
        ),
        Scope(
            name="seller.authorization.info",
            needed_for="authorization/shops: the shop's id and shop_cipher, sent with every shop call",
            endpoints=("shops",),
        ),
    ),
    rate_limits=(
        RateLimit(
            endpoints=("orders/search", "products/search", "shops"),
            counted="per_app",
            requests=20,
            window_seconds=1,
            client_default=10,
            setting="TIKTOK_SHOP_REQUESTS_PER_SECOND",
            max_items=100,
            items="orders per search page (page_size, TIKTOK_SHOP_PAGE_SIZE)",
            basis=(
                "Not published in the sources checked (tiktok-apis.md §7: official rate limits not found). Assumed: 20"
                " requests a second per app over every endpoint, the excess answered with HTTP 429 (the simulator's"
                " figure); the client keeps to 10 and retries a 429 with backoff."
            ),
        ),
        RateLimit(
            endpoints=("token/get", "token/refresh"),
            counted="per_endpoint",
            requests=None,
            window_seconds=60,
            basis="No published limit; one refresh per access-token lifetime (about 7 days), made with the app secret.",
        ),
    ),
    personal_data=(
        PersonalData(
            data="buyers' user id, email, name, phone and address (orders/search)",
            subject="the shop's customers",
            handling=(
                "replaced by SHA-256 digests in the client before the answer is landed or parsed: landing files and"
                " raw_shop_orders hold buyer_sha256 only; name, phone and address are never kept"
            ),
        ),
        PersonalData(
            data="the shop's access and refresh tokens",
            subject="the seller (our shop)",
            handling="secrets: token store file (TIKTOK_SHOP_TOKEN_STORE_PATH, mode 0600) only, never logged or stored",
        ),
    ),
    retention=(
        Retention(what="raw_shop_orders, shop_sku_sales (hashed buyer ids only)", enforced_by="nothing: kept"),
        _aged("shop_order_quarantine (rejected records, buyer fields hashed)", "quarantine_retention_days"),
        _landing_files(),
        _aged("api_call_log rows of its calls", "call_log_retention_days"),
    ),
    purpose=(
        "The shop's authoritative sales per SKU and window (orders polled by update time, products), joined to the"
        " registry's SKUs, so merchandising and video → SKU analyses use real sales."
    ),
    webhooks=(
        Webhook(
            events=("ORDER_STATUS_CHANGE (type 1)",),
            receiver=(
                "tiktok-pipeline shop-webhooks serve --port P (tiktok_pipeline/ingest/shop_webhooks.py); notifications"
                " land in TIKTOK_LANDING_DIR/shop_webhooks/ before the 200"
            ),
            verification=(
                "Authorization: hex HMAC-SHA256 keyed with TIKTOK_SHOP_APP_SECRET over app key + raw body, compared in"
                " constant time; a bad signature or a timestamp more than TIKTOK_SHOP_WEBHOOK_TOLERANCE_SECONDS (300)"
                " from now is refused with 401"
            ),
            delivery="at least once, with retries and duplicates; counted once (one landed file per tts_notification_id)",
            purpose=(
                "speed only: shop_webhooks_sensor requests the affected window's shop run; polling stays the source"
                " of truth"
            ),
        ),
    ),
)


SOURCES: MappingProxyType[str, SourceDeclaration] = MappingProxyType(
    {
        source.name: source
        for source in (DISPLAY_API, BUSINESS_REPORTING, EVENTS_API, LIVE_EVENTS, ANALYTICS_PROVIDER, TIKTOK_SHOP)
    }
)
"""Every declared source by name (read-only)."""


def check_pools(sources: MappingProxyType[str, SourceDeclaration] | dict[str, SourceDeclaration]) -> None:
    """Raise ValueError when limits of one pool disagree (they share one limiter, so one figure and setting)."""
    figures: dict[str, tuple[tuple[object, ...], str]] = {}
    for source in sources.values():
        for limit in source.rate_limits:
            if limit.pool is None:
                continue
            figure = (limit.requests, limit.window_seconds, limit.client_default, limit.setting)
            first = figures.setdefault(limit.pool, (figure, source.name))
            if first[0] != figure:
                raise ValueError(
                    f"pool {limit.pool!r}: {source.name} declares {figure}, {first[1]} declares {first[0]}"
                    " (requests, window_seconds, client_default, setting); limits of one pool must agree"
                )


check_pools(SOURCES)
