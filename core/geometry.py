"""ERP <-> sphere <-> viewport mapping (torch, batched, any device, float32/float64).

Convention (DESIGN.md, everything follows it):

* ERP of H x W: the pixel centre (u+1/2, v+1/2) maps to
  lon = ((u+1/2)/W - 1/2) * 2pi and lat = (1/2 - (v+1/2)/H) * pi.
  Continuous ERP coordinates ``x, y`` below put pixel centres at ``u+1/2, v+1/2``.
* A view is (yaw, pitch, fov_h, fov_v, width, height), degrees and pixels, no roll.
  fx = (w/2)/tan(fov_h/2), fy = (h/2)/tan(fov_v/2).
* Viewport pixel (col j, row i) has the camera ray d = ((j+1/2-w/2)/fx, -(i+1/2-h/2)/fy, 1),
  rotated by pitch about x (positive looks up), then by yaw about y (positive looks right);
  lon = atan2(d_x, d_z), lat = asin(d_y/|d|).

Viewport pixel coordinates here are *continuous pixel indices*: col = j means the centre of
column j. ``view_to_lonlat`` is the backward map f^-1, ``lonlat_to_view`` the forward map f.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "View",
    "erp_to_lonlat",
    "lonlat_to_erp",
    "erp_reflect",
    "lonlat_to_vec",
    "vec_to_lonlat",
    "view_rays",
    "view_pixel_to_lonlat",
    "view_to_lonlat",
    "lonlat_to_view",
    "wrap_lon",
]


@dataclass(frozen=True)
class View:
    """A perspective viewport: angles in degrees, size in pixels."""

    yaw: float = 0.0
    pitch: float = 0.0
    fov_h: float = 120.0
    fov_v: float = 90.0
    width: int = 1024
    height: int = 768

    def __post_init__(self):
        if not (0.0 < self.fov_h < 180.0 and 0.0 < self.fov_v < 180.0):
            raise ValueError(f"field of view must lie in (0, 180) degrees, got {self.fov_h}x{self.fov_v}")
        if int(self.width) < 1 or int(self.height) < 1:
            raise ValueError(f"viewport size must be positive, got {self.width}x{self.height}")

    @property
    def fx(self) -> float:
        return (self.width / 2.0) / math.tan(math.radians(self.fov_h) / 2.0)

    @property
    def fy(self) -> float:
        return (self.height / 2.0) / math.tan(math.radians(self.fov_v) / 2.0)

    def resized(self, width: int, height: int) -> "View":
        return View(self.yaw, self.pitch, self.fov_h, self.fov_v, int(width), int(height))

    def as_dict(self) -> dict:
        return {"yaw": self.yaw, "pitch": self.pitch, "fov_h": self.fov_h, "fov_v": self.fov_v,
                "width": int(self.width), "height": int(self.height)}


def wrap_lon(lon: torch.Tensor) -> torch.Tensor:
    """Wrap longitude to [-pi, pi)."""
    return torch.remainder(lon + math.pi, 2 * math.pi) - math.pi


def erp_to_lonlat(x: torch.Tensor, y: torch.Tensor, H: int, W: int):
    """Continuous ERP coordinates (pixel centres at +1/2) -> (lon, lat) in radians."""
    lon = (x / W - 0.5) * (2 * math.pi)
    lat = (0.5 - y / H) * math.pi
    return lon, lat


def lonlat_to_erp(lon: torch.Tensor, lat: torch.Tensor, H: int, W: int):
    """(lon, lat) -> continuous ERP coordinates (x in [0, W) after wrapping, y in [0, H])."""
    x = (wrap_lon(lon) / (2 * math.pi) + 0.5) * W
    y = (0.5 - lat / math.pi) * H
    return x, y


def erp_reflect(iy: torch.Tensor, ix: torch.Tensor, H: int, W: int):
    """Integer ERP pixel indices that may lie beyond the image -> the pixel they show (the one
    pole-reflection rule of the project): a row above the top (below the bottom) is that row seen
    from the other side of the pole, i.e. row ``-1 - iy`` (``2H - 1 - iy``) shifted by ``W // 2``
    columns; columns wrap across +-180 degrees. ``iy`` and ``ix`` broadcast. Used by
    ``sampling.pole_band``, ``models.vr.neighbours`` and ``models.vr_render``; the fused C kernel
    (``models/vr_kernel.c``) carries the same rule in C, and tests/test_fused.py checks they agree."""
    top, bot = iy < 0, iy >= H
    src = torch.where(top, -1 - iy, torch.where(bot, 2 * H - 1 - iy, iy))
    return src, torch.remainder(torch.where(top | bot, ix + W // 2, ix), W)


def lonlat_to_vec(lon: torch.Tensor, lat: torch.Tensor) -> torch.Tensor:
    """Unit vectors (..., 3): x east at lon 90, y up, z forward at lon 0."""
    c = torch.cos(lat)
    return torch.stack((c * torch.sin(lon), torch.sin(lat), c * torch.cos(lon)), dim=-1)


def vec_to_lonlat(d: torch.Tensor):
    """Vectors (..., 3), any length -> (lon, lat)."""
    n = torch.linalg.vector_norm(d, dim=-1).clamp_min(1e-30)
    lon = torch.atan2(d[..., 0], d[..., 2])
    lat = torch.asin((d[..., 1] / n).clamp(-1.0, 1.0))
    return lon, lat


def _rotation(view: View, device=None, dtype=torch.float32) -> torch.Tensor:
    """R = R_yaw @ R_pitch, mapping camera rays to world rays (column vectors)."""
    p, y = math.radians(view.pitch), math.radians(view.yaw)
    cp, sp, cy, sy = math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    r_pitch = torch.tensor([[1, 0, 0], [0, cp, sp], [0, -sp, cp]], dtype=torch.float64)
    r_yaw = torch.tensor([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], dtype=torch.float64)
    return (r_yaw @ r_pitch).to(device=device, dtype=dtype)


def view_pixel_to_lonlat(view: View, col: torch.Tensor, row: torch.Tensor):
    """Backward map f^-1 for arbitrary continuous viewport pixel indices (any shape)."""
    dtype = col.dtype if col.is_floating_point() else torch.float32
    col = col.to(dtype)
    row = row.to(dtype)
    dx = (col + 0.5 - view.width / 2.0) / view.fx
    dy = -(row + 0.5 - view.height / 2.0) / view.fy
    d = torch.stack((dx, dy, torch.ones_like(dx)), dim=-1)
    R = _rotation(view, col.device, dtype)
    return vec_to_lonlat(d @ R.T)


def view_rays(view: View, device=None, dtype=torch.float32) -> torch.Tensor:
    """World-space rays (h, w, 3), not normalised, for every viewport pixel centre."""
    j = torch.arange(view.width, device=device, dtype=dtype)
    i = torch.arange(view.height, device=device, dtype=dtype)
    dx = (j + 0.5 - view.width / 2.0) / view.fx
    dy = -(i + 0.5 - view.height / 2.0) / view.fy
    d = torch.stack(torch.broadcast_tensors(dx[None, :], dy[:, None], torch.ones((), device=device, dtype=dtype)), -1)
    return d @ _rotation(view, device, dtype).T


def view_to_lonlat(view: View, device=None, dtype=torch.float32):
    """Backward map f^-1 over the whole viewport: (lon, lat), each (h, w)."""
    return vec_to_lonlat(view_rays(view, device, dtype))


def lonlat_to_view(lon: torch.Tensor, lat: torch.Tensor, view: View):
    """Forward map f: (lon, lat) -> continuous viewport (col, row) and a validity mask.

    Valid means in front of the camera and inside the viewport's pixel area.
    """
    d = lonlat_to_vec(lon, lat)
    c = d @ _rotation(view, lon.device, lon.dtype)  # R^T d, camera coordinates
    z = c[..., 2]
    front = z > 1e-9
    zs = torch.where(front, z, torch.ones_like(z))
    col = c[..., 0] / zs * view.fx + view.width / 2.0 - 0.5
    row = -c[..., 1] / zs * view.fy + view.height / 2.0 - 0.5
    inside = (col >= -0.5) & (col < view.width - 0.5) & (row >= -0.5) & (row < view.height - 0.5)
    return col, row, front & inside
