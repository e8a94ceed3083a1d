"""Dagster definitions at module level, one folder per domain; ``definitions.py`` loads this folder (dg layout)."""
