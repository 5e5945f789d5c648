"""Discrete pixel sampling (ResVR Algorithm 1).

For a p x p crop of the HR ERP at (a, b) (column a wraps, row b), pick a view centred on the
crop centre's direction with FoVs from FOVS and a resolution from RESOLUTIONS, back-map the
viewport pixels, keep those that land inside the crop (eq. 3), keep at most N of them at random,
and normalise them to the crop's [-1, 1) space (eq. 4). The ground truth S_pix is the bicubic
sample of the HR image at those points (taken from the full ERP, so a crop-border point sees the
same neighbours the reference viewport sees); the guidance LR patch is the bicubic 4x downscale.

Only the part of the viewport that can reach the crop is back-mapped: the crop border is
forward-mapped into the viewport and its bounding box (plus a margin) is what gets tested.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from ..geometry import View, _rotation, erp_to_lonlat, lonlat_to_erp, lonlat_to_vec, lonlat_to_view, view_pixel_to_lonlat
from ..sampling import sample_erp
from ..shape import pixel_shape
from .data import crop_wrap

FOVS = (80, 90, 100, 110, 120)
RESOLUTIONS = (512, 576, 640, 768, 832, 960, 1024)


@dataclass
class DPSSample:
    patch: torch.Tensor     # (3, p, p) uint8 HR crop
    coords: torch.Tensor    # (n, 2) (x, y) in the crop's [-1, 1) space
    gt: torch.Tensor        # (n, 3) float32 bicubic samples of the HR ERP
    shape: torch.Tensor     # (n, 10) pixel shape
    view: View
    pixels: torch.Tensor    # (n, 2) viewport (col, row) of each sample


def _bbox(view: View, erp_h: int, erp_w: int, a: int, b: int, p: int, margin: int = 2):
    t = torch.linspace(0, p, 33, dtype=torch.float64)
    xs = torch.cat((a + t, a + t, torch.full_like(t, a), torch.full_like(t, a + p)))
    ys = torch.cat((torch.full_like(t, b), torch.full_like(t, b + p), b + t, b + t))
    lon, lat = erp_to_lonlat(xs, ys, erp_h, erp_w)
    col, row, _ = lonlat_to_view(lon, lat, view)
    z = (lonlat_to_vec(lon, lat) @ _rotation(view, dtype=torch.float64))[..., 2]
    if bool((z <= 1e-6).any()):
        return 0, view.width, 0, view.height
    c0 = max(0, int(math.floor(float(col.min()))) - margin)
    c1 = min(view.width, int(math.ceil(float(col.max()))) + margin + 1)
    r0 = max(0, int(math.floor(float(row.min()))) - margin)
    r1 = min(view.height, int(math.ceil(float(row.max()))) + margin + 1)
    return c0, c1, r0, r1


def dps_sample(erp: torch.Tensor, a: int, b: int, p: int, n_max: int, rng: random.Random,
               scale: int = 4, shape_kind: str = "ssr", view: View | None = None) -> DPSSample:
    """One DPS sample from a uint8 ERP (3, H, W)."""
    H, W = erp.shape[-2:]
    if view is None:
        lon_c, lat_c = erp_to_lonlat(torch.tensor(a + p / 2.0), torch.tensor(b + p / 2.0), H, W)
        view = View(math.degrees(float(lon_c)), math.degrees(float(lat_c)), rng.choice(FOVS), rng.choice(FOVS),
                    rng.choice(RESOLUTIONS), rng.choice(RESOLUTIONS))
    c0, c1, r0, r1 = _bbox(view, H, W, a, b, p)
    cc, rr = torch.meshgrid(torch.arange(c0, c1, dtype=torch.float64), torch.arange(r0, r1, dtype=torch.float64),
                            indexing="xy")
    cc, rr = cc.flatten(), rr.flatten()
    lon, lat = view_pixel_to_lonlat(view, cc, rr)
    x, y = lonlat_to_erp(lon, lat, H, W)
    dx = torch.remainder(x - a, W)
    keep = (dx < p) & (y >= b) & (y < b + p)                                      # eq. (3)
    idx = torch.nonzero(keep).flatten()
    if idx.numel() > n_max:
        g = torch.Generator().manual_seed(rng.getrandbits(62))
        idx = idx[torch.randperm(idx.numel(), generator=g)[:n_max]]
    coords = torch.stack((2.0 * dx[idx] / p - 1.0, 2.0 * (y[idx] - b) / p - 1.0), -1)   # eq. (4)
    gt = sample_erp(erp, lon[idx][None], lat[idx][None], mode="bicubic")[:, 0].T           # (n, 3)
    shape = pixel_shape(view, cc[idx], rr[idx], H // scale, shape_kind)
    return DPSSample(crop_wrap(erp, a, b, p), coords.float(), gt.float(), shape, view,
                     torch.stack((cc[idx], rr[idx]), -1).float())


def collate(samples: list[DPSSample], n_max: int):
    """Stack samples, padding each to n_max points (mask marks the real ones)."""
    B = len(samples)
    coords = torch.zeros(B, n_max, 2)
    gt = torch.zeros(B, n_max, 3)
    shape = torch.zeros(B, n_max, 10)
    mask = torch.zeros(B, n_max, dtype=torch.bool)
    for i, s in enumerate(samples):
        n = s.coords.shape[0]
        coords[i, :n], gt[i, :n], shape[i, :n], mask[i, :n] = s.coords, s.gt, s.shape, True
    patches = torch.stack([s.patch for s in samples]).float() / 255.0
    return {"hr": patches, "coords": coords, "gt": gt, "shape": shape, "mask": mask}
