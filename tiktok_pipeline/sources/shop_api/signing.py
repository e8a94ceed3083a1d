"""TikTok Shop's two signatures: the request ``sign`` and the push ``Authorization`` header.

- Request: ``sign`` = hex HMAC-SHA256 keyed with the app secret over ``secret + path + key1value1key2value2... +
  body + secret``, the query parameters sorted by key, ``sign`` and ``access_token`` left out, the body being the raw
  request body (empty for a GET) (EcomPHP/tiktokshop-php ``Client::prepareSignature``; tiktok-apis.md §7).
- Push: ``Authorization`` = hex HMAC-SHA256 keyed with the app secret over ``app_key + raw body``
  (EcomPHP/tiktokshop-php ``Webhook::verify``), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

UNSIGNED_PARAMS = frozenset({"sign", "access_token"})


def sign_request(app_secret: str, path: str, params: Mapping[str, str], body: bytes = b"") -> str:
    """The ``sign`` query parameter of a request to ``path`` with ``params`` and ``body``."""
    pairs = "".join(f"{key}{params[key]}" for key in sorted(params) if key not in UNSIGNED_PARAMS)
    message = app_secret.encode() + path.encode() + pairs.encode() + body + app_secret.encode()
    return hmac.new(app_secret.encode(), message, hashlib.sha256).hexdigest()


def push_signature(app_key: str, app_secret: str, body: bytes) -> str:
    """The ``Authorization`` header TikTok Shop sends with a push of ``body``."""
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


def push_signature_valid(header: str | None, app_key: str, app_secret: str, body: bytes) -> bool:
    """Whether ``header`` is the push's signature (constant time; a missing or non-ASCII header is not)."""
    if not header or not header.isascii():
        return False
    return hmac.compare_digest(header.strip().lower(), push_signature(app_key, app_secret, body))
