"""TikTok's Display API webhooks, as the simulator delivers them: signed, at least once, duplicated, retried.

When a creator's authorization ends (the creator disconnects the app: ``POST /sim/deauthorize/``; or the app revokes
it: ``/v2/oauth/revoke/``), TikTok posts ``authorization.removed`` to the app's webhook URL, signed with
``TikTok-Signature: t=<unix>,s=<hex HMAC-SHA256(client secret, t + "." + body)>``. Like TikTok, the simulator
delivers each event more than once (``duplicates`` extra deliveries, each freshly signed) and retries a delivery
that got no 2xx (up to ``max_attempts``, backing off), from a background thread: the answer to the request that
caused it does not wait for the webhook.
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

SIGNATURE_HEADER = "TikTok-Signature"
REASON_USER_DISCONNECTED = 1
REASON_DEVELOPER_REVOKED = 5


class WebhookSender:
    """Delivers signed webhook events to ``url`` (``stats``: ``sent`` deliveries answered 2xx, ``attempts``,
    ``failed`` deliveries given up)."""

    def __init__(
        self,
        url: str,
        *,
        client_key: str,
        client_secret: str,
        clock: Callable[[], float] = time.time,
        duplicates: int = 1,
        max_attempts: int = 6,
        retry_seconds: float = 0.2,
    ) -> None:
        self.url, self.client_key, self._secret, self.clock = url, client_key, client_secret, clock
        self.duplicates, self.max_attempts, self.retry_seconds = duplicates, max_attempts, retry_seconds
        self.stats: Counter[str] = Counter()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def authorization_removed(self, open_id: str, reason: int) -> None:
        """Deliver ``authorization.removed`` for ``open_id`` (1 + ``duplicates`` times), in the background."""
        body = json.dumps(
            {
                "client_key": self.client_key,
                "event": "authorization.removed",
                "create_time": int(self.clock()),
                "user_openid": open_id,
                "content": json.dumps({"reason": reason}),
            }
        ).encode()
        thread = threading.Thread(target=self._deliver_all, args=(body,), daemon=True, name="sim-webhook")
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float = 30.0) -> None:
        """Wait until every delivery started so far has been answered or given up."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _deliver_all(self, body: bytes) -> None:
        with httpx.Client(timeout=10.0) as client:
            for _ in range(1 + self.duplicates):
                self._deliver(client, body)

    def _deliver(self, client: httpx.Client, body: bytes) -> None:
        for attempt in range(1, self.max_attempts + 1):
            self._count("attempts")
            stamp = int(self.clock())
            signature = hmac.new(self._secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
            headers = {SIGNATURE_HEADER: f"t={stamp},s={signature}", "Content-Type": "application/json"}
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
