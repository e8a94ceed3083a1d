"""LIVE intake (group ``live``, UNOFFICIAL): events a user collected with a community connector, opt-in only.

Loaded only when ``TIKTOK_LIVE_INTAKE_DIR`` is set and the unofficial source ``live_events`` is admitted under a
current risk acceptance (``definitions.py``, :mod:`tiktok_pipeline.governance.admission`).
"""
