"""Where alerts go, instantiated in ``definitions.py`` from ``settings.alerts`` and the webhook variables."""

import dagster as dg
from pydantic import SecretStr

from tiktok_pipeline.activation.alerts.delivery import Destination


class AlertsResource(dg.ConfigurableResource):
    """Where alerts go. Webhook URLs come from TIKTOK_SLACK_WEBHOOK_URL / TIKTOK_TEAMS_WEBHOOK_URL via EnvVar."""

    slack_webhook_url: str | None = None
    teams_webhook_url: str | None = None
    dagster_ui_url: str = "http://localhost:3000"
    momentum_threshold: float = 3.0
    max_attempts: int = 5

    def destinations(self) -> list[Destination]:
        pairs = (("slack", self.slack_webhook_url), ("teams", self.teams_webhook_url))
        return [Destination(kind=kind, url=SecretStr(url)) for kind, url in pairs if url]  # type: ignore[arg-type]
