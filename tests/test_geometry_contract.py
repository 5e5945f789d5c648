"""The documented edges of core/geometry.py (found by mutation testing, docs/testing.md): the ERP
pixel-centre formulas and their ranges, the forward map's validity mask at the pixel-area borders
and behind the camera, rays of any length, and View's defaults and argument checks."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from resvr.core.geometry import (View, erp_to_lonlat, lonlat_to_erp, lonlat_to_view, vec_to_lonlat,
                                 view_pixel_to_lonlat)
from tests.test_geometry import np_rays_lonlat


def test_erp_pixel_centres_follow_the_convention():
    H, W = 6, 12
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    lon, lat = erp_to_lonlat(torch.from_numpy(u + 0.5), torch.from_numpy(v + 0.5), H, W)
    np.testing.assert_allclose(lon.numpy(), ((u + 0.5) / W - 0.5) * 2 * math.pi, atol=1e-12)
    np.testing.assert_allclose(lat.numpy(), (0.5 - (v + 0.5) / H) * math.pi, atol=1e-12)
    assert float(lon.min()) > -math.pi and float(lon.max()) < math.pi
    # and back, for any longitude: x in [0, W), the same pixel centres
    x, y = lonlat_to_erp(lon, lat, H, W)
    np.testing.assert_allclose(x.numpy(), u + 0.5, atol=1e-9)
    np.testing.assert_allclose(y.numpy(), v + 0.5, atol=1e-9)
    turns = torch.linspace(-7.0, 7.0, 141, dtype=torch.float64)            # several turns each way
    x, _ = lonlat_to_erp(turns, torch.zeros_like(turns), H, W)
    assert float(x.min()) >= 0.0 and float(x.max()) < W
    np.testing.assert_allclose(x.numpy(), np.mod(turns.numpy() / (2 * math.pi) + 0.5, 1.0) * W, atol=1e-9)
    x, y = lonlat_to_erp(torch.tensor([0.0, -math.pi]), torch.tensor([math.pi / 2, -math.pi / 2]), H, W)
    assert x.tolist() == pytest.approx([W / 2, 0.0]) and y.tolist() == pytest.approx([0.0, H])


def _border_points(view, eps=1e-6):
    """Sphere points seen just inside and just outside each edge of the pixel area (exactly on an
    edge the round trip through the sphere decides by 1e-13 either way)."""
    w, h = view.width, view.height
    mid_c, mid_r = (w - 1) / 2, (h - 1) / 2
    pts = {"left": (-0.5, mid_r), "right": (w - 0.5, mid_r), "top": (mid_c, -0.5), "bottom": (mid_c, h - 0.5)}
    inward = {"left": (1, 0), "right": (-1, 0), "top": (0, 1), "bottom": (0, -1)}
    out = []
    for k, (c, r) in pts.items():
        dc, dr = inward[k]
        for name, s in (("in", eps), ("out", -eps)):
            out.append((k, name, c + s * dc, r + s * dr))
    return out


@pytest.mark.parametrize("yaw,pitch", [(0.0, 0.0), (150.0, -40.0), (-90.0, 75.0)])
def test_validity_mask_is_the_pixel_area(yaw, pitch):
    """Valid means inside [-1/2, w - 1/2) x [-1/2, h - 1/2), and a point outside on one axis is
    invalid whatever the other."""
    v = View(yaw, pitch, 100.0, 70.0, 20, 14)
    pts = _border_points(v)
    c = torch.tensor([p[2] for p in pts], dtype=torch.float64)
    r = torch.tensor([p[3] for p in pts], dtype=torch.float64)
    lon, lat = view_pixel_to_lonlat(v, c, r)
    _, _, ok = lonlat_to_view(lon, lat, v)
    for (edge, where, _, _), valid in zip(pts, ok.tolist()):
        assert valid == (where == "in"), (edge, where)
    # outside on one axis only (the corners' neighbours)
    c = torch.tensor([-0.6, 19.6, 5.0, 5.0], dtype=torch.float64)
    r = torch.tensor([5.0, 5.0, -0.6, 13.6], dtype=torch.float64)
    assert not lonlat_to_view(*view_pixel_to_lonlat(v, c, r), v)[2].any()


def test_points_behind_the_camera_are_never_valid():
    """The antipode of every pixel's ray projects (by the pinhole formula) onto that same pixel; it
    must be refused, and so must points 90 degrees off the axis."""
    v = View(40.0, 20.0, 120.0, 90.0, 16, 12)
    lon, lat = np_rays_lonlat(40.0, 20.0, 120.0, 90.0, 16, 12)
    d = np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], -1)
    back = -d
    blon = torch.from_numpy(np.arctan2(back[..., 0], back[..., 2]))
    blat = torch.from_numpy(np.arcsin(back[..., 1]))
    assert not lonlat_to_view(blon, blat, v)[2].any()
    # on the plane through the camera perpendicular to its axis (z = 0 in camera space)
    yaw, pitch = math.radians(40.0), math.radians(20.0)
    axis = np.array([math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)])
    side = np.cross(axis, [0.0, 1.0, 0.0])
    side /= np.linalg.norm(side)
    s_lon = torch.tensor([math.atan2(side[0], side[2])], dtype=torch.float64)
    s_lat = torch.tensor([math.asin(side[1])], dtype=torch.float64)
    assert not lonlat_to_view(s_lon, s_lat, v)[2].any()


@pytest.mark.parametrize("scale", [1e-6, 0.01, 1.0, 250.0])
def test_rays_of_any_length(scale):
    rng = np.random.default_rng(3)
    d = rng.normal(size=(50, 3))
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    lon, lat = vec_to_lonlat(torch.from_numpy(d * scale))
    np.testing.assert_allclose(lon.numpy(), np.arctan2(d[:, 0], d[:, 2]), atol=1e-9)
    np.testing.assert_allclose(lat.numpy(), np.arcsin(d[:, 1]), atol=1e-7)
    lon, lat = vec_to_lonlat(torch.zeros(2, 3))            # a zero ray: defined, not NaN
    assert torch.isfinite(lon).all() and torch.isfinite(lat).all()


def test_view_defaults_are_the_papers_evaluation_viewport():
    v = View()
    assert (v.yaw, v.pitch, v.fov_h, v.fov_v, v.width, v.height) == (0.0, 0.0, 120.0, 90.0, 1024, 768)
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.yaw = 10.0


@pytest.mark.parametrize("fov_h,fov_v,ok", [(0.5, 90.0, True), (179.5, 90.0, True), (120.0, 0.5, True),
                                            (120.0, 179.5, True), (0.0, 90.0, False), (180.0, 90.0, False),
                                            (120.0, 0.0, False), (120.0, 180.0, False), (-5.0, 90.0, False),
                                            (120.0, -5.0, False), (200.0, 200.0, False)])
def test_view_field_of_view_is_an_open_interval(fov_h, fov_v, ok):
    if ok:
        assert View(0, 0, fov_h, fov_v, 8, 8).fov_h == fov_h
    else:
        with pytest.raises(ValueError, match="field of view"):
            View(0, 0, fov_h, fov_v, 8, 8)


@pytest.mark.parametrize("w,h,ok", [(1, 1, True), (0, 5, False), (5, 0, False), (-3, 5, False), (0, 0, False)])
def test_view_size_is_positive(w, h, ok):
    if ok:
        assert (View(0, 0, 90, 90, w, h).width, View(0, 0, 90, 90, w, h).height) == (w, h)
    else:
        with pytest.raises(ValueError, match="size"):
            View(0, 0, 90, 90, w, h)
