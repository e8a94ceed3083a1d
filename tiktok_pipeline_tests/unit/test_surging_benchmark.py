"""Smoke test of benchmarks/surging.py on a tiny world: it runs in seconds and prints sane figures."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "surging.py"


@pytest.fixture(scope="module")
def surging():
    spec = importlib.util.spec_from_file_location("surging_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_it_prints_precision_recall_and_lag_on_a_tiny_world(surging, capsys):
    scores = surging.main(["--creators", "3", "--windows", "60", "--thresholds", "2,3"])
    out = capsys.readouterr().out
    assert [s.threshold for s in scores] == [2.0, 3.0]
    assert out.count("precision") == 2 and "recall" in out and "lag from onset" in out
    for s in scores:
        assert 0 <= s.true <= s.recommendations and 0 <= s.caught <= s.onsets
        assert math.isnan(s.precision) or 0.0 <= s.precision <= 1.0
        assert math.isnan(s.recall) or 0.0 <= s.recall <= 1.0
        assert all(lag >= 0 for lag in s.lags_minutes)  # a true flag is never before the onset
    assert scores[0].recommendations >= scores[1].recommendations  # a higher threshold flags no more runs


def test_a_flag_outside_the_true_surge_is_not_true(surging):
    world = surging.World(surging.WorldConfig(seed=7, creators=2))
    viral = next(v for c in world.creators() for v in world.videos_as_of(c.username, 1.8e9) if v.is_viral)
    start, end = surging.true_surge(viral)
    before = surging.datetime.fromtimestamp(start - 600, surging.UTC)
    during = surging.datetime.fromtimestamp(start + 600, surging.UTC)
    after = surging.datetime.fromtimestamp(end + 600, surging.UTC)
    scored = surging.score(world, 3.0, [(viral.id, before), (viral.id, during), (viral.id, after)], {viral.id: start})
    assert (scored.recommendations, scored.true, scored.caught) == (3, 1, 1)
    assert scored.lags_minutes == [10.0]
