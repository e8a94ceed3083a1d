"""Governance: telemetry per window, per-window figures, retention rules and pruning, metadata tables."""
