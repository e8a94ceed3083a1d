"""The governance domain's runtime configuration, instantiated from the settings in ``defs/resources.py``."""

import dagster as dg
from pydantic import Field


class RiskAcceptancesResource(dg.ConfigurableResource):
    """Where the risk acceptances of unofficial sources are recorded (read by ``governance_report``)."""

    path: str = Field(description="TIKTOK_RISK_ACCEPTANCES_PATH.")
    switched_on: list[str] = Field(
        default_factory=list, description="The source switches set (e.g. TIKTOK_LIVE_INTAKE_DIR): sources in use."
    )
