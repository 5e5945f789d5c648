"""The two-stage ResVR schedule (issue 10): a codec from a trained rescaling stage, frozen for a
VR warm-up, then trained jointly at a lower learning rate; the cosine planned over the campaign
and resumed inside it (never restarted)."""
from __future__ import annotations

import math

import torch
from PIL import Image

from resvr.core.models.weights import export_weights, safe_load
from resvr.core.train.loop import lr_schedule, train
from tests.helpers import TINY_HT, TINY_RESVR, save_tiny_checkpoint, textured_erp


def test_lr_schedule_is_one_cosine_over_the_campaign():
    f = lr_schedule({"iters": 1000, "warmup": 10, "schedule_start": 200})
    cos = lambda j: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * j / 800))   # noqa: E731
    assert f(0) == f(200) == 0.1 * cos(0) and abs(f(209) - cos(9)) < 1e-12   # warm-up from the start
    assert abs(f(600) - cos(400)) < 1e-12
    assert abs(f(1000) - 0.05) < 1e-12 and f(5000) == f(1000)                # ends at 5 %, never restarts


def test_codec_frozen_for_the_warm_up_then_joint_at_a_lower_lr(tmp_path):
    data = tmp_path / "erps"
    data.mkdir()
    for i in range(2):
        Image.fromarray(textured_erp(128, 256, seed=i)).save(data / f"e{i}.png")
    ht_w = export_weights(save_tiny_checkpoint(tmp_path / "ht.pt", TINY_HT, seed=3), tmp_path / "ht_w.pt", name="ht")
    stage1 = {k: v.float() for k, v in safe_load(ht_w)["state_dict"].items() if k.startswith("codec.")}
    cfg = {"name": "staged", "model": dict(TINY_RESVR, init_codec=str(ht_w)),
           "data": {"erp_folder": str(data), "min_erp_height": 64, "synth_count": 0},
           "train": {"iters": 6, "batch": 2, "patch": 64, "points": 128, "lr": 1e-3, "threads": 1, "amp": True,
                     "warmup": 1, "codec_freeze_iters": 3, "codec_lr_mult": 0.1, "log_every": 1,
                     "ckpt_every": 1000, "val_every": 1000, "out": str(tmp_path / "run")}}
    out = train(cfg, root=tmp_path, max_iters=3, progress=False)             # the warm-up segment
    ck = safe_load(out / "latest.pt")
    assert ck["iter"] == 3
    for k, v in stage1.items():
        assert torch.equal(ck["model"][k].float(), v), k                      # frozen: the stage-1 codec
    f = lr_schedule(cfg["train"])
    assert [g["lr"] for g in ck["opt"]["param_groups"]] == [1e-3 * f(3), 1e-4 * f(3)]   # lr of the next, joint step
    train(cfg, resume=str(out / "latest.pt"), root=tmp_path, progress=False)  # the joint segment
    ck = safe_load(out / "latest.pt")
    assert ck["iter"] == 6
    assert any(not torch.equal(ck["model"][k].float(), v) for k, v in stage1.items())   # the codec now learns
    vr_lr, codec_lr = (g["lr"] for g in ck["opt"]["param_groups"])
    assert math.isclose(vr_lr, 1e-3 * f(6), rel_tol=1e-9)                   # resumed inside the one cosine
    assert math.isclose(codec_lr, 1e-4 * f(6), rel_tol=1e-9)                 # 0.1x the VR module's lr
