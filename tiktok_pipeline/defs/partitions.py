"""The partitions every window asset shares, from ``TIKTOK_PARTITIONS_START`` (read once, at load)."""

from tiktok_pipeline.settings import load_settings
from tiktok_pipeline.windows import daily_partitions, five_minute_partitions

_START = load_settings().partitions_start

WINDOWS = five_minute_partitions(_START)
"""5-minute windows (keys ``YYYY-MM-DD-HH:MM``, UTC) from the configured start."""

DAYS = daily_partitions(_START)
"""Daily UTC partitions (keys ``YYYY-MM-DD``) from the first whole day of the windows: each maps onto 288 windows."""
