"""The TikTok Shop push receiver: signed notifications in, landed durably, then 200; polling stays the record.

``tiktok-pipeline shop-webhooks serve --port P`` runs :class:`ShopWebhookServer` (standard library ``http.server``,
threaded, like the Display API receiver). Each ``POST`` is handled by :meth:`ShopWebhookIntake.handle`:

1. a body over :data:`MAX_BODY_BYTES` → 413;
2. the ``Authorization`` header checked in constant time (hex HMAC-SHA256 keyed with the app secret over the app key
   followed by the raw body); missing or wrong → 401, nothing written;
3. a signed body that is not a notification (no ``tts_notification_id``, bad JSON) is quarantined with its raw bytes
   and reason under ``<landing>/shop_webhooks_quarantine/`` → 200 (a redelivery would not fix it);
4. a signed ``timestamp`` further than the tolerance (``TIKTOK_SHOP_WEBHOOK_TOLERANCE_SECONDS``, 300) from now → 401,
   nothing written (a replay);
5. the notification is landed through the one landing path (:func:`~tiktok_pipeline.ingest.landing.write_landing`:
   temp file, fsync, rename) as ``<landing>/shop_webhooks/<YYYY-MM-DD>/<tts_notification_id>.jsonl.gz`` and only
   then → 200; a redelivery finds its file and is counted as a duplicate, never landed twice.

A receiver killed after answering 200 has already renamed the file into place: nothing is lost.
``shop_webhooks_sensor`` reads the landed notifications and requests the affected window's shop run.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from tiktok_pipeline.ingest.landing import write_landing
from tiktok_pipeline.ingest.webhook_http import SignedWebhookServer, quarantine_body
from tiktok_pipeline.sources.shop_api.signing import push_signature_valid

log = logging.getLogger(__name__)

LANDING_SOURCE = "shop_webhooks"
QUARANTINE_SOURCE = "shop_webhooks_quarantine"
MAX_BODY_BYTES = 65_536
SIGNATURE_HEADER = "Authorization"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class ShopNotification(BaseModel):
    """A Shop push: ``{type, tts_notification_id, shop_id, timestamp, data}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: StrictInt
    tts_notification_id: Annotated[StrictStr, Field(pattern=_SAFE_ID.pattern)]
    shop_id: StrictStr
    timestamp: Annotated[StrictInt, Field(ge=0, lt=4_102_444_800)]
    data: dict[str, Any] = Field(default_factory=dict)

    def changed_at(self) -> int:
        """When the order changed (``data.update_time``), else when the push was signed."""
        value = self.data.get("update_time")
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else self.timestamp


@dataclass
class ShopWebhookIntake:
    """What the receiver does with one push (no sockets: tested directly and served by :class:`ShopWebhookServer`).

    ``stats`` counts ``received`` (signed notifications, duplicates included), ``landed``, ``duplicates``,
    ``rejected`` (401), ``stale`` (401), ``quarantined`` and ``too_large``.
    """

    landing_dir: Path
    app_key: str
    app_secret: str
    tolerance_seconds: float = 300.0
    clock: Callable[[], float] = time.time
    stats: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, signature: str | None, body: bytes) -> tuple[int, str]:
        """The HTTP status and a short text for one push (never the body or the signature)."""
        if len(body) > MAX_BODY_BYTES:
            self.stats["too_large"] += 1
            return 413, f"body over {MAX_BODY_BYTES} bytes"
        if not push_signature_valid(signature, self.app_key, self.app_secret, body):
            self.stats["rejected"] += 1
            log.warning(
                "tiktok_shop push refused (401): %s", "no Authorization header" if not signature else "bad signature"
            )
            return 401, "signature missing or wrong"
        try:
            notification = ShopNotification.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            return self._quarantine(
                body, f"tiktok_shop push: {'.'.join(map(str, first['loc'])) or 'body'}: {first['msg']}"
            )
        skew = abs(self.clock() - notification.timestamp)
        if skew > self.tolerance_seconds:
            self.stats["stale"] += 1
            log.warning("tiktok_shop push refused (401): timestamp %.0f s from now", skew)
            return 401, f"timestamp further than {self.tolerance_seconds:g} s from now"
        self.stats["received"] += 1
        with self._lock:
            path = self.notification_path(notification)
            if path.exists():
                self.stats["duplicates"] += 1
                return 200, "duplicate"
            record = {
                "received_at": datetime.fromtimestamp(self.clock(), UTC).isoformat(),
                **notification.model_dump(),
                "changed_at": notification.changed_at(),
            }
            write_landing(path, [record])  # durable (fsync, rename) before the 200
            self.stats["landed"] += 1
        return 200, "ok"

    def notification_path(self, notification: ShopNotification) -> Path:
        """Where a notification is landed: one file per ``tts_notification_id``, under the day it was signed."""
        day = datetime.fromtimestamp(notification.timestamp, UTC).strftime("%Y-%m-%d")
        return self.landing_dir / LANDING_SOURCE / day / f"{notification.tts_notification_id}.jsonl.gz"

    def _quarantine(self, body: bytes, reason: str) -> tuple[int, str]:
        self.stats["quarantined"] += 1
        path = quarantine_body(self.landing_dir, QUARANTINE_SOURCE, body, reason, self.clock())
        log.error("tiktok_shop push quarantined (%s): %s", path, reason)
        return 200, "quarantined"


def landed_notifications(landing_dir: Path) -> list[Path]:
    """Every landed notification file, oldest first (by modification time)."""
    files = (Path(landing_dir) / LANDING_SOURCE).glob("*/*.jsonl.gz")
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


class ShopWebhookServer(SignedWebhookServer):
    """A threaded HTTP server answering TikTok Shop's pushes with one :class:`ShopWebhookIntake` (:mod:`.webhook_http`)."""

    def __init__(self, intake: ShopWebhookIntake, host: str, port: int, *, verbose: bool = False) -> None:
        super().__init__(
            intake,
            host,
            port,
            signature_header=SIGNATURE_HEADER,
            max_body_bytes=MAX_BODY_BYTES,
            name="tiktok_shop push",
            verbose=verbose,
        )
