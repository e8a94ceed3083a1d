"""Which declared sources are in use, and the definitions of those that are not left out of the load.

A source with a ``switch`` (a setting, e.g. ``TIKTOK_LIVE_INTAKE_DIR``) is only in use when that setting is set;
every other source always is. Only sources in use go through admission (:func:`~.risk.admit_sources`): an
unofficial source nobody switched on is neither refused nor admitted, so it cannot block a normal load, while
switching it on without a current risk acceptance refuses the load. The definitions that read a source carry its
name in the tag :data:`SOURCE_TAG` (assets, jobs, sensors); :func:`without_sources` leaves out those of sources
not in use (and the checks of the assets it leaves out), so the default deployment shows nothing of them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import dagster as dg

from tiktok_pipeline.governance.source_models import SourceDeclaration

SOURCE_TAG = "tiktok/source"
"""Tag naming the declared source a definition reads (only on definitions of switchable sources)."""
TERMS_TAG = "tiktok/source_terms"
"""Tag giving the terms status of that source (``unofficial``): shown in the UI, carried by runs into alerts."""


def sources_in_use(
    sources: Mapping[str, SourceDeclaration], switched_on: Collection[str]
) -> dict[str, SourceDeclaration]:
    """The sources without a switch, and those whose switch is in ``switched_on``."""
    return {name: s for name, s in sources.items() if s.switch is None or s.switch in switched_on}


def _off(tags: Mapping[str, str] | None, names: Collection[str]) -> bool:
    return bool(tags) and (tags or {}).get(SOURCE_TAG) in names


def without_sources(loaded: dg.Definitions, names: Collection[str]) -> dg.Definitions:
    """``loaded`` without the assets, checks, jobs and sensors tagged with a source in ``names`` (and without the
    kept assets' dependencies on the assets left out)."""
    if not names:
        return loaded
    assets: list = []
    dropped: set[dg.AssetKey] = set()
    for asset in loaded.assets or []:
        tags = asset.tags_by_key.values() if isinstance(asset, dg.AssetsDefinition) else [getattr(asset, "tags", {})]
        if any(_off(t, names) for t in tags):
            dropped.update(asset.keys if isinstance(asset, dg.AssetsDefinition) else [])
            continue
        assets.append(asset)
    checks = [
        check for check in loaded.asset_checks or [] if not any(key.asset_key in dropped for key in check.check_keys)
    ]

    def undepend(spec: dg.AssetSpec) -> dg.AssetSpec:  # no stub of a left-out asset upstream of one kept
        declared = list(spec.deps)
        deps = [dep for dep in declared if dep.asset_key not in dropped]
        return spec if len(deps) == len(declared) else spec.replace_attributes(deps=deps)

    if dropped:
        assets = list(dg.Definitions(assets=assets).map_asset_specs(func=undepend).assets or [])
    jobs = [job for job in loaded.jobs or [] if not _off(getattr(job, "tags", None), names)]
    sensors = [sensor for sensor in loaded.sensors or [] if not _off(sensor.tags, names)]
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        schedules=loaded.schedules,
        sensors=sensors,
        resources=loaded.resources,
    )
