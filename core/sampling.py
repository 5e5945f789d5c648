"""Wrap-aware sampling of an ERP image at (lon, lat).

One ``grid_sample`` over a band of rows that is padded circularly in longitude and reflected
across the poles with a 180 degree shift (the row above the top row is the top row seen from the
other side of the pole). So a view never meets a seam at +-180 degrees or a black border at a pole.
Only the rows a view touches are copied, so a 16384x8192 panorama costs one band, not a full
float copy, for views near the equator.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .geometry import erp_reflect, lonlat_to_erp

MODES = ("nearest", "bilinear", "bicubic")
_PAD = 3  # enough support for bicubic (2) plus one


def pole_band(erp: torch.Tensor, y0: int, y1: int, pad: int = _PAD) -> torch.Tensor:
    """Rows [y0, y1) of ``erp`` (..., H, W), reflected across the poles, plus ``pad`` columns of
    circular padding on each side: shape (..., y1-y0, W+2*pad)."""
    H, W = erp.shape[-2:]
    rows = torch.arange(y0, y1, device=erp.device)
    src, _ = erp_reflect(rows, rows, H, W)
    band = erp.index_select(-2, src)
    flip = (rows < 0) | (rows >= H)
    if bool(flip.any()):   # every reflected row takes the same shifted columns
        cols = erp_reflect(torch.full((W,), -1, device=erp.device), torch.arange(W, device=erp.device), H, W)[1]
        band = band.clone()
        band[..., flip, :] = band[..., flip, :].index_select(-1, cols)
    if pad:
        band = torch.cat((band[..., -pad:], band, band[..., :pad]), dim=-1)
    return band


def sample_erp(erp: torch.Tensor, lon: torch.Tensor, lat: torch.Tensor, mode: str = "bicubic") -> torch.Tensor:
    """Sample ``erp`` at (lon, lat).

    erp: (C, H, W) or (B, C, H, W), float or uint8 (uint8 is scaled to [0, 1]).
    lon, lat: (h, w) or (B, h, w) radians. Returns float (B, C, h, w) (or (C, h, w) for 3-D input),
    not clamped (bicubic may overshoot, like the reference implementation).
    """
    if mode not in MODES:
        raise ValueError(f"unknown sampling mode {mode!r}; choose one of {MODES}")
    squeeze = erp.dim() == 3
    if squeeze:
        erp = erp[None]
    B, C, H, W = erp.shape
    dtype = lon.dtype if lon.is_floating_point() else torch.float32
    x, y = lonlat_to_erp(lon.to(erp.device, dtype), lat.to(erp.device, dtype), H, W)
    if x.dim() == 2:
        x, y = x[None], y[None]
    if x.shape[0] != B:
        x, y = x.expand(B, *x.shape[1:]), y.expand(B, *y.shape[1:])
    y0 = int(math.floor(float(y.min()))) - _PAD
    y1 = int(math.ceil(float(y.max()))) + _PAD
    band = pole_band(erp, y0, y1)
    band = band.to(dtype) / 255.0 if not band.is_floating_point() else band.to(dtype)
    x = torch.remainder(x, W)
    gx = 2.0 * (x + _PAD) / (W + 2 * _PAD) - 1.0
    gy = 2.0 * (y - y0) / (y1 - y0) - 1.0
    out = F.grid_sample(band, torch.stack((gx, gy), -1), mode=mode, padding_mode="border", align_corners=False)
    return out[0] if squeeze else out


def render_view(erp: torch.Tensor, view, mode: str = "bicubic", chunk_rows: int | None = None) -> torch.Tensor:
    """Render a viewport (C, h, w) from an ERP (C, H, W) by sampling; rows in chunks if asked."""
    from .geometry import view_pixel_to_lonlat

    dev = erp.device
    rows = view.height if not chunk_rows else chunk_rows
    cols = torch.arange(view.width, device=dev, dtype=torch.float32)
    parts = []
    for r0 in range(0, view.height, rows):
        r = torch.arange(r0, min(view.height, r0 + rows), device=dev, dtype=torch.float32)
        cc, rr = torch.meshgrid(cols, r, indexing="xy")
        lon, lat = view_pixel_to_lonlat(view, cc, rr)
        parts.append(sample_erp(erp, lon, lat, mode))
    return torch.cat(parts, dim=-2)
