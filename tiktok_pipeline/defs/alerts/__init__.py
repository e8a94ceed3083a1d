"""Alerts: the ``alerts`` table asset, ``alert_job`` and ``alert_sensor`` (failed checks, failed runs, momentum)."""
