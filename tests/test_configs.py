"""Every shipped training config parses and builds its model; the split is disjoint."""
from pathlib import Path

import pytest

from resvr.core.models.pipelines import build_model
from resvr.core.train.data import load_split
from resvr.core.train.loop import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "core" / "train" / "configs").glob("*_*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds(path):
    cfg = load_config(path)
    m = build_model(cfg["model"])
    assert m.kind == cfg["model"]["type"]
    assert cfg["train"]["iters"] > 0 and cfg["train"]["batch"] > 0


def test_split_lists_are_disjoint_and_named():
    s = load_split()
    assert len(s["val_photos"]) >= 6 and len(s["val_panoramas"]) >= 4
    assert not set(s["val_photos"]) & set(s["val_panoramas"])
