"""TikTok Shop's webhooks as the simulator delivers them: order status changes, signed, at least once.

Body ``{"type": 1, "tts_notification_id", "shop_id", "timestamp", "data": {"order_id", "order_status",
"update_time"}}`` (type 1 is ORDER_STATUS_CHANGE: EcomPHP/tiktokshop-php ``Webhook::ORDER_STATUS_UPDATE``), header
``Authorization: <hex HMAC-SHA256(app secret, app key + raw body)>``. Like TikTok, each notification is delivered
more than once (``duplicates`` extra deliveries of the same body) and a delivery without a 2xx is retried with
backoff (up to ``max_attempts``); the signed ``timestamp`` is the sending time. Retry policy and duplicate rate are
assumed (Shop publishes neither).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx

from tiktok_pipeline.simulator.shop.app import SIM_APP_KEY, SIM_APP_SECRET
from tiktok_pipeline.simulator.shop.catalog import SHOP_ID, ShopWorld

ORDER_STATUS_CHANGE = 1


def push_signature(app_key: str, app_secret: str, body: bytes) -> str:
    """The ``Authorization`` header of a Shop webhook (the simulator's own copy)."""
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


class ShopPushSender:
    """Delivers order status changes to ``url``; ``stats``: ``sent`` (2xx), ``attempts``, ``failed``, ``notifications``."""

    def __init__(
        self,
        url: str,
        shop: ShopWorld,
        *,
        app_key: str = SIM_APP_KEY,
        app_secret: str = SIM_APP_SECRET,
        clock: Callable[[], float] = time.time,
        duplicates: int = 1,
        max_attempts: int = 6,
        retry_seconds: float = 0.2,
    ) -> None:
        self.url, self.shop, self.app_key, self._secret, self.clock = url, shop, app_key, app_secret, clock
        self.duplicates, self.max_attempts, self.retry_seconds = duplicates, max_attempts, retry_seconds
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def notifications(self, start: float, end: float) -> list[bytes]:
        """The bodies of every order status change in ``[start, end)`` (as known at ``end``)."""
        bodies = []
        for order in self.shop.orders_as_of(end, field="update_time", ge=int(start), lt=int(end)):
            payload = {
                "type": ORDER_STATUS_CHANGE,
                "tts_notification_id": f"{order['id']}-{order['update_time']}",
                "shop_id": SHOP_ID,
                "timestamp": int(self.clock()),
                "data": {
                    "order_id": order["id"],
                    "order_status": order["status"],
                    "update_time": order["update_time"],
                },
            }
            bodies.append(json.dumps(payload, separators=(",", ":")).encode())
        return bodies

    def deliver_changes(self, start: float, end: float) -> int:
        """Deliver every change in ``[start, end)`` (each 1 + ``duplicates`` times); how many notifications."""
        bodies = self.notifications(start, end)
        with httpx.Client(timeout=10.0) as client:
            for body in bodies:
                self._count("notifications")
                for _ in range(1 + self.duplicates):
                    self._deliver(client, body)
        return len(bodies)

    def run(self, every_seconds: float = 60.0) -> threading.Thread:
        """Deliver the changes of each past ``every_seconds`` from a background thread until :meth:`stop`."""

        def loop() -> None:
            last = self.clock()
            while not self._stop.wait(every_seconds):
                now = self.clock()
                self.deliver_changes(last, now)
                last = now

        thread = threading.Thread(target=loop, daemon=True, name="sim-shop-push")
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _deliver(self, client: httpx.Client, body: bytes) -> None:
        for attempt in range(1, self.max_attempts + 1):
            self._count("attempts")
            headers = {"Authorization": push_signature(self.app_key, self._secret, body),
                       "Content-Type": "application/json"}  # fmt: skip
            try:
                answered = client.post(self.url, content=body, headers=headers).is_success
            except httpx.HTTPError:
                answered = False
            if answered:
                self._count("sent")
                return
            time.sleep(self.retry_seconds * 2 ** (attempt - 1))
        self._count("failed")

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1
