"""Little-planet (stereographic) and fisheye back-mapping in core.geometry, against independent
formulas; the rectilinear path stays what it was; SSR follows the view's projection."""
import math

import numpy as np
import pytest
import torch

from resvr.core.geometry import (View, fov_for_aspect, lonlat_to_view, projection_radius, view_pixel_to_lonlat,
                                 view_rays, view_to_lonlat)
from resvr.core.shape import padded_lonlat, pixel_shape, pixel_shape_grid


def _np_dir(view, col, row):
    """An independent numpy model of the back-map: angle off axis from the radius, then rotate."""
    g = {"stereographic": lambda t: 2 * np.tan(t / 2), "fisheye": lambda t: t, "rectilinear": np.tan}[view.projection]
    ginv = {"stereographic": lambda r: 2 * np.arctan(r / 2), "fisheye": lambda r: r,
            "rectilinear": np.arctan}[view.projection]
    fx = view.width / 2 / g(math.radians(view.fov_h) / 2)
    fy = view.height / 2 / g(math.radians(view.fov_v) / 2)
    a = (col + 0.5 - view.width / 2) / fx
    b = -(row + 0.5 - view.height / 2) / fy
    rho = np.hypot(a, b)
    th = ginv(rho)
    az = np.arctan2(b, a)
    cam = np.stack([np.sin(th) * np.cos(az), np.sin(th) * np.sin(az), np.cos(th)], -1)
    p, y = math.radians(view.pitch), math.radians(view.yaw)
    # pitch about x (positive up), then yaw about y (positive right)
    rp = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    w = cam @ (ry @ rp).T
    return np.arctan2(w[..., 0], w[..., 2]), np.arcsin(np.clip(w[..., 1], -1, 1))


def _ang(lon1, lat1, lon2, lat2):
    c = np.sin(lat1) * np.sin(lat2) + np.cos(lat1) * np.cos(lat2) * np.cos(lon1 - lon2)
    return np.degrees(np.arccos(np.clip(c, -1, 1)))


@pytest.mark.parametrize("proj,fov", [("stereographic", (250.0, 200.0)), ("fisheye", (200.0, 160.0)),
                                      ("stereographic", (90.0, 70.0)), ("fisheye", (359.0, 300.0))])
def test_backmap_matches_independent_model(proj, fov):
    v = View(33.0, -71.0, fov[0], fov[1], 97, 61, proj)
    cc, rr = np.meshgrid(np.arange(97) - 0.3, np.arange(61) + 0.2)
    lon, lat = view_pixel_to_lonlat(v, torch.from_numpy(cc), torch.from_numpy(rr))
    lon2, lat2 = _np_dir(v, cc, rr)
    assert _ang(lon.numpy(), lat.numpy(), lon2, lat2).max() < 1e-5
    # the whole-viewport maps agree with the per-pixel map
    lo, la = view_to_lonlat(v, dtype=torch.float64)
    lo2, la2 = view_pixel_to_lonlat(v, *(torch.from_numpy(a).double() for a in
                                         np.meshgrid(np.arange(97.0), np.arange(61.0))))
    assert _ang(lo.numpy(), la.numpy(), lo2.numpy(), la2.numpy()).max() < 1e-5
    assert torch.allclose(view_rays(v, dtype=torch.float64).norm(dim=-1), torch.ones(61, 97, dtype=torch.float64))


@pytest.mark.parametrize("proj", ["stereographic", "fisheye"])
def test_edges_are_at_half_the_field_of_view(proj):
    v = View(0.0, 0.0, 240.0, 180.0, 200, 100, proj)
    # the left edge of the middle row (col -1/2) is fov_h/2 off axis; the top edge fov_v/2
    lon, lat = view_pixel_to_lonlat(v, torch.tensor([-0.5, 99.5], dtype=torch.float64),
                                    torch.tensor([49.5, -0.5], dtype=torch.float64))
    assert math.degrees(lon[0]) == pytest.approx(-120.0, abs=1e-9)
    assert math.degrees(lat[1]) == pytest.approx(90.0, abs=1e-6)  # 90 deg up from the centre: the zenith


