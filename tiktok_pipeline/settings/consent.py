"""Consent and revocation: the Display API webhook receiver (``TIKTOK_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from tiktok_pipeline.settings.domains import _config


class ConsentSettings(BaseSettings):
    """How the Display API webhook receiver (``tiktok-pipeline display-webhooks serve``) checks deliveries."""

    model_config = _config()

    display_webhook_tolerance_seconds: float = Field(
        default=300.0,
        gt=0,
        le=3600,
        description=(
            "Most seconds between a webhook's signed timestamp (TikTok-Signature t=) and the receiver's clock, either"
            " way; a delivery further off is refused with 401 (a replayed or stale delivery)."
        ),
    )
    display_webhook_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Interface the webhook receiver listens on (0.0.0.0 behind a TLS-terminating proxy).",
    )


def load_consent_settings() -> ConsentSettings:
    """ConsentSettings from the environment; a bad value raises ``SettingsError`` naming its variable."""
    from pydantic import ValidationError

    from tiktok_pipeline.settings.errors import SettingsError, describe

    try:
        return ConsentSettings()
    except ValidationError as exc:
        raise SettingsError("invalid configuration:\n" + describe(exc)) from None
