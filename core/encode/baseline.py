"""The 'jpeg' baseline codec: an antialiased bicubic downscale, then a standard JPEG (Pillow) at the
quality that meets the target bpp (``rate.RateSearch`` over the quality)."""
from __future__ import annotations

from pathlib import Path

from ..errors import BadInput
from .encoders import register_encoder
from .rate import BPP_TOLERANCE, RateSearch


def downscale_bicubic(hr, scale: int = 4, band_rows: int = 1024):
    """uint8 (H, W, 3) -> uint8 (round(H/scale), round(W/scale), 3).

    torch ``F.interpolate(mode='bicubic', antialias=True, align_corners=False)`` (the same
    antialiased bicubic filter as PIL's BICUBIC resize, a = -0.5 widened by the scale), in float32.
    When W is a multiple of ``scale`` the ERP is padded circularly in longitude first, so the filter
    wraps across +-180 degrees instead of clamping at the seam. Rows are processed in bands
    (``band_rows`` LR rows each, with a margin wider than the filter), so a 16384 x 8192 panorama
    never needs a full float copy; the result equals a single call.
    """
    import numpy as np
    import torch
    import torch.nn.functional as F

    H, W = hr.shape[:2]
    s = int(scale)
    h, w = max(1, round(H / s)), max(1, round(W / s))
    exact = H % s == 0 and W % s == 0
    if not exact:  # no band/wrap bookkeeping for odd sizes; one call
        t = torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1)[None].float()
        y = F.interpolate(t, size=(h, w), mode="bicubic", antialias=True, align_corners=False)
        return y[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    pad = 4 * s  # HR columns/rows of margin: the antialiased bicubic support is 2*s
    out = np.empty((h, w, 3), np.uint8)
    for r0 in range(0, h, band_rows):
        r1 = min(h, r0 + band_rows)
        y0, y1 = max(0, r0 * s - pad), min(H, r1 * s + pad)
        band = torch.from_numpy(np.ascontiguousarray(hr[y0:y1])).permute(2, 0, 1)[None].float()
        band = torch.cat((band[..., -pad:], band, band[..., :pad]), dim=-1)
        y = F.interpolate(band, size=((y1 - y0) // s, (W + 2 * pad) // s), mode="bicubic",
                          antialias=True, align_corners=False)
        top = (r0 * s - y0) // s
        y = y[0, :, top:top + (r1 - r0), pad // s: pad // s + w]
        out[r0:r1] = y.permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    return out


def choose_quality(encode, target_bpp: float, hr_pixels: int):
    """Bisection over integer JPEG quality 1..100 for the file size closest to ``target_bpp``.

    ``encode(q) -> bytes`` (the exact file content). Returns (quality, bytes, bpp). File size is
    (almost) monotone in quality; the search finds the largest quality at or under the target, then
    refines between it and its neighbour above with fractional qualities (IJG scaling, integer
    tables), and takes the closest file (ties: the higher quality).
    """
    rs = RateSearch(encode, hr_pixels)
    lo, hi = 1, 100
    if rs.bpp(lo) > target_bpp:
        hi = lo
    elif rs.bpp(hi) <= target_bpp:
        lo = hi
    else:   # invariant: bpp(lo) <= target < bpp(hi)
        lo, hi = rs.bisect(lo, hi, target_bpp, steps=100, mid=lambda a, b: (a + b) // 2)
    rs.bisect(float(lo), float(hi), target_bpp, steps=12 if hi > lo else 0,
              mid=lambda a, b: round(0.5 * (a + b), 4), tol=BPP_TOLERANCE / 4)
    return rs.closest(target_bpp, prefer=lambda q: -q)


def lr_jpeg(lr, xmp: dict, hr_pixels: int, bpp: float | None = 0.3, quality: int | None = None, name="image",
            warn=None):
    """A standard JPEG (``encode_jpeg_pixels``: Pillow, 4:4:4) of the uint8 LR image ``lr`` with
    ``xmp`` (+ its quality), at ``quality`` or at the quality whose file is closest to ``bpp``
    (:func:`choose_quality`; a warning through ``warn`` when off by more than the tolerance).
    Shared by the 'jpeg' baseline and DINN360. -> (quality, bytes, bpp)."""
    from ..jpeg.container import encode_jpeg_pixels

    def enc(q):
        return encode_jpeg_pixels(lr, q, dict(xmp, extra={"Quality": round(float(q), 4)}))

    if quality is not None:
        data = enc(quality)
        return int(quality), data, len(data) * 8.0 / hr_pixels
    q, data, got = choose_quality(enc, float(bpp), hr_pixels)
    if abs(got - bpp) > BPP_TOLERANCE and warn is not None:
        warn(f"{name}: {bpp:g} bpp is not reachable with JPEG quality 1..100; closest is {got:.4f} bpp at quality {q}")
    return q, data, got


def encode_jpeg(hr_path, out, scale: int = 4, bpp: float | None = 0.3, quality: int | None = None,
                overwrite: bool = False, warn=None) -> dict:
    """The 'jpeg' baseline: bicubic ``scale``x downscale, then standard JPEG 4:4:4 (Pillow) with the
    quality from ``quality`` or by bisection to hit ``bpp`` (file bytes * 8 / HR pixels, within
    +-0.01 where reachable, else the closest with a warning). XMP: GPano + method=jpeg, scale,
    HR size, quality. Returns a dict describing the result."""
    from ..imageio import load_image, write_bytes_atomic

    hr_path, out = Path(hr_path), Path(out)
    if out.exists() and not overwrite:
        raise BadInput(f"{out}: output exists; pass --overwrite to replace it")
    if out.is_dir():
        raise BadInput(f"{out}: is a folder; give an output file name")
    hr = load_image(hr_path)
    H, W = hr.shape[:2]
    if H < scale or W < scale:
        raise BadInput(f"{hr_path}: {W}x{H} is too small for {scale}x downscaling")
    lr = downscale_bicubic(hr, scale)
    xmp = dict(width=lr.shape[1], height=lr.shape[0], method="jpeg", scale=scale, hr_width=W, hr_height=H)
    q, data, got = lr_jpeg(lr, xmp, W * H, bpp, quality, hr_path, warn)
    write_bytes_atomic(out, data, overwrite)
    return {"path": str(out), "method": "jpeg", "quality": q, "bpp": got, "bytes": len(data),
            "lr_size": (lr.shape[1], lr.shape[0]), "hr_size": (W, H)}


@register_encoder("jpeg")
class BaselineEncoder:
    """:func:`encode_jpeg` behind the encoders' interface (no weights, no device)."""

    knob = "quality"

    def __init__(self, method: str = "jpeg", weights=None, device=None, scale: int = 4, warn=None):
        self.method, self.scale, self.warn = method, scale, warn

    def encode(self, hr_path, out, bpp: float | None = 0.3, quality: int | None = None, overwrite: bool = False) -> dict:
        return encode_jpeg(hr_path, out, scale=self.scale, bpp=bpp, quality=quality, overwrite=overwrite, warn=self.warn)