def test_little_planet_puts_the_nadir_at_the_centre():
    v = View(0.0, -90.0, 300.0, 300.0, 101, 101, "stereographic")
    lon, lat = view_pixel_to_lonlat(v, torch.tensor([50.0]), torch.tensor([50.0]))
    assert math.degrees(lat[0]) == pytest.approx(-90.0, abs=1e-3)
    # the horizon (lat 0) is a circle of radius 2 fx tan(45 deg) = 2 fx around the centre
    lon = torch.linspace(-math.pi, math.pi, 37, dtype=torch.float64)[:-1]
    col, row, ok = lonlat_to_view(lon, torch.zeros_like(lon), v)
    r = torch.hypot(col - 50.0, row - 50.0)
    assert ok.all() and torch.allclose(r, torch.full_like(r, 2 * v.fx), atol=1e-9)


@pytest.mark.parametrize("proj", ["stereographic", "fisheye", "rectilinear"])
def test_forward_inverts_backward(proj):
    v = View(-150.0, 25.0, 150.0 if proj == "rectilinear" else 230.0, 120.0, 64, 48, proj)
    cc, rr = torch.meshgrid(torch.arange(64.0, dtype=torch.float64), torch.arange(48.0, dtype=torch.float64),
                            indexing="xy")
    lon, lat = view_pixel_to_lonlat(v, cc, rr)
    col, row, ok = lonlat_to_view(lon, lat, v)
    assert ok.all()
    assert torch.allclose(col, cc, atol=1e-7) and torch.allclose(row, rr, atol=1e-7)


def test_rectilinear_is_unchanged_and_default():
    v = View(12.0, 34.0, 100.0, 80.0, 40, 30)
    assert v.projection == "rectilinear" and "projection" not in v.as_dict()
    assert v.fx == (40 / 2) / math.tan(math.radians(100.0) / 2)
    # the same float32 arithmetic as before projections existed: bit-identical rays
    j, i = torch.arange(40.0), torch.arange(30.0)
    dx, dy = (j + 0.5 - 20.0) / v.fx, -(i + 0.5 - 15.0) / v.fy
    d = torch.stack(torch.broadcast_tensors(dx[None, :], dy[:, None], torch.ones(())), -1)
    from resvr.core.geometry import _rotation

    assert torch.equal(view_rays(v), d @ _rotation(v).T)
    with pytest.raises(ValueError):
        View(0, 0, 190.0, 90.0, 10, 10)
    with pytest.raises(ValueError):
        View(0, 0, 120.0, 90.0, 10, 10, "mercator")
    assert View(0, 0, 300.0, 200.0, 10, 10, "stereographic").resized(20, 20).projection == "stereographic"


@pytest.mark.parametrize("proj", ["rectilinear", "stereographic", "fisheye"])
def test_fov_for_aspect_gives_square_pixels(proj):
    fv = 70.0 if proj == "rectilinear" else 200.0
    fh = fov_for_aspect(fv, 1.6, proj)
    v = View(0, 0, fh, fv, 160, 100, proj)
    assert v.fx == pytest.approx(v.fy, rel=1e-12)
    assert projection_radius(math.radians(fh) / 2, proj) == pytest.approx(1.6 * projection_radius(math.radians(fv) / 2, proj))


def test_ssr_follows_the_projection():
    """SSR of a little-planet view is computed from its own back-map: it equals the sphere
    differences of the stereographic stencil, and differs from the rectilinear view's."""
    v = View(10.0, -80.0, 260.0, 200.0, 24, 18, "stereographic")
    s = pixel_shape_grid(v, 64)
    col, row = torch.meshgrid(torch.arange(24.0), torch.arange(18.0), indexing="xy")
    assert torch.allclose(s, pixel_shape(v, col, row, 64), atol=1e-5)
    lon, lat = padded_lonlat(v)
    # J_u's latitude term = lat(p6) - lat(p4), from the projection's back-map, in LR pixels
    lo2, la2 = _np_dir(v, *np.meshgrid(np.arange(-1.0, 25.0), np.arange(-1.0, 19.0)))
    ju_lat = (la2[1:-1, 2:] - la2[1:-1, :-2]) * 64 / math.pi
    assert np.allclose(s[..., 0].numpy(), ju_lat, atol=1e-4)
    rect = pixel_shape_grid(View(10.0, -80.0, 120.0, 100.0, 24, 18), 64)
    assert not torch.allclose(s, rect, atol=1e-2)
