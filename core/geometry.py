"""ERP <-> sphere <-> viewport mapping (torch, batched, any device, float32/float64).

Convention (docs/design.md, everything follows it):

* ERP of H x W: the pixel centre (u+1/2, v+1/2) maps to
  lon = ((u+1/2)/W - 1/2) * 2pi and lat = (1/2 - (v+1/2)/H) * pi.
  Continuous ERP coordinates ``x, y`` below put pixel centres at ``u+1/2, v+1/2``.
* A view is (yaw, pitch, fov_h, fov_v, width, height), degrees and pixels, no roll.
  fx = (w/2)/tan(fov_h/2), fy = (h/2)/tan(fov_v/2).
* Viewport pixel (col j, row i) has the camera ray d = ((j+1/2-w/2)/fx, -(i+1/2-h/2)/fy, 1),
  rotated by pitch about x (positive looks up), then by yaw about y (positive looks right);
  lon = atan2(d_x, d_z), lat = asin(d_y/|d|).

* Projections (``View.projection``): ``rectilinear`` (above, the default), ``stereographic``
  (little planet when looking down) and ``fisheye`` (equidistant). A pixel's normalised offset
  (a, b) = ((j+1/2-w/2)/fx, -(i+1/2-h/2)/fy), rho = |(a, b)|, is at the angle theta from the
  optical axis with rho = g(theta): tan(theta) (rectilinear), 2 tan(theta/2) (stereographic),
  theta (fisheye); the camera ray is (sin(theta) a/rho, sin(theta) b/rho, cos(theta)), rotated
  as above. fx = (w/2)/g(fov_h/2), fy = (h/2)/g(fov_v/2). The rectilinear path is the formula
  above, unchanged.

Viewport pixel coordinates here are *continuous pixel indices*: col = j means the centre of
column j. ``view_to_lonlat`` is the backward map f^-1, ``lonlat_to_view`` the forward map f.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "PROJECTIONS",
    "View",
    "fov_for_aspect",
    "projection_radius",
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


PROJECTIONS = ("rectilinear", "stereographic", "fisheye")
#: the largest full field of view (degrees, exclusive) each projection can show
FOV_LIMIT = {"rectilinear": 180.0, "stereographic": 360.0, "fisheye": 360.0}


def projection_radius(theta, projection: str = "rectilinear"):
    """g(theta): the normalised image radius of a ray at ``theta`` radians off the optical axis."""
    if projection == "rectilinear":
        return math.tan(theta)
    if projection == "stereographic":
        return 2.0 * math.tan(theta / 2.0)
    if projection == "fisheye":
        return float(theta)
    raise ValueError(f"unknown projection {projection!r}; choose one of {', '.join(PROJECTIONS)}")


def _projection_angle(rho, projection: str):
    """g^-1(rho) for a float or a tensor."""
    if projection == "rectilinear":
        return torch.atan(rho) if torch.is_tensor(rho) else math.atan(rho)
    if projection == "stereographic":
        return 2.0 * (torch.atan(rho / 2.0) if torch.is_tensor(rho) else math.atan(rho / 2.0))
    return rho


def fov_for_aspect(fov_v: float, aspect: float, projection: str = "rectilinear") -> float:
    """The horizontal field of view (degrees) that gives square pixels for ``fov_v`` at ``aspect`` = w/h."""
    g = projection_radius(math.radians(fov_v) / 2.0, projection) * aspect
    return math.degrees(2.0 * _projection_angle(g, projection))


@dataclass(frozen=True)
class View:
    """A viewport: angles in degrees, size in pixels, projection (rectilinear by default)."""

    yaw: float = 0.0
    pitch: float = 0.0
    fov_h: float = 120.0
    fov_v: float = 90.0
    width: int = 1024
    height: int = 768
    projection: str = "rectilinear"

    def __post_init__(self):
        if self.projection not in PROJECTIONS:
            raise ValueError(f"unknown projection {self.projection!r}; choose one of {', '.join(PROJECTIONS)}")
        if self.projection != "rectilinear":
            lim = FOV_LIMIT[self.projection]
            if not (0.0 < self.fov_h < lim and 0.0 < self.fov_v < lim):
                raise ValueError(f"field of view must lie in (0, {lim:.0f}) degrees for {self.projection}, "
                                 f"got {self.fov_h}x{self.fov_v}")
        elif not (0.0 < self.fov_h < 180.0 and 0.0 < self.fov_v < 180.0):
            raise ValueError(f"field of view must lie in (0, 180) degrees, got {self.fov_h}x{self.fov_v}")
        if int(self.width) < 1 or int(self.height) < 1:
            raise ValueError(f"viewport size must be positive, got {self.width}x{self.height}")

    @property
    def fx(self) -> float:
        if self.projection != "rectilinear":
            return (self.width / 2.0) / projection_radius(math.radians(self.fov_h) / 2.0, self.projection)
        return (self.width / 2.0) / math.tan(math.radians(self.fov_h) / 2.0)

    @property
    def fy(self) -> float:
        if self.projection != "rectilinear":
            return (self.height / 2.0) / projection_radius(math.radians(self.fov_v) / 2.0, self.projection)
        return (self.height / 2.0) / math.tan(math.radians(self.fov_v) / 2.0)

    def resized(self, width: int, height: int) -> "View":
        return View(self.yaw, self.pitch, self.fov_h, self.fov_v, int(width), int(height), self.projection)

    def as_dict(self) -> dict:
        d = {"yaw": self.yaw, "pitch": self.pitch, "fov_h": self.fov_h, "fov_v": self.fov_v,
             "width": int(self.width), "height": int(self.height)}
        if self.projection != "rectilinear":
            d["projection"] = self.projection
        return d


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
    if view.projection != "rectilinear":
        d = _curved_rays(dx, dy, view.projection)
    else:
        d = torch.stack((dx, dy, torch.ones_like(dx)), dim=-1)
    R = _rotation(view, col.device, dtype)
    return vec_to_lonlat(d @ R.T)


def view_rays(view: View, device=None, dtype=torch.float32) -> torch.Tensor:
    """World-space rays (h, w, 3), not normalised, for every viewport pixel centre."""
    j = torch.arange(view.width, device=device, dtype=dtype)
    i = torch.arange(view.height, device=device, dtype=dtype)
    dx = (j + 0.5 - view.width / 2.0) / view.fx
    dy = -(i + 0.5 - view.height / 2.0) / view.fy
    if view.projection != "rectilinear":
        d = _curved_rays(*torch.broadcast_tensors(dx[None, :], dy[:, None]), view.projection)
        return d @ _rotation(view, device, dtype).T
    d = torch.stack(torch.broadcast_tensors(dx[None, :], dy[:, None], torch.ones((), device=device, dtype=dtype)), -1)
    return d @ _rotation(view, device, dtype).T


def _curved_rays(a: torch.Tensor, b: torch.Tensor, projection: str) -> torch.Tensor:
    """Unit camera rays (..., 3) of normalised offsets (a, b) under a non-rectilinear projection."""
    rho = torch.sqrt(a * a + b * b)
    theta = _projection_angle(rho, projection)
    # sin(theta)/rho -> 1 as rho -> 0 (g'(0) = 1 for both projections)
    k = torch.where(rho > 1e-12, torch.sin(theta) / torch.where(rho > 1e-12, rho, torch.ones_like(rho)),
                    torch.ones_like(rho))
    return torch.stack((a * k, b * k, torch.cos(theta)), dim=-1)


def view_to_lonlat(view: View, device=None, dtype=torch.float32):
    """Backward map f^-1 over the whole viewport: (lon, lat), each (h, w)."""
    return vec_to_lonlat(view_rays(view, device, dtype))


def lonlat_to_view(lon: torch.Tensor, lat: torch.Tensor, view: View):
    """Forward map f: (lon, lat) -> continuous viewport (col, row) and a validity mask.

    Valid means in front of the camera and inside the viewport's pixel area.
    """
    d = lonlat_to_vec(lon, lat)
    c = d @ _rotation(view, lon.device, lon.dtype)  # R^T d, camera coordinates
    if view.projection != "rectilinear":
        return _curved_forward(c, view)
    z = c[..., 2]
    front = z > 1e-9
    zs = torch.where(front, z, torch.ones_like(z))
    col = c[..., 0] / zs * view.fx + view.width / 2.0 - 0.5
    row = -c[..., 1] / zs * view.fy + view.height / 2.0 - 0.5
    inside = (col >= -0.5) & (col < view.width - 0.5) & (row >= -0.5) & (row < view.height - 0.5)
    return col, row, front & inside


def _curved_forward(c: torch.Tensor, view: View):
    """Forward map of camera-space unit vectors under a non-rectilinear projection."""
    x, y, z = c[..., 0], c[..., 1], c[..., 2]
    s = torch.sqrt(x * x + y * y)
    theta = torch.atan2(s, z)
    if view.projection == "stereographic":
        rho = 2.0 * torch.tan(theta / 2.0)
        ok = theta < math.pi - 1e-6          # the antipode of the view centre maps to infinity
    else:
        rho = theta
        ok = torch.ones_like(theta, dtype=torch.bool)
    k = torch.where(s > 1e-12, rho / torch.where(s > 1e-12, s, torch.ones_like(s)), torch.ones_like(s))
    col = x * k * view.fx + view.width / 2.0 - 0.5
    row = -y * k * view.fy + view.height / 2.0 - 0.5
    inside = (col >= -0.5) & (col < view.width - 0.5) & (row >= -0.5) & (row < view.height - 0.5)
    return col, row, ok & inside
