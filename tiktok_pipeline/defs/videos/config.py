"""Run configuration of the raw snapshots step: the polling sensor's plan, or a forced re-collection."""

from __future__ import annotations

import dagster as dg

from tiktok_pipeline.ingest.polling.plan import WindowPlan


class PollPlanConfig(dg.Config, WindowPlan):
    """The polling sensor's plan for one window: ``WindowPlan``'s fields as run config, and the gap before it."""

    gap_windows_before: int = 0

    @classmethod
    def from_plan(cls, plan: WindowPlan, gap_windows_before: int = 0) -> PollPlanConfig:
        return cls(**plan.model_dump(), gap_windows_before=gap_windows_before)

    def to_plan(self) -> WindowPlan:
        return WindowPlan.model_validate(self.model_dump(exclude={"gap_windows_before"}))


class RawSnapshotsConfig(dg.Config):
    """Run options for collecting raw snapshots."""

    recollect: bool = False
    """Call the API again even when a window's responses are already landed (simulator or recent windows only)."""
    plan: PollPlanConfig | None = None
    """What to poll; none means every creator is discovered (all recent videos observed)."""
