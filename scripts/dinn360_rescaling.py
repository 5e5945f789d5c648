#!/usr/bin/env python
"""DINN360 on the task it was designed for (no JPEG): x4 rescaling of whole ERP panoramas.

For each panorama of a folder (e.g. ``out/val`` from ``scripts/make_val_set.py``):

* DINN360: the forward network's LR (wrapped in longitude), rounded to 8 bits, then the reverse
  upscaling with z = 0 (``models.dinn360.downscale_erp`` / ``upscale_erp``);
* bicubic: the 'jpeg' baseline's antialiased bicubic x4 downscale (``encode.downscale_bicubic``),
  8 bits, then bicubic x4 upsampling (``evaluate.run.bicubic_upsample_erp``), both wrapped in longitude;

and the PSNR / WS-PSNR (``core.metrics``) of each 8-bit HR reconstruction against the HR image.

    .venv/bin/python scripts/dinn360_rescaling.py out/val --weights assets/weights/dinn360.pt [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from resvr.core.encode import downscale_bicubic  # noqa: E402
from resvr.core.evaluate.rows import list_panoramas  # noqa: E402
from resvr.core.evaluate.run import bicubic_upsample_erp  # noqa: E402
from resvr.core.imageio import load_image  # noqa: E402
from resvr.core.metrics import psnr, ws_psnr  # noqa: E402
from resvr.core.models.dinn360 import downscale_erp, upscale_erp  # noqa: E402
from resvr.core.models.weights import load_weights  # noqa: E402


def u8(t: torch.Tensor) -> torch.Tensor:
    return t.clamp(0, 1).mul(255).add(0.5).to(torch.uint8)


@torch.no_grad()
def rescale(model, hr_u8: np.ndarray) -> dict:
    H, W = hr_u8.shape[:2]
    if H % model.multiple or W % model.multiple:
        raise SystemExit(f"{W}x{H}: sides must be multiples of {model.multiple}")
    hr = torch.from_numpy(hr_u8).permute(2, 0, 1)[None].float() / 255
    t0 = time.perf_counter()
    lr = u8(downscale_erp(model, hr)).float() / 255
    rec = u8(upscale_erp(model, lr)).float() / 255
    dt = time.perf_counter() - t0
    bic = bicubic_upsample_erp(downscale_bicubic(hr_u8, 4), (H, W))[None].float() / 255
    return {"size": [W, H], "dinn_psnr": float(psnr(rec, hr)), "dinn_ws_psnr": float(ws_psnr(rec, hr)),
            "bicubic_psnr": float(psnr(bic, hr)), "bicubic_ws_psnr": float(ws_psnr(bic, hr)),
            "dinn_lr_vs_bicubic_lr_psnr": float(psnr(lr, torch.from_numpy(downscale_bicubic(hr_u8, 4)).permute(
                2, 0, 1)[None].float() / 255)), "dinn_s": round(dt, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--weights", default=None, help="DINN360 weights or a training checkpoint")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(int(torch.get_num_threads()))
    model, info = load_weights("dinn360", a.weights, "cpu")
    rows = {}
    for p in list_panoramas(a.folder):
        rows[p.name] = r = rescale(model, load_image(p))
        print(f"{p.name}: DINN360 {r['dinn_psnr']:.2f} dB (WS {r['dinn_ws_psnr']:.2f}), bicubic "
              f"{r['bicubic_psnr']:.2f} dB (WS {r['bicubic_ws_psnr']:.2f}), {r['dinn_s']} s", flush=True)
    mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in next(iter(rows.values())) if k.endswith("psnr")}
    print("| panorama | DINN360 PSNR | bicubic PSNR | DINN360 WS-PSNR | bicubic WS-PSNR |")
    print("|---|---:|---:|---:|---:|")
    for n, r in list(rows.items()) + [("**mean**", mean)]:
        print(f"| {n} | {r['dinn_psnr']:.2f} | {r['bicubic_psnr']:.2f} | {r['dinn_ws_psnr']:.2f} | "
              f"{r['bicubic_ws_psnr']:.2f} |")
    if a.json:
        Path(a.json).write_text(json.dumps({"weights": {k: v for k, v in info.items() if k != "cfg"},
                                            "panoramas": rows, "mean": mean}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
