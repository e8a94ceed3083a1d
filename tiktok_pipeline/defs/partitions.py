"""The partitions every window asset shares, from ``TIKTOK_PARTITIONS_START`` (read once, at load)."""

from tiktok_pipeline.settings import load_settings
from tiktok_pipeline.windows import five_minute_partitions

WINDOWS = five_minute_partitions(load_settings().partitions_start)
"""5-minute windows (keys ``YYYY-MM-DD-HH:MM``, UTC) from the configured start."""
