"""Learned encoding: HR ERP -> LR JPEG with the ResVR or HyperThumbnail codec.

The downsampler runs once; the QPM tables are scaled by ``qscale`` and the real file size is
measured for each candidate, so ``--bpp`` is met by bisection on qscale (log scale) within the
tolerance where it is reachable. The file is a standard baseline 4:4:4 JPEG (jpeglib) with the
predicted tables and GPano + project XMP.
"""
from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import registry
from .errors import BadInput
from .imageio import load_image, write_bytes_atomic
from .jpeg.container import write_jpeg_dct
from .models.weights import load_weights

BPP_TOLERANCE = 0.01
QSCALE_RANGE = (0.02, 50.0)


def to_multiple(hr: torch.Tensor, m: int, name: str = "image") -> torch.Tensor:
    """Resize (bicubic) so both sides are multiples of ``m``; a notice says so."""
    H, W = hr.shape[-2:]
    H2, W2 = max(m, int(round(H / m)) * m), max(m, int(round(W / m)) * m)
    if (H2, W2) == (H, W):
        return hr
    warnings.warn(f"{name}: {W}x{H} resized to {W2}x{H2} (the codec needs multiples of {m})")
    return F.interpolate(hr, size=(H2, W2), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


class LearnedEncoder:
    def __init__(self, method: str, weights=None, device="cpu"):
        self.method = method
        self.codec, self.info = load_weights(method, weights, device, part="codec")
        self.device = torch.device(device)

    @torch.no_grad()
    def analyse(self, hr_uint8: np.ndarray, name="image"):
        hr = torch.from_numpy(hr_uint8).permute(2, 0, 1)[None].float().div(255).to(self.device)
        hr = to_multiple(hr, self.codec.multiple, name)
        lr, maps = self.codec.analyse(hr)
        return hr.shape[-2:], maps

    def file_bytes(self, maps, qscale: float, xmp: dict) -> bytes:
        Y, Cb, Cr, qt = self.codec.quantise(maps, qscale)
        with tempfile.TemporaryDirectory() as d:
            p = write_jpeg_dct(Path(d) / "x.jpg", Y, Cb, Cr, qt, xmp=dict(xmp, extra={"QScale": round(qscale, 5)}))
            return p.read_bytes()

    def encode(self, hr_path, out, bpp: float | None = 0.3, qscale: float | None = None,
               overwrite: bool = False) -> dict:
        hr_path, out = Path(hr_path), Path(out)
        if out.exists() and not overwrite:
            raise BadInput(f"{out}: output exists; pass --overwrite to replace it")
        hr = load_image(hr_path)
        H, W = hr.shape[:2]
        (H2, W2), maps = self.analyse(hr, str(hr_path))
        s = self.codec.scale
        xmp = dict(width=W2 // s, height=H2 // s, method=self.method, scale=s, hr_width=W, hr_height=H,
                   model=self.info.get("name"), model_version=str(self.info.get("version")))
        pixels = W * H
        if qscale is not None:
            data = self.file_bytes(maps, qscale, xmp)
        else:
            qscale, data = self.bisect(maps, xmp, float(bpp), pixels)
        got = len(data) * 8.0 / pixels
        if qscale is not None and bpp is not None and abs(got - bpp) > BPP_TOLERANCE:
            warnings.warn(f"{hr_path}: {bpp:g} bpp is not reachable; closest is {got:.4f} bpp (qscale {qscale:.4g})")
        write_bytes_atomic(out, data, overwrite)
        return {"path": str(out), "method": self.method, "qscale": qscale, "bpp": got, "bytes": len(data),
                "lr_size": (W2 // s, H2 // s), "hr_size": (W, H)}

    def bisect(self, maps, xmp, target: float, pixels: int, steps: int = 30):
        lo, hi = math.log(QSCALE_RANGE[0]), math.log(QSCALE_RANGE[1])   # bpp(lo) high, bpp(hi) low
        cache = {}

        def at(lq):
            if lq not in cache:
                d = self.file_bytes(maps, math.exp(lq), xmp)
                cache[lq] = (d, len(d) * 8.0 / pixels)
            return cache[lq]

        if at(lo)[1] <= target:
            return math.exp(lo), at(lo)[0]
        if at(hi)[1] >= target:
            return math.exp(hi), at(hi)[0]
        for _ in range(steps):
            mid = 0.5 * (lo + hi)
            if at(mid)[1] > target:
                lo = mid
            else:
                hi = mid
            if abs(at(mid)[1] - target) <= BPP_TOLERANCE / 4:
                break
        best = min(cache, key=lambda k: abs(cache[k][1] - target))
        return math.exp(best), cache[best][0]


def encode_bundle(hr_path, out_dir, bpp: float = 0.3, scale: int = 4, weights: dict | None = None,
                  device="cpu", reference: bool = True, overwrite: bool = False, warn=None, progress=None) -> dict:
    """``encode --method all``: the comparison bundle in ``out_dir``: <stem>.resvr.jpg, <stem>.ht.jpg,
    <stem>.jpeg.jpg (bicubic + standard JPEG at matched bpp), the reference <stem>.png (a copy of
    the HR image as PNG) and bundle.yaml. Nothing is overwritten unless ``overwrite``; every file is
    checked for collisions before anything is written. ``progress(done, total, step)``, when given,
    is called before each step and once at the end (done == total); an exception it raises (e.g. a
    cancel) stops the encode between steps."""
    import shutil

    from .bundle import BUNDLE_YAML, bundle_file_name, write_bundle_yaml
    from .cli import encode_jpeg
    from .imageio import save_png

    hr_path, out_dir = Path(hr_path), Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"{out_dir}: exists and is not a folder (--method all writes a bundle folder)")
    stem = hr_path.name.split(".")[0]
    names = {m: bundle_file_name(stem, m) for m in registry.encode_ids()}
    planned = list(names.values()) + [BUNDLE_YAML] + ([f"{stem}.png"] if reference else [])
    clash = [n for n in planned if (out_dir / n).exists()]
    if clash and not overwrite:
        raise BadInput(f"{out_dir}: {', '.join(clash)} already exist; pass --overwrite to replace them")
    hr = load_image(hr_path)  # validates the input before any output
    weights = weights or {}
    encoders = {m: LearnedEncoder(m, weights.get(m), device) for m in registry.encode_ids()
                if registry.get(m).learned}  # weights first
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = list(encoders) + ["jpeg"] + (["reference"] if reference else []) + ["bundle.yaml"]
    total = len(steps)

    def step(what):
        if progress is not None:
            progress(steps.index(what) if what in steps else total, total, what)

    results = {}
    for m, enc in encoders.items():
        step(m)
        results[m] = enc.encode(hr_path, out_dir / names[m], bpp=bpp, overwrite=overwrite)
    step("jpeg")
    results["jpeg"] = encode_jpeg(hr_path, out_dir / names["jpeg"], scale=scale, bpp=bpp, overwrite=overwrite, warn=warn)
    ref = None
    if reference:
        step("reference")
        ref = f"{stem}.png"
        if hr_path.suffix.lower() == ".png":
            tmp = out_dir / (ref + ".tmp")
            shutil.copyfile(hr_path, tmp)
            tmp.replace(out_dir / ref)
        else:
            save_png(out_dir / ref, hr, overwrite=True)
    H, W = hr.shape[:2]
    step("bundle.yaml")
    write_bundle_yaml(out_dir, stem, (W, H), scale, {m: {"file": names[m], "bpp": r["bpp"]} for m, r in results.items()},
                      reference=ref, overwrite=True)
    step("done")
    return results
