"""The one ``Definitions`` of the project: loads ``defs/`` and applies the project-wide policies.

Every Dagster definition lives at module level in ``tiktok_pipeline/defs/<domain>/`` (Dagster's ``dg``
layout, loaded with ``dg.load_from_defs_folder``); the resources come from
:class:`tiktok_pipeline.settings.Settings` (``TIKTOK_*`` variables, secrets only as ``dagster.EnvVar``).
This module only binds them and applies what holds for every asset: owners, links to the source code,
Dagster's event batching in every process that loads it (:mod:`tiktok_pipeline.governance.event_batching`), and
the admission of the declared sources: an unofficial one in use without a current risk acceptance refuses the load
(:mod:`tiktok_pipeline.governance.risk`), and the definitions of a source nobody switched on are left out
(:mod:`tiktok_pipeline.governance.admission`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from tiktok_pipeline.defs.resources import build_resources
from tiktok_pipeline.governance.admission import sources_in_use, without_sources
from tiktok_pipeline.governance.event_batching import enable_event_batching
from tiktok_pipeline.governance.owners import DEFAULT_OWNERS, OWNERS
from tiktok_pipeline.governance.risk import admit_sources
from tiktok_pipeline.governance.source_models import SourceDeclaration
from tiktok_pipeline.governance.sources import SOURCES
from tiktok_pipeline.governance.sqlite_commits import install as cheap_sqlite_commits
from tiktok_pipeline.settings import Settings, load_settings


def load_defs_folder() -> dg.Definitions:
    """Every module-level definition under ``tiktok_pipeline/defs/`` (assets, checks, jobs, sensors, schedules)."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


def _with_owners(spec: dg.AssetSpec) -> dg.AssetSpec:
    if spec.owners:
        return spec
    return spec.replace_attributes(owners=OWNERS.get(spec.group_name or "", DEFAULT_OWNERS))


def apply_policies(loaded: dg.Definitions) -> dg.Definitions:
    """Owners by group on every asset, each asset linked to the file and line that defines it, and every job's steps
    in its run's own process unless the job says otherwise: the UI's materialisations and backfills (Dagster's
    implicit asset job) included. A step process costs a Python start, the definitions' import and the resources'
    set-up (2.5–3 s; issue 13), and on one DuckDB writer the steps take turns on the warehouse anyway."""
    owned = loaded.map_asset_specs(func=_with_owners)
    assets = dg.with_source_code_references(list(owned.assets or []))
    return dg.Definitions.merge(
        dg.Definitions(assets=assets),
        dg.Definitions(
            asset_checks=owned.asset_checks,
            jobs=owned.jobs,
            schedules=owned.schedules,
            sensors=owned.sensors,
            resources=owned.resources,
            executor=dg.in_process_executor,
        ),
    )


def build_definitions(
    settings: Settings | None = None, *, sources: Mapping[str, SourceDeclaration] = SOURCES
) -> dg.Definitions:
    """All definitions with their resources for ``settings`` (default: from the environment), once every declared
    source in use is admitted (``sources``: the declarations, :data:`~tiktok_pipeline.governance.sources.SOURCES`)."""
    settings = settings or load_settings()
    in_use = sources_in_use(sources, settings.switched_on())
    admit_sources(in_use, settings.risk_acceptances_path)
    folder = without_sources(load_defs_folder(), set(sources) - set(in_use))
    loaded = dg.Definitions.merge(folder, dg.Definitions(resources=build_resources(settings)))
    return apply_policies(loaded)


enable_event_batching()
cheap_sqlite_commits()
defs = build_definitions()
