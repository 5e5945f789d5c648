"""Pixel shape representations s(x) (10 values per query pixel).

Both use the 9-point stencil of a viewport pixel y and its 8 neighbours one viewport pixel
away, numbered row by row (p1 p2 p3 / p4 p5 p6 / p7 p8 p9, p5 = y; p2 is above, p4 left),
back-mapped to the sphere with f^-1. With D(a, b) the difference "a - b":

    J_u = D(p6, p4)                    J_v = D(p2, p8)
    H_uu = D(p6, p5) - D(p5, p4)       H_vv = D(p2, p5) - D(p5, p8)
    H_uv = D(p3, p1) - D(p9, p7)

Element order of s: [J_u, J_v, H_uu, H_vv, H_uv], each a pair (vertical, horizontal):
    s = (Ju_lat, Ju_lon, Jv_lat, Jv_lon, Huu_lat, Huu_lon, Hvv_lat, Hvv_lon, Huv_lat, Huv_lon)
All values are in LR-ERP pixel units (radians x H_lr / pi; the ERP is 2:1, so one unit is the
same angle on both axes).

* ``ssr`` (ResVR, paper eqs. 6-7): D on the sphere, D(a, b) = (lat_a - lat_b,
  wrap(lon_a - lon_b) * cos((lat_a + lat_b) / 2)), where wrap takes the minor arc.
  Assumption: the paper writes |.| in eq. 7, which would drop the orientation that a Jacobian
  carries; we keep the sign and take the minor arc (same magnitudes as eq. 7). We read its
  Hessian sums "D(p6,p5) + D(p5,p4)" as second differences (a sum of two first differences
  would just repeat J_u) and the cos term as the mean *latitude* (as the issue states).
* ``2d`` (LTEW style, the ablation): D on the ERP plane in LR pixels, (y_a - y_b, x_a - x_b),
  no wrap and no cos: it jumps across the +-180 degree seam and stretches near the poles.
"""
from __future__ import annotations

import math

import torch

from .geometry import View, view_pixel_to_lonlat, wrap_lon

KINDS = ("ssr", "2d")
# (row offset, col offset) for p1..p9
_OFFS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0), (0, 1), (1, -1), (1, 0), (1, 1)]


def _diff_sphere(a, b):
    (lon_a, lat_a), (lon_b, lat_b) = a, b
    return torch.stack((lat_a - lat_b, wrap_lon(lon_a - lon_b) * torch.cos(0.5 * (lat_a + lat_b))), -1)


def _diff_plane(a, b):
    (lon_a, lat_a), (lon_b, lat_b) = a, b
    # ERP plane: x grows with lon, y grows downwards (-lat); no wrap
    return torch.stack((-(lat_a - lat_b), wrap_lon(lon_a) - wrap_lon(lon_b)), -1)


def pixel_shape(view: View, col: torch.Tensor, row: torch.Tensor, lr_height: int, kind: str = "ssr") -> torch.Tensor:
    """s(x) for viewport pixels (col, row) (any shape, continuous indices) -> (..., 10)."""
    if kind not in KINDS:
        raise ValueError(f"unknown shape kind {kind!r}; choose one of {KINDS}")
    col = col.to(torch.float64)
    row = row.to(torch.float64)
    p = [view_pixel_to_lonlat(view, col + dc, row + dr) for dr, dc in _OFFS]
    D = _diff_sphere if kind == "ssr" else _diff_plane
    p1, p2, p3, p4, p5, p6, p7, p8, p9 = p
    ju = D(p6, p4)
    jv = D(p2, p8)
    huu = D(p6, p5) - D(p5, p4)
    hvv = D(p2, p5) - D(p5, p8)
    huv = D(p3, p1) - D(p9, p7)
    s = torch.cat((ju, jv, huu, hvv, huv), -1) * (lr_height / math.pi)
    return s.to(torch.float32)


def pixel_shape_grid(view: View, lr_height: int, kind: str = "ssr", rows: tuple[int, int] | None = None,
                     device=None) -> torch.Tensor:
    """s(x) for every viewport pixel (rows r0..r1, all columns) -> (r1-r0, w, 10).

    Back-maps one grid padded by a pixel on each side (:func:`padded_lonlat`) and takes the 9
    stencil points as shifted slices of it (:func:`shape_from_lonlat`): one f^-1 evaluation per
    pixel instead of nine. Equals :func:`pixel_shape`.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown shape kind {kind!r}; choose one of {KINDS}")
    lon, lat = padded_lonlat(view, rows, device)
    return shape_from_lonlat(lon, lat, lr_height, kind)


def padded_lonlat(view: View, rows: tuple[int, int] | None = None, device=None):
    """(lon, lat) float64, each (r1-r0+2, w+2): viewport rows r0-1..r1 and columns -1..w. The
    inner part [1:-1, 1:-1] is the rows' own back-map, so a renderer takes its lookup
    coordinates and the pixel shapes from one evaluation of f^-1."""
    r0, r1 = rows or (0, view.height)
    c = torch.arange(-1, view.width + 1, dtype=torch.float64, device=device)
    r = torch.arange(r0 - 1, r1 + 1, dtype=torch.float64, device=device)
    cc, rr = torch.meshgrid(c, r, indexing="xy")
    return view_pixel_to_lonlat(view, cc, rr)


def shape_from_lonlat(lon: torch.Tensor, lat: torch.Tensor, lr_height: int, kind: str = "ssr") -> torch.Tensor:
    """s(x) from a padded back-mapped grid (h+2, w+2) (float64: the second differences cancel
    to 1e-6 rad and would be noise in float32) -> (h, w, 10) float32."""
    h, w = lon.shape[0] - 2, lon.shape[1] - 2

    def P(dr, dc):
        return lon[1 + dr:1 + dr + h, 1 + dc:1 + dc + w], lat[1 + dr:1 + dr + h, 1 + dc:1 + dc + w]

    p1, p2, p3, p4, p5, p6, p7, p8, p9 = (P(dr, dc) for dr, dc in _OFFS)
    D = _diff_sphere if kind == "ssr" else _diff_plane
    s = torch.cat((D(p6, p4), D(p2, p8), D(p6, p5) - D(p5, p4), D(p2, p5) - D(p5, p8), D(p3, p1) - D(p9, p7)), -1)
    return (s * (lr_height / math.pi)).to(torch.float32)
