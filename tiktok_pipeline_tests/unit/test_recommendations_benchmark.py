"""Smoke test of benchmarks/recommendations.py on a tiny world: flags, swaps and raises are scored per rule."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "recommendations.py"


def test_it_scores_flags_swaps_and_raises_for_every_rule(capsys):
    spec = importlib.util.spec_from_file_location("recommendations_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        figures = module.main(["--creators", "3", "--windows", "36", "--rules", "0,30", "--pacing-days", "0"])
    finally:
        sys.modules.pop(spec.name, None)
    out = capsys.readouterr().out
    assert [(f.kind, f.rule.persist_minutes) for f in figures] == [
        (kind, persist) for kind in ("flags", "swaps", "raises") for persist in (0.0, 30.0)
    ]
    assert "| flags | one observation |" in out and "| raises | persist 30 min |" in out
    for f in figures:
        assert 0 <= f.true <= f.recommendations and 0 <= f.caught <= f.onsets
        assert all(lag >= 0 for lag in f.lags) and not any(math.isnan(lag) for lag in f.lags)
