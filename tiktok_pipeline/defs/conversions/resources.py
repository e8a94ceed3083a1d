"""The conversions domain's runtime configuration, instantiated from ``settings.conversions`` in ``definitions.py``."""

import dagster as dg
from pydantic import Field

from tiktok_pipeline.settings import Settings


class ConversionsResource(dg.ConfigurableResource):
    """Where orders come from and where they go: export folder, pixel, test event code, phone region, resend policy.

    Defaults live in ``ConversionSettings`` (``TIKTOK_CONVERSIONS_*``, ``TIKTOK_PIXEL_CODE``…) only.
    """

    orders_dir: str = Field(description="The shop's order exports (TIKTOK_CONVERSIONS_DIR).")
    pixel_code: str = Field(description="The TikTok Pixel the events belong to; empty means conversions are off.")
    offline_event_set_id: str = Field(default="", description="Offline event set of event_source offline orders.")
    crm_event_set_id: str = Field(default="", description="CRM event set of event_source crm orders.")
    test_event_code: str = Field(description="Events Manager test code; empty for production events.")
    default_phone_region: str = Field(description="Region of phone numbers written without a country code.")
    resend_ambiguous_hours: float = Field(description="How long unanswered events are resent (TikTok dedups 48 h).")
    batch_size: int = Field(description="Events per Events API request (at most 1,000).")
    settle_seconds: float = Field(
        description="An export modified more recently than this that cannot be read completely is still being written."
    )

    @property
    def event_sets(self) -> dict[str, str]:
        """event_source → event_source_id of the configured offline and CRM event sets."""
        sets = {"offline": self.offline_event_set_id, "crm": self.crm_event_set_id}
        return {source: value for source, value in sets.items() if value}

    @classmethod
    def from_settings(cls, settings: Settings) -> "ConversionsResource":
        conversions = settings.conversions
        return cls(
            orders_dir=str(conversions.conversions_dir),
            pixel_code=settings.events_pixel_code,
            offline_event_set_id=settings.events_event_sets.get("offline", ""),
            crm_event_set_id=settings.events_event_sets.get("crm", ""),
            test_event_code=conversions.test_event_code,
            default_phone_region=conversions.default_phone_region,
            resend_ambiguous_hours=conversions.conversions_resend_ambiguous_hours,
            batch_size=conversions.conversions_batch_size,
            settle_seconds=conversions.conversions_settle_seconds,
        )
