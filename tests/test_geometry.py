"""Geometry convention (docs/design.md) pinned with independent numpy computations."""
import math

import numpy as np
import pytest
import torch

from resvr.core.geometry import View, lonlat_to_view, view_pixel_to_lonlat, view_to_lonlat
from resvr.core.sampling import render_view

ANGLES = [(0, 0), (37.5, 12), (-120, -33), (180, 45), (-179, -80), (90, 89), (250, 5)]


def np_rays_lonlat(yaw, pitch, fov_h, fov_v, w, h):
    """Independent f^-1: own rays, own rotation matrices, own atan2/asin (float64)."""
    fx = (w / 2) / math.tan(math.radians(fov_h) / 2)
    fy = (h / 2) / math.tan(math.radians(fov_v) / 2)
    j, i = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    d = np.stack([(j - w / 2) / fx, -(i - h / 2) / fy, np.ones_like(j)], -1)
    p, y = math.radians(pitch), math.radians(yaw)
    # pitch about x (positive: the forward ray tilts up, +y), then yaw about y (positive: towards +x, east)
    rx = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    assert np.allclose(rx @ [0, 0, 1], [0, math.sin(p), math.cos(p)])  # looks up for p > 0
    assert np.allclose(ry @ [0, 0, 1], [math.sin(y), 0, math.cos(y)])  # looks right (east) for y > 0
    d = d @ (ry @ rx).T
    lon = np.arctan2(d[..., 0], d[..., 2])
    lat = np.arcsin(d[..., 1] / np.linalg.norm(d, axis=-1))
    return lon, lat


def unit(lon, lat):
    lon, lat = np.asarray(lon), np.asarray(lat)
    return np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], -1)


def ang_dist(lon1, lat1, lon2, lat2):
    a, b = unit(lon1, lat1), unit(lon2, lat2)  # atan2(|a x b|, a.b): accurate for tiny angles too
    return np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), (a * b).sum(-1))


@pytest.mark.parametrize("size", [(64, 48), (63, 47), (10, 7)])
@pytest.mark.parametrize("yaw,pitch", ANGLES)
def test_centre_pixel_maps_to_yaw_pitch(size, yaw, pitch):
    w, h = size
    v = View(yaw, pitch, 100.0, 70.0, w, h)
    # the optical centre is at continuous pixel index ((w-1)/2, (h-1)/2): a pixel centre for odd
    # sizes, between the four middle pixels for even sizes
    c = torch.tensor([(w - 1) / 2], dtype=torch.float64)
    r = torch.tensor([(h - 1) / 2], dtype=torch.float64)
    lon, lat = view_pixel_to_lonlat(v, c, r)
    assert ang_dist(lon.item(), lat.item(), math.radians(yaw), math.radians(pitch)) < 1e-9
    assert lat.item() == pytest.approx(math.radians(pitch), abs=1e-9)
    if abs(pitch) < 89.999:
        wrapped = (yaw + 180) % 360 - 180
        assert math.degrees(lon.item()) == pytest.approx(wrapped, abs=1e-7) or abs(abs(wrapped) - 180) < 1e-7
    # and the whole backward map equals the independent numpy implementation
    lon_t, lat_t = view_to_lonlat(v, dtype=torch.float64)
    lon_n, lat_n = np_rays_lonlat(yaw, pitch, 100.0, 70.0, w, h)
    assert np.max(ang_dist(lon_t.numpy(), lat_t.numpy(), lon_n, lat_n)) < 1e-9
    assert np.allclose(lat_t.numpy(), lat_n, atol=1e-9)


def _smooth_erp(H, W, dtype=torch.float64):
    """An ERP whose colour is a smooth function of the unit vector (continuous across the seam and
    at the poles), with no black anywhere: values in [0.2, 0.8]."""
    u = (torch.arange(W, dtype=dtype) + 0.5) / W
    v = (torch.arange(H, dtype=dtype) + 0.5) / H
    lon = (u - 0.5) * 2 * math.pi
    lat = (0.5 - v) * math.pi
    lat, lon = torch.meshgrid(lat, lon, indexing="ij")
    x, y, z = torch.cos(lat) * torch.sin(lon), torch.sin(lat), torch.cos(lat) * torch.cos(lon)
    return 0.5 + 0.3 * torch.stack([x * y + 0.5 * z, torch.sin(2 * x + z), 0.7 * x - 0.3 * y * z]).clamp(-1, 1)


def _sphere_fn(lon, lat):
    x, y, z = np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)
    return 0.5 + 0.3 * np.stack([x * y + 0.5 * z, np.sin(2 * x + z), 0.7 * x - 0.3 * y * z])


