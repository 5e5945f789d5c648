"""The distributed training path (issue 12): torchrun with 2 CPU processes (gloo) through
``core.train.loop.train`` on a tiny config (``tests/ddp_worker.py``). ~55 s on a busy 2-core machine."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from resvr.core.models.pipelines import build_model
from resvr.core.models.weights import safe_load
from tests.helpers import TINY_RESVR, textured_erp

WORKER = Path(__file__).resolve().parent / "ddp_worker.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_cpu_ranks_agree_after_training_and_stop_together(tmp_path):
    data = tmp_path / "erps"
    data.mkdir()
    for i in range(2):
        Image.fromarray(textured_erp(128, 256, seed=i)).save(data / f"e{i}.png")
    cfg = {"name": "tiny", "model": TINY_RESVR, "data": {"erp_folder": str(data), "min_erp_height": 64, "synth_count": 0},
           "train": {"iters": 2, "batch": 2, "patch": 64, "points": 128, "lr": 1e-3, "threads": 1, "amp": True,
                     "log_every": 1, "ckpt_every": 1, "val_every": 1000, "out": str(tmp_path / "run")}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(WORKER.parents[1]) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                        "--master_port", str(_free_port()), str(WORKER), str(tmp_path / "cfg.yaml"), str(tmp_path)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]

    torch.manual_seed(0)                     # rank 0's seed: DDP gives every rank rank 0's initial weights
    init = build_model(TINY_RESVR).state_dict()
    for stage, iters in (("steps", 2), ("stop", 1)):
        r0, r1 = (torch.load(tmp_path / f"{stage}_rank{r}.pt", weights_only=True) for r in (0, 1))
        assert r0.keys() == r1.keys() == init.keys()
        assert all(torch.equal(r0[k], r1[k]) for k in r0), f"{stage}: the ranks disagree on the weights"
        moved = [k for k in r0 if r0[k].is_floating_point() and not torch.equal(r0[k], init[k])]
        assert len(moved) > len(r0) // 2, f"{stage}: training changed only {len(moved)} tensors"
        ck = safe_load(tmp_path / ("run" if stage == "steps" else "stop") / "latest.pt")
        assert ck["iter"] == iters
    # rank 1 had hours left but stopped with rank 0 after one iteration: its weights are one step's
    s, o = (torch.load(tmp_path / f"{st}_rank1.pt", weights_only=True) for st in ("steps", "stop"))
    assert any(not torch.equal(s[k], o[k]) for k in s)
    assert "segment time limit (1e-09 h) reached at iteration 1" in p.stdout
