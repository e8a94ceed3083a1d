"""The shop's tokens, persisted so the newest refresh token is never lost (file mode 0600, atomic, locked).

One shop per store file (the pipeline polls one shop). Values are ``SecretStr`` in memory; the file is the only
place they are written. ``tiktok-pipeline shop-tokens add`` stores TikTok Shop's token answer read from standard input.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, SecretStr

from tiktok_pipeline.sources.shop_api.models import TokenAnswer


class ShopTokens(BaseModel):
    """The shop's access and refresh tokens with their expiries (UTC)."""

    access_token: SecretStr
    access_expires_at: datetime
    refresh_token: SecretStr
    refresh_expires_at: datetime
    shop_cipher: str | None = None

    @classmethod
    def from_answer(cls, answer: TokenAnswer, shop_cipher: str | None = None) -> ShopTokens:
        return cls(
            access_token=SecretStr(answer.access_token),
            access_expires_at=datetime.fromtimestamp(answer.access_token_expire_in, UTC),
            refresh_token=SecretStr(answer.refresh_token),
            refresh_expires_at=datetime.fromtimestamp(answer.refresh_token_expire_in, UTC),
            shop_cipher=shop_cipher,
        )

    def secrets(self) -> list[str]:
        return [self.access_token.get_secret_value(), self.refresh_token.get_secret_value()]


class ShopTokenStore:
    """``path``: a JSON file ``{"access_token", "access_expires_at", ...}`` readable by its owner only."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load(self) -> ShopTokens | None:
        if not self.path.exists():
            return None
        return ShopTokens.model_validate_json(self.path.read_text())

    def save(self, tokens: ShopTokens) -> None:
        data = tokens.model_dump(mode="json")
        data["access_token"] = tokens.access_token.get_secret_value()
        data["refresh_token"] = tokens.refresh_token.get_secret_value()
        with self._locked():
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