def test_yaw_180_seam_continuity():
    H, W = 64, 128
    erp = _smooth_erp(H, W)
    rolled = torch.roll(erp, W // 2, dims=-1)
    for mode in ("nearest", "bilinear", "bicubic"):
        for pitch in (0.0, 30.0, -60.0):
            a = render_view(erp, View(180.0, pitch, 90.0, 70.0, 80, 60), mode)
            b = render_view(rolled, View(0.0, pitch, 90.0, 70.0, 80, 60), mode)
            if mode == "nearest":  # a ray exactly between two texels may round either way after the roll
                assert ((a - b).abs() > 1e-6).float().mean() < 0.01
            else:
                assert torch.allclose(a, b, atol=1e-6), (mode, pitch, (a - b).abs().max())
    # no jump at the seam: the yaw-180 view matches the smooth sphere function on every column,
    # including the ones that straddle lon = +-180 (the middle columns)
    v = View(180.0, 0.0, 90.0, 70.0, 81, 61)
    img = render_view(erp, v, "bicubic").numpy()
    lon, lat = np_rays_lonlat(180.0, 0.0, 90.0, 70.0, 81, 61)
    truth = _sphere_fn(lon, lat)
    err = np.abs(img - truth).max(axis=(0, 1))  # per column
    assert err.max() < 0.01
    assert err[38:43].max() < 2 * np.median(err) + 1e-3
    col_steps = np.abs(np.diff(img, axis=2)).max(axis=(0, 1))
    assert col_steps[38:42].max() < 1.5 * np.percentile(col_steps, 90)


@pytest.mark.parametrize("yaw,pitch", ANGLES)
def test_forward_of_backward_is_identity(yaw, pitch):
    v = View(yaw, pitch, 110.0, 80.0, 40, 30)
    lon, lat = view_to_lonlat(v, dtype=torch.float64)
    col, row, ok = lonlat_to_view(lon, lat, v)
    jj, ii = np.meshgrid(np.arange(40), np.arange(30))
    assert bool(ok.all())
    assert np.allclose(col.numpy(), jj, atol=1e-7) and np.allclose(row.numpy(), ii, atol=1e-7)
    # and backward of forward for sphere points seen by the view (incl. sub-pixel positions)
    rng = np.random.default_rng(0)
    c = torch.from_numpy(rng.uniform(-0.5, 39.49, 200))
    r = torch.from_numpy(rng.uniform(-0.5, 29.49, 200))
    lo, la = view_pixel_to_lonlat(v, c, r)
    c2, r2, ok2 = lonlat_to_view(lo, la, v)
    assert bool(ok2.all()) and torch.allclose(c2, c, atol=1e-7) and torch.allclose(r2, r, atol=1e-7)
    # points behind the camera are invalid
    back_lon = torch.tensor([math.radians(yaw + 180.0)], dtype=torch.float64)
    back_lat = torch.tensor([-math.radians(pitch)], dtype=torch.float64)
    assert not bool(lonlat_to_view(back_lon, back_lat, v)[2].any())


@pytest.mark.parametrize("yaw,pitch", [(0, 0), (63, -27), (-150, 70)])
def test_neighbour_ray_spacing(yaw, pitch):
    w, h, fov_h, fov_v = 101, 75, 120.0, 90.0
    v = View(yaw, pitch, fov_h, fov_v, w, h)
    fx = (w / 2) / math.tan(math.radians(fov_h) / 2)
    fy = (h / 2) / math.tan(math.radians(fov_v) / 2)
    lon, lat = (t.numpy() for t in view_to_lonlat(v, dtype=torch.float64))
    jc, ic = w // 2, h // 2  # odd sizes: the centre pixel
    assert ang_dist(lon[ic, jc], lat[ic, jc], lon[ic, jc + 1], lat[ic, jc + 1]) == pytest.approx(math.atan(1 / fx), rel=1e-9)
    assert ang_dist(lon[ic, jc], lat[ic, jc], lon[ic + 1, jc], lat[ic + 1, jc]) == pytest.approx(math.atan(1 / fy), rel=1e-9)
    # along the whole centre row: atan of the tangent-plane offsets
    xs = (np.arange(w) + 0.5 - w / 2) / fx
    want = np.diff(np.arctan(xs))
    got = ang_dist(lon[ic, :-1], lat[ic, :-1], lon[ic, 1:], lat[ic, 1:])
    assert np.allclose(got, want, rtol=1e-8)
    # the two edge rays of the centre row span the field of view minus one pixel's worth
    span = ang_dist(lon[ic, 0], lat[ic, 0], lon[ic, -1], lat[ic, -1])
    assert span == pytest.approx(2 * math.atan((w / 2 - 0.5) / fx), rel=1e-9)


@pytest.mark.parametrize("pitch", [90.0, -90.0, 89.9, -88.0])
@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic"])
def test_pole_views_no_nan_no_border(pitch, mode):
    H, W = 64, 128
    erp = _smooth_erp(H, W, torch.float32)
    assert float(erp.min()) > 0.15
    for yaw in (0.0, 123.0):
        img = render_view(erp, View(yaw, pitch, 120.0, 90.0, 96, 72), mode)
        assert not torch.isnan(img).any()
        assert float(img.min()) > 0.1  # no black/border colour anywhere
        # and it is the right picture: close to the smooth function on the sphere
        lon, lat = np_rays_lonlat(yaw, pitch, 120.0, 90.0, 96, 72)
        truth = _sphere_fn(lon, lat)
        tol = {"nearest": 0.08, "bilinear": 0.03, "bicubic": 0.03}[mode]
        assert np.abs(img.numpy() - truth).max() < tol
    # uint8 ERP too (the viewer/CLI path)
    u8 = (erp * 255).round().to(torch.uint8)
    img = render_view(u8, View(0.0, pitch, 120.0, 90.0, 48, 36), mode)
    assert not torch.isnan(img).any() and float(img.min()) > 0.1
