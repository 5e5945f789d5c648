#!/usr/bin/env python3
"""Is the training loop of one checkout bit-identical in behaviour to another's?

    nice .venv/bin/python scripts/compare_training.py OLD_ROOT [NEW_ROOT] [--keep DIR]

For each campaign config (``core/train/configs/resvr_staged.yaml``, ``ht_long.yaml``,
``dinn360.yaml``) a tiny copy is derived: the same train options (staged codec freeze, a
continued schedule, amp, jitter, pool refresh, DINN360's backflow and JPEG simulation, ...),
scaled down (a few small layers, 32-pixel patches, 6 iterations), on fixtures made in a temp dir
(photos and ERPs of noise-free sinusoids, one validation panorama named as in ``split.yaml``, a
stage-1 HyperThumbnail checkpoint for ``init_codec``). Each checkout trains it as the campaign
does: 3 iterations from scratch in one process, then ``--resume latest.pt`` to 6 in a fresh one
(``resvr.core`` imported from that checkout through a shim on ``PYTHONPATH``). Then it compares
the checkpoint at the resume point, the final ``latest.pt`` and ``best.pt`` (model, optimisers,
scheduler, iteration, best, config and the Python RNG state: every entry, tensors with
``torch.equal`` and the same dtype), torch's global RNG state at the end of each segment,
``log.csv`` (every column but the wall time ``time_s``) and what each segment printed (paths
normalised). Prints one line per item and exits 1 on any difference.

It starts no long training: each tiny run takes seconds on one thread.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
CONFIGS = ("resvr_staged", "ht_long", "dinn360")
ITERS, FIRST = 6, 3
# a tiny network of each kind, with the structure of the campaign's configs
TINY_DOWN = {"channels": 8, "levels": 2, "qpm_hidden": 16, "init_quality": 96}
TINY_MODEL = {"vr": {"enc_channels": 8, "enc_blocks": 1, "amp": 16, "hidden": 16, "mlp_layers": 2},
              "ht": {"feat": 8, "freq_blocks": 1, "dec_feat": 8, "dec_blocks": 1},
              "dinn": {"feat": 8, "blocks": 1, "attention": True, "cond_feat": 8, "proj_feat": 8, "proj_blocks": 1}}
TINY_TRAIN = {"iters": ITERS, "batch": 2, "patch": 32, "points": 64, "warmup": 2, "threads": 1, "log_every": 1,
              "ckpt_every": 1000, "val_every": 2, "val_batches": 1}


# ----------------------------------------------------------------------------- fixtures
def _image(h: int, w: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        for _ in range(4):
            img[..., c] += np.sin(rng.integers(1, 9) * 2 * np.pi * x / w + rng.uniform(1, 8) * y / h
                                  + rng.uniform(0, 6.3))
    img = (img - img.min()) / (img.max() - img.min())
    return (img * 220 + 20).astype(np.uint8)


def make_fixtures(tmp: Path) -> dict:
    """Photos, train ERPs, a validation ERP and a stage-1 HyperThumbnail checkpoint."""
    import torch
    import yaml
    from PIL import Image

    from resvr.core.models.pipelines import build_model

    split = yaml.safe_load((HERE / "core/train/configs/split.yaml").read_text())
    photos, erps = tmp / "photos", tmp / "erps"
    photos.mkdir()
    erps.mkdir()
    for i in range(6):
        Image.fromarray(_image(96, 128, 10 + i)).save(photos / f"photo{i}.png")
    for i in range(2):
        Image.fromarray(_image(64, 128, 20 + i)).save(erps / f"train{i}.png")
    Image.fromarray(_image(512, 1024, 30)).save(erps / split["val_panoramas"][0])   # validates
    ht_cfg = {"type": "hyperthumbnail", "scale": 4, "downsampler": TINY_DOWN, "ht": TINY_MODEL["ht"]}
    torch.manual_seed(3)
    stage1 = tmp / "stage1.pt"
    torch.save({"model": build_model(ht_cfg).state_dict(), "cfg": {"model": ht_cfg}, "iter": 0}, stage1)
    return {"photos": str(photos), "erps": str(erps), "stage1": str(stage1)}


def tiny_config(name: str, fx: dict) -> dict:
    """The campaign config ``name`` scaled down: same options, tiny sizes, the fixtures as data."""
    import yaml

    cfg = yaml.safe_load((HERE / "core/train/configs" / f"{name}.yaml").read_text())
    m, d, t = cfg["model"], cfg["data"], cfg["train"]
    if "downsampler" in m:
        m["downsampler"] = dict(TINY_DOWN)
    for k in ("vr", "ht", "dinn"):
        if k in m:
            m[k] = dict(m[k], **TINY_MODEL[k])
    if m.get("init_codec"):
        m["init_codec"] = fx["stage1"]
    d.update(photos=fx["photos"], erp_folder=fx["erps"], synth_count=2, synth_heights=[64, 128],
             real_prob=0.5, min_erp_height=64, refresh_every=2)
    t.update(TINY_TRAIN, out="run")
    if "codec_freeze_iters" in t:
        t["codec_freeze_iters"] = 4          # frozen across the resume, joint from iteration 4
    if "schedule_start" in t:
        t["schedule_start"] = 1
    if "backflow_iters" in t:
        t["backflow_iters"] = 4
    return cfg


# ----------------------------------------------------------------------------- one checkout
def _worker(cfg_file: str, root: str, segment: int) -> int:
    """One segment in this process (``resvr.core`` from the shim): 1 = from scratch, 2 = resume."""
    import torch

    import resvr.core
    from resvr.core.train.loop import train

    print(f"code: {Path(resvr.core.__file__).resolve().parent}", file=sys.stderr)
    cfg = json.loads(Path(cfg_file).read_text())
    run = Path(root) / "run"
    if segment == 1:
        train(cfg, root=Path(root), max_iters=FIRST, progress=False)
    else:
        train(cfg, resume=str(run / "latest.pt"), root=Path(root), progress=False)
    torch.save(torch.get_rng_state(), run / f"torch_rng_{segment}.pt")
    return 0


def run_checkout(code_root: Path, cfg: dict, work: Path) -> dict:
    """Both segments with ``code_root``'s core; -> what they printed."""
    import shutil

    shim = work / "shim" / "resvr"
    shim.mkdir(parents=True)
    (shim / "core").symlink_to(code_root / "core")
    cfg_file = work / "cfg.json"
    cfg_file.write_text(json.dumps(cfg))
    env = dict(os.environ, PYTHONPATH=str(work / "shim"), OMP_NUM_THREADS="1")
    printed = {}
    for seg in (1, 2):
        p = subprocess.run([sys.executable, __file__, "--worker", str(cfg_file), str(work), str(seg)], env=env,
                           capture_output=True, text=True, cwd=work)
        code = next((ln for ln in p.stderr.splitlines() if ln.startswith("code: ")), "code: ?")[6:]
        if p.returncode != 0 or Path(code) != (code_root / "core").resolve():
            raise SystemExit(f"{code_root}: segment {seg} failed (code from {code}):\n{p.stderr[-3000:]}")
        printed[seg] = p.stdout.replace(str(work), "<WORK>")
        if seg == 1:
            shutil.copyfile(work / "run" / "latest.pt", work / "run" / "resume_point.pt")
    return printed


