"""Loading and running our definitions prints no Dagster BetaWarning/PreviewWarning (issue 10, defect 7)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

from dagster_shared.utils.warnings import beta_warning, preview_warning

from tiktok_pipeline import DAGSTER_LABEL_WARNINGS

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# One window of the window assets, in-process, with the definitions the code server loads.
MATERIALIZE_ONE_WINDOW = textwrap.dedent(
    """
    import dagster as dg
    from tiktok_pipeline.definitions import defs

    result = dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.groups("collect", "process"),
        resources=dict(defs.resources),
        instance=dg.DagsterInstance.ephemeral(),
        partition_key="2026-11-20-10:00",
        raise_on_error=False,
    )
    assert result.success, [e.event_type_value for e in result.all_events if e.is_failure]
    print("materialized", len(result.get_asset_materialization_events()))
    """
)


def test_the_filter_matches_dagsters_beta_and_preview_wording():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        beta_warning("Parameter `pool` of function `asset`")
        preview_warning("Class `Something`")
    assert len(caught) == 2
    assert all(re.match(DAGSTER_LABEL_WARNINGS, str(w.message)) for w in caught), [str(w.message) for w in caught]


def test_loading_and_materialising_a_window_emits_no_beta_or_preview_warning(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "TIKTOK_WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb"),
        "TIKTOK_LANDING_DIR": str(tmp_path / "landing"),
        "TIKTOK_TOKEN_STORE_PATH": str(tmp_path / "tokens.json"),
        "TIKTOK_POLLING_STATE_DIR": str(tmp_path / "polling_state"),
    }
    (tmp_path / "dagster_home").mkdir()
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", MATERIALIZE_ONE_WINDOW],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "materialized" in done.stdout
    assert "BetaWarning" not in done.stderr and "PreviewWarning" not in done.stderr, done.stderr[-3000:]
