"""Learned encoding: HR ERP -> LR JPEG with the codec of a learned method (ResVR, HyperThumbnail).

The downsampler runs once; the QPM tables are scaled by ``qscale`` and the real file size is
measured for each candidate, so ``--bpp`` is met by bisection on qscale (log scale, the shared
``rate.RateSearch``) within the tolerance where it is reachable. The file is a standard baseline
4:4:4 JPEG (jpeglib) with the predicted tables and GPano + project XMP.
"""
from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..device import pick_device
from ..errors import BadInput
from ..imageio import load_image, write_bytes_atomic
from ..jpeg.container import write_jpeg_dct
from ..models.weights import load_weights
from .encoders import register_encoder
from .rate import BPP_TOLERANCE, RateSearch

QSCALE_RANGE = (0.02, 50.0)


def to_multiple(hr: torch.Tensor, m: int, name: str = "image") -> torch.Tensor:
    """Resize (bicubic) so both sides are multiples of ``m``; a notice says so."""
    H, W = hr.shape[-2:]
    H2, W2 = max(m, int(round(H / m)) * m), max(m, int(round(W / m)) * m)
    if (H2, W2) == (H, W):
        return hr
    warnings.warn(f"{name}: {W}x{H} resized to {W2}x{H2} (the codec needs multiples of {m})")
    return F.interpolate(hr, size=(H2, W2), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


@register_encoder("resvr", "hyperthumbnail")
class LearnedEncoder:
    knob = "qscale"   # the rate knob besides bpp: the QPM table scale

    def __init__(self, method: str, weights=None, device="cpu"):
        self.method, self.device = method, pick_device(device)
        self.codec, self.info = load_weights(method, weights, self.device, part="codec")

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
        """-> (qscale, file bytes) closest to ``target`` bpp; bpp falls as qscale grows."""
        rs = RateSearch(lambda lq: self.file_bytes(maps, math.exp(lq), xmp), pixels)
        lo, hi = math.log(QSCALE_RANGE[0]), math.log(QSCALE_RANGE[1])   # bpp(lo) high, bpp(hi) low
        if rs.bpp(lo) <= target:
            return math.exp(lo), rs.at(lo)[0]
        if rs.bpp(hi) >= target:
            return math.exp(hi), rs.at(hi)[0]
        rs.bisect(lo, hi, target, steps, increasing=False, tol=BPP_TOLERANCE / 4)
        best, data, _ = rs.closest(target)
        return math.exp(best), data