# ----------------------------------------------------------------------------- comparing
def diff(a, b, where: str = "") -> list[str]:
    """Every difference between two checkpoint trees (tensors: dtype, shape and values exactly)."""
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return [f"{where}: tensor vs {type(b).__name__}"]
        if a.dtype != b.dtype or a.shape != b.shape or not torch.equal(a, b):
            return [f"{where}: tensors differ ({a.dtype}{tuple(a.shape)} vs {b.dtype}{tuple(b.shape)})"]
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where}: keys differ ({sorted(map(str, set(a) ^ set(b)))[:5]})"]
        return [d for k in a for d in diff(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where}: lengths {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diff(x, y, f"{where}[{i}]")]
    return [] if (type(a) is type(b) and a == b) else [f"{where}: {a!r} vs {b!r}"]


def _log_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return [r[:1] + r[2:] for r in rows]   # without time_s (wall clock)


def compare(name: str, old: Path, new: Path, printed_old: dict, printed_new: dict) -> list[tuple[str, list[str]]]:
    import torch

    out = []
    for f in ("resume_point.pt", "latest.pt", "best.pt"):
        a, b = (torch.load(r / "run" / f, map_location="cpu", weights_only=True) for r in (old, new))
        out.append((f"{f} (iter {a['iter']}: model, opt, aux_opt, sched, best, cfg, rng)", diff(a, b, f)))
    for seg in (1, 2):
        a, b = (torch.load(r / "run" / f"torch_rng_{seg}.pt", weights_only=True) for r in (old, new))
        out.append((f"torch RNG state after segment {seg}", diff(a, b, "torch_rng")))
    la, lb = _log_rows(old / "run" / "log.csv"), _log_rows(new / "run" / "log.csv")
    out.append((f"log.csv ({len(la) - 1} rows, all columns but time_s)", diff(la, lb, "log.csv")))
    for seg in (1, 2):
        out.append((f"printed by segment {seg}", diff(printed_old[seg], printed_new[seg], "stdout")))
    # not a vacuous comparison: the runs did train to the end, validated and logged every iteration
    a = torch.load(new / "run" / "latest.pt", weights_only=True)
    sane = [] if a["iter"] == ITERS and len(la) == ITERS + 1 and a["best"] > 0 else \
        [f"run incomplete: iter {a['iter']}, {len(la) - 1} log rows, best {a['best']}"]
    out.append(("the run is complete (6 iterations, 6 log rows, validated)", sane))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path, help="the checkout whose behaviour is the reference")
    ap.add_argument("new", type=Path, nargs="?", default=HERE, help="the checkout to check (default: this one)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the runs in this folder")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    a = ap.parse_args(argv)
    old, new = a.old.resolve(), a.new.resolve()
    tmp_ctx = tempfile.TemporaryDirectory(prefix="compare-training-")
    tmp = Path(a.keep or tmp_ctx.name)
    tmp.mkdir(parents=True, exist_ok=True)
    fx = make_fixtures(tmp)
    print(f"reference: {old}\nchecked:   {new}")
    bad = 0
    for name in a.configs.split(","):
        cfg = tiny_config(name, fx)
        printed = {}
        for tag, root in (("old", old), ("new", new)):
            printed[tag] = run_checkout(root, copy.deepcopy(cfg), tmp / name / tag)
        print(f"{name}:")
        for what, d in compare(name, tmp / name / "old", tmp / name / "new", printed["old"], printed["new"]):
            print(f"  {'ok' if not d else 'DIFFERENT'}: {what}")
            for line in d[:5]:
                print(f"      {line}")
            bad += bool(d)
    print("ALL IDENTICAL" if not bad else f"{bad} DIFFERENCES")
    tmp_ctx.cleanup()
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        sys.exit(_worker(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    sys.exit(main())
