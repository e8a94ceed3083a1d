"""The Display API webhook receiver: TikTok's signed deliveries in, revocations recorded durably, then 200.

``tiktok-pipeline display-webhooks serve --port P`` runs :class:`WebhookServer` (standard library ``http.server``,
threaded, like the served simulator). Each ``POST`` is handled by :meth:`WebhookIntake.handle`:

1. a body over :data:`~tiktok_pipeline.sources.display_api.webhooks.MAX_BODY_BYTES` → 413;
2. the ``TikTok-Signature`` checked in constant time against the client secret; a missing, malformed or wrong
   signature, or a timestamp further than the tolerance (``TIKTOK_DISPLAY_WEBHOOK_TOLERANCE_SECONDS``, 300) from now
   → 401, nothing written;
3. a signed body that is not an event (or is another app's) is quarantined with its raw bytes and reason under
   ``<landing>/display_webhooks_quarantine/`` → 200 (a redelivery would not fix it);
4. the event is landed, through the one landing path (:func:`~tiktok_pipeline.ingest.landing.write_landing`: temp
   file, fsync, rename), as ``<landing>/display_webhooks/<YYYY-MM-DD>/<event id>.jsonl.gz``; the event id is a hash
   of its fields, so a redelivery finds its file and is counted as a duplicate, never landed twice;
5. an ``authorization.removed`` is applied to the consent ledger and token store (idempotent:
   :func:`~tiktok_pipeline.sources.display_api.consent.revoke`) — also for a duplicate, so a receiver killed
   between landing and applying catches up on TikTok's redelivery — and only then → 200.

A receiver killed after answering 200 has both the landed event and the revocation on disk; :meth:`replay`, run
when the server starts, applies every landed revocation again (idempotent) for one killed in between.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tiktok_pipeline.ingest.landing import UnreadableLandingError, read_landing, write_landing
from tiktok_pipeline.ingest.webhook_http import SignedWebhookServer, quarantine_body
from tiktok_pipeline.sources.display_api.consent import ConsentLedger, revoke
from tiktok_pipeline.sources.display_api.tokens import TokenStore
from tiktok_pipeline.sources.display_api.webhooks import (
    AUTHORIZATION_REMOVED,
    MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    WebhookBodyError,
    WebhookEvent,
    WebhookRejected,
    parse_event,
    verify_signature,
)

log = logging.getLogger(__name__)

LANDING_SOURCE = "display_webhooks"
QUARANTINE_SOURCE = "display_webhooks_quarantine"


@dataclass
class WebhookIntake:
    """What the receiver does with one delivery (no sockets: tested directly and served by :class:`WebhookServer`).

    ``stats`` counts ``received`` (signed, valid events, duplicates included), ``duplicates``, ``rejected`` (401),
    ``quarantined``, ``revocations`` (events applied for the first time) and ``too_large``.
    """

    landing_dir: Path
    token_store_path: Path
    client_key: str
    client_secret: str
    tolerance_seconds: float = 300.0
    clock: Callable[[], float] = time.time
    stats: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, signature: str | None, body: bytes) -> tuple[int, str]:
        """The HTTP status and a short text for one delivery (never the body or the signature)."""
        if len(body) > MAX_BODY_BYTES:
            self.stats["too_large"] += 1
            return 413, f"body over {MAX_BODY_BYTES} bytes"
        try:
            signed_at = verify_signature(
                signature, body, self.client_secret, now=self.clock(), tolerance_seconds=self.tolerance_seconds
            )
        except WebhookRejected as exc:
            self.stats["rejected"] += 1
            log.warning("display_api webhook refused (401): %s", exc)
            return 401, str(exc)
        try:
            event = parse_event(body)
        except WebhookBodyError as exc:
            return self._quarantine(body, str(exc))
        if event.client_key != self.client_key:
            return self._quarantine(body, f"display_api webhook: client_key {event.client_key!r} is not this app's")
        self.stats["received"] += 1
        with self._lock:
            path = self.event_path(event)
            if path.exists():
                self.stats["duplicates"] += 1
            else:
                record = {
                    "event_id": event.event_id,
                    "received_at": datetime.fromtimestamp(self.clock(), UTC).isoformat(),
                    "signed_at": signed_at,
                    **event.model_dump(),
                    "body": body.decode("utf-8", "replace"),
                }
                write_landing(path, [record])
            if event.event == AUTHORIZATION_REMOVED and self.apply(event):
                self.stats["revocations"] += 1
        return 200, "ok"

    def event_path(self, event: WebhookEvent) -> Path:
        """Where ``event`` is landed: one file per event, named by its id."""
        day = datetime.fromtimestamp(event.create_time, UTC).strftime("%Y-%m-%d")
        return self.landing_dir / LANDING_SOURCE / day / f"{event.event_id}.jsonl.gz"

    def apply(self, event: WebhookEvent) -> bool:
        """Record ``event``'s revocation and remove the creator's tokens; True the first time it is recorded."""
        ledger = ConsentLedger.beside(self.token_store_path)
        revoked_at = datetime.fromtimestamp(event.create_time, UTC)
        known = ledger.revocations().get(event.user_openid)
        if known is not None and known.revoked_at >= revoked_at:
            return False
        revoked = revoke(
            TokenStore(self.token_store_path),
            ledger,
            open_id=event.user_openid,
            revoked_at=revoked_at,
            reason=event.reason(),
            via="webhook",
        )
        who = revoked.username or f"open_id {revoked.open_id}"
        log.warning("display_api webhook: %s revoked the app's authorisation: %s", who, revoked.reason)
        return True

    def replay(self) -> int:
        """Apply every landed ``authorization.removed`` again (idempotent); how many were new."""
        applied = 0
        for path in sorted((self.landing_dir / LANDING_SOURCE).glob("*/*.jsonl.gz")):
            try:
                records = read_landing(path)
            except UnreadableLandingError as exc:  # a half-written file is never renamed into place; be safe anyway
                log.error("%s", exc)
                continue
            for record in records:
                try:
                    event = WebhookEvent.model_validate({k: record.get(k) for k in WebhookEvent.model_fields})
                except ValueError:
                    continue
                if event.event == AUTHORIZATION_REMOVED and self.apply(event):
                    applied += 1
        return applied

    def _quarantine(self, body: bytes, reason: str) -> tuple[int, str]:
        self.stats["quarantined"] += 1
        path = quarantine_body(self.landing_dir, QUARANTINE_SOURCE, body, reason, self.clock())
        log.error("display_api webhook quarantined (%s): %s", path, reason)
        return 200, "quarantined"


class WebhookServer(SignedWebhookServer):
    """A threaded HTTP server answering TikTok's webhook deliveries with one :class:`WebhookIntake` (:mod:`.webhook_http`)."""

    def __init__(self, intake: WebhookIntake, host: str, port: int, *, verbose: bool = False) -> None:
        super().__init__(
            intake,
            host,
            port,
            signature_header=SIGNATURE_HEADER,
            max_body_bytes=MAX_BODY_BYTES,
            name="display_api webhook",
            verbose=verbose,
        )
