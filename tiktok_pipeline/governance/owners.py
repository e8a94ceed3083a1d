"""Who answers for what: the teams that own each asset group, and so the tables those assets write (a leaf module).

``definitions.py`` applies :data:`OWNERS` to every asset; the table declarations name the same teams, and a test
checks that each table's owner is the owner of the asset that writes it.
"""

from __future__ import annotations

DATA_PLATFORM = "team:data-platform"
"""Collection, processing, the now view, governance and retention."""
GROWTH = "team:growth"
"""Ads, conversions and activation (creative swaps, the merchandising feed)."""

OWNERS = {
    "collect": [DATA_PLATFORM],
    "process": [DATA_PLATFORM],
    "now": [DATA_PLATFORM],
    "govern": [DATA_PLATFORM],
    "retain": [DATA_PLATFORM],
    "ads": [GROWTH],
    "conversions": [GROWTH],
    "activation": [GROWTH],
    "pacing": [GROWTH],
    "shop": [GROWTH],
}
"""Who answers for each group's assets (the UI's Owner column and filters)."""
DEFAULT_OWNERS = [DATA_PLATFORM]
"""Owners of an asset whose group is not in OWNERS."""
