"""The code location loads from an installed package, as in the deployed image (no pyproject.toml beside it)."""

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def test_definitions_load_from_an_installed_wheel(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(PROJECT),
        ],
        check=True,
        capture_output=True,
    )
    assert (target / "tiktok_pipeline" / "dg.toml").exists(), "the defs-folder layout must ship inside the package"
    code = "import tiktok_pipeline.definitions as d; print(d.__file__); print(len(list(d.defs.assets)))"
    env = {**os.environ, "PYTHONPATH": str(target), "TIKTOK_WAREHOUSE_PATH": str(tmp_path / "w.duckdb")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0].startswith(str(target)) and int(out[1]) >= 10
