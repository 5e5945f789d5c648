"""Every shipped training config builds the model it describes (kind, scale, shape, widths, a codec
forward of the right shapes, training crops the codec accepts); the split is disjoint."""
from pathlib import Path

import pytest

from resvr.core.models.pipelines import build_model
from resvr.core.train.data import load_split
from resvr.core.train.loop import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "core" / "train" / "configs").glob("*_*.yaml"))


def _params(m) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds_the_model_it_describes(path):
    import copy

    import torch

    cfg = load_config(path)
    mc = cfg["model"]
    m = build_model(mc)
    s = mc.get("scale", 4)
    assert m.kind == mc["type"] and m.codec.scale == s
    if m.kind == "resvr":
        assert m.shape_kind == mc.get("shape", "ssr")
    # a real forward through the codec: an HR ERP of the codec's multiple gives an LR s times smaller
    # on each side and the 64 DCT coefficient maps of its 8x8 blocks
    H = m.codec.multiple
    lr, maps = m.codec.analyse(torch.rand(1, 3, H, 2 * H))
    assert lr.shape == (1, 3, H // s, 2 * H // s)
    assert maps.shape == (1, 3, 64, H // s // 8, 2 * H // s // 8)
    # the configured widths are the model's: wider downsampler channels mean more parameters
    wider = copy.deepcopy(mc)
    wider.pop("init_codec", None)
    wider["downsampler"]["channels"] = 2 * mc["downsampler"]["channels"]
    assert _params(build_model(wider)) > _params(m)
    # training crops go through the codec whole: the patch is a multiple of what the codec needs
    t = cfg["train"]
    assert t["iters"] > 0 and t["batch"] > 0 and t["points"] > 0
    assert t["patch"] % m.codec.multiple == 0, (t["patch"], m.codec.multiple)
    if mc.get("freeze_codec"):
        assert not any(p.requires_grad for p in m.codec.parameters())
        assert any(p.requires_grad for p in m.vr.parameters())


def test_split_lists_are_disjoint_and_named():
    s = load_split()
    assert len(s["val_photos"]) >= 6 and len(s["val_panoramas"]) >= 4
    assert not set(s["val_photos"]) & set(s["val_panoramas"])
