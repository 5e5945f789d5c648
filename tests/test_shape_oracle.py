"""All ten values of the pixel shape s(x) (SSR and the 2-D ablation) against an independent numpy
finite-difference stencil, written here from the documented conventions only:

* f^-1 (core/geometry.py docstring, README): the camera ray of viewport pixel (col j, row i) is
  ((j+1/2-w/2)/fx, -(i+1/2-h/2)/fy, 1), rotated by pitch about x (positive looks up), then by yaw
  about y (positive looks right); lon = atan2(x, z), lat = asin(y/|d|).
* the stencil (core/shape.py docstring): the 8 neighbours one viewport pixel away, "up" is the row
  above, "left" the column to the left;
  J_u = D(right, left), J_v = D(up, down), H_uu = D(right, c) - D(c, left),
  H_vv = D(up, c) - D(c, down), H_uv = D(up-right, up-left) - D(down-right, down-left);
  s = (J_u, J_v, H_uu, H_vv, H_uv), each a (vertical, horizontal) pair, in LR pixels (x H_lr/pi).
* SSR: D(a, b) = (lat_a - lat_b, minor-arc(lon_a - lon_b) * cos((lat_a + lat_b)/2));
  2-D: D(a, b) on the ERP plane without wrap: (-(lat_a - lat_b), lon_a - lon_b), lon in [-pi, pi).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from resvr.core.geometry import View
from resvr.core.shape import pixel_shape, pixel_shape_grid

NAMES = ["Ju_lat", "Ju_lon", "Jv_lat", "Jv_lon", "Huu_lat", "Huu_lon", "Hvv_lat", "Hvv_lon", "Huv_lat", "Huv_lon"]

# (yaw, pitch, fov_h, fov_v, width, height): the +-180 seam through the view, a seam view looking
# up, a near-pole view (the pole inside the view), one straight at the pole, an ordinary one and a
# wide one looking down across the seam
VIEWS = [(180.0, 0.0, 100.0, 80.0, 33, 25), (-170.0, 35.0, 90.0, 70.0, 28, 22),
         (40.0, 84.0, 100.0, 90.0, 30, 26), (-75.0, -90.0, 80.0, 80.0, 24, 24),
         (23.0, -17.0, 120.0, 90.0, 32, 24), (175.0, -60.0, 140.0, 110.0, 30, 24)]


def np_lonlat(yaw, pitch, fov_h, fov_v, w, h, col, row):
    """f^-1 at continuous viewport indices (col, row), float64, from the convention alone."""
    fx = (w / 2) / math.tan(math.radians(fov_h) / 2)
    fy = (h / 2) / math.tan(math.radians(fov_v) / 2)
    d = np.stack([(col + 0.5 - w / 2) / fx, -(row + 0.5 - h / 2) / fy, np.ones_like(col)], -1)
    p, y = math.radians(pitch), math.radians(yaw)
    # pitch: the forward ray (0, 0, 1) tilts to (0, sin p, cos p); yaw: (0, 0, 1) turns to (sin y, 0, cos y)
    rx = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    d = d @ (ry @ rx).T
    return np.arctan2(d[..., 0], d[..., 2]), np.arcsin(d[..., 1] / np.linalg.norm(d, axis=-1))


def minor_arc(a):
    """An angle difference mapped to (-pi, pi]: the shorter way round."""
    return np.angle(np.exp(1j * a))


def d_sphere(a, b):
    (lon_a, lat_a), (lon_b, lat_b) = a, b
    return np.stack([lat_a - lat_b, minor_arc(lon_a - lon_b) * np.cos((lat_a + lat_b) / 2)], -1)


def d_plane(a, b):
    (lon_a, lat_a), (lon_b, lat_b) = a, b
    return np.stack([lat_b - lat_a, lon_a - lon_b], -1)  # y grows downwards; no wrap across the seam


def np_shape(view_args, col, row, lr_height, kind="ssr"):
    def at(dc, dr):
        return np_lonlat(*view_args, col + dc, row + dr)

    c = at(0, 0)
    up, down, left, right = at(0, -1), at(0, 1), at(-1, 0), at(1, 0)
    up_left, up_right, down_left, down_right = at(-1, -1), at(1, -1), at(-1, 1), at(1, 1)
    D = d_sphere if kind == "ssr" else d_plane
    s = np.concatenate([D(right, left), D(up, down), D(right, c) - D(c, left), D(up, c) - D(c, down),
                        D(up_right, up_left) - D(down_right, down_left)], -1)
    return s * lr_height / math.pi


def _assert_ten_close(got, want, atol, rtol=1e-4, where=""):
    assert got.shape == want.shape and got.shape[-1] == 10
    for k, name in enumerate(NAMES):
        np.testing.assert_allclose(got[..., k], want[..., k], atol=atol, rtol=rtol, err_msg=f"{name} {where}")


@pytest.mark.parametrize("va", VIEWS, ids=[f"y{v[0]:g}p{v[1]:g}" for v in VIEWS])
def test_ssr_grid_all_ten_values_equal_the_numpy_stencil(va):
    lr_h = 64
    w, h = va[4], va[5]
    col, row = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    want = np_shape(va, col, row, lr_h)
    got = pixel_shape_grid(View(*va), lr_h, "ssr").numpy().astype(np.float64)
    # second differences are ~1e-2 LR pixels here and matter: a tight absolute tolerance
    _assert_ten_close(got, want, atol=2e-5, where=str(va))
    # and the comparison is not trivial: every component is non-zero somewhere in the view, except
    # J_v and H_vv in longitude at pitch 0, where every viewport column is a meridian
    peak = np.abs(want).reshape(-1, 10).max(0)
    live = [k for k in range(10) if not (va[1] == 0.0 and k in (3, 7))]
    assert peak[live].min() > 1e-3, peak


@pytest.mark.parametrize("va", VIEWS[:3], ids=["seam", "seam-up", "pole"])
def test_ssr_pointwise_at_subpixel_positions_equals_the_numpy_stencil(va):
    rng = np.random.default_rng(1)
    w, h = va[4], va[5]
    col, row = rng.uniform(-0.5, w - 0.5, 60), rng.uniform(-0.5, h - 0.5, 60)
    want = np_shape(va, col, row, 128)
    got = pixel_shape(View(*va), torch.from_numpy(col), torch.from_numpy(row), 128, "ssr").numpy()
    _assert_ten_close(got.astype(np.float64), want, atol=4e-5, where=str(va))


def test_ssr_row_band_equals_the_stencil_rows():
    va = VIEWS[0]
    col, row = np.meshgrid(np.arange(va[4], dtype=np.float64), np.arange(7, 15, dtype=np.float64))
    got = pixel_shape_grid(View(*va), 32, "ssr", rows=(7, 15)).numpy().astype(np.float64)
    _assert_ten_close(got, np_shape(va, col, row, 32), atol=1e-5)


@pytest.mark.parametrize("va", [VIEWS[0], VIEWS[4]], ids=["seam", "plain"])
def test_2d_shape_all_ten_values_equal_the_numpy_plane_stencil(va):
    col, row = np.meshgrid(np.arange(va[4], dtype=np.float64), np.arange(va[5], dtype=np.float64))
    want = np_shape(va, col, row, 64, "2d")
    got = pixel_shape_grid(View(*va), 64, "2d").numpy().astype(np.float64)
    # where a stencil straddles the seam the horizontal differences jump by the ERP width (the
    # ablation's documented flaw); the exact jump depends on which side lon = +-pi lands, so the
    # comparison is on the columns whose stencil stays on one side
    lon = np.stack([np_lonlat(*va, col + dc, row + dr)[0] for dc in (-1, 0, 1) for dr in (-1, 0, 1)])
    one_side = (np.ptp(lon, axis=0) < math.pi) & (np.abs(lon).max(0) < math.pi - 1e-6)  # lon = pi is -pi too
    assert one_side.mean() > 0.8
    _assert_ten_close(got[one_side], want[one_side], atol=2e-5)
    if va[0] == 180.0:
        assert (~one_side).any() and np.abs(got[~one_side][:, [1, 3]]).max() > 64  # the jump is there


def test_ssr_is_the_geometry_not_just_the_formula():
    """Two consequences of the geometry that do not depend on the stencil code: a yaw turn leaves
    SSR unchanged (the sphere has no seam), and at the centre of a pitch-0 view the horizontal
    step spans 2*atan(1/fx) of longitude and the vertical one 2*atan(1/fy) of latitude, with
    the cross terms and the latitude Hessian zero by symmetry."""
    a = pixel_shape_grid(View(180.0, 30.0, 90.0, 70.0, 21, 17), 64).numpy()
    b = pixel_shape_grid(View(-33.0, 30.0, 90.0, 70.0, 21, 17), 64).numpy()
    np.testing.assert_allclose(a, b, atol=2e-5)
    v = View(10.0, 0.0, 90.0, 90.0, 21, 21)
    s = pixel_shape(v, torch.tensor([10.0]), torch.tensor([10.0]), 100)[0].numpy()
    k = 100 / math.pi
    assert s[1] == pytest.approx(2 * math.atan(1 / v.fx) * k, rel=1e-5)
    assert s[2] == pytest.approx(2 * math.atan(1 / v.fy) * k, rel=1e-5)
    np.testing.assert_allclose(s[[0, 3, 4, 5, 6, 7, 8, 9]], 0.0, atol=1e-5)
