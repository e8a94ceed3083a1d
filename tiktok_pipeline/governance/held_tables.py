"""The tables whose rows are deleted once they are older than a declared number of days (Retention.AGED): which
column dates a row, and the setting that says how many days are kept. Applied by
:mod:`tiktok_pipeline.governance.holdings`; checked against the table declarations by
:func:`tiktok_pipeline.governance.retention.retention_rule`."""

from __future__ import annotations

from dataclasses import dataclass

from tiktok_pipeline.settings.retention import RetentionSettings
from tiktok_pipeline.warehouse.tables import (
    AD_REPORT_QUARANTINE,
    ANALYTICS_PROVIDER_QUARANTINE,
    API_CALL_LOG,
    CONVERSION_QUARANTINE,
    DISPLAY_API_QUARANTINE,
    SHOP_ORDER_QUARANTINE,
)


@dataclass(frozen=True)
class HeldTable:
    """A table retention deletes rows from by age: rows whose ``column`` is before the cutoff go."""

    name: str
    column: str
    field: str
    """The RetentionSettings field holding the days kept."""

    @property
    def setting(self) -> str:
        """The environment variable of :attr:`field`."""
        return f"TIKTOK_{self.field}".upper()

    @property
    def default_days(self) -> int:
        return int(RetentionSettings.model_fields[self.field].default)


HELD_TABLES: dict[str, HeldTable] = {
    held.name: held
    for held in (
        HeldTable(API_CALL_LOG.name, "called_at", "call_log_retention_days"),
        HeldTable(DISPLAY_API_QUARANTINE.name, "window_start", "quarantine_retention_days"),
        HeldTable(AD_REPORT_QUARANTINE.name, "window_start", "quarantine_retention_days"),
        HeldTable(CONVERSION_QUARANTINE.name, "window_start", "quarantine_retention_days"),
        HeldTable(ANALYTICS_PROVIDER_QUARANTINE.name, "window_start", "quarantine_retention_days"),
        HeldTable(SHOP_ORDER_QUARANTINE.name, "window_start", "quarantine_retention_days"),
    )
}
"""Every table whose rows are deleted by age, by name."""
