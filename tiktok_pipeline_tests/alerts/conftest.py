"""Fixtures of the alert tests: the recording webhook server."""

from tiktok_pipeline_tests.alerts.webhook_server import server  # noqa: F401 - re-exported as a fixture
