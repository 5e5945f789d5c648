"""Discrete pixel sampling (Algorithm 1) and the pixel shape representations."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from resvr.core.geometry import View
from resvr.core.shape import pixel_shape, pixel_shape_grid
from resvr.core.train.dps import dps_sample
from tests.helpers import textured_erp


def _bicubic_ref(img, x, y, a=-0.75):
    """Independent bicubic (Keys, a=-0.75) of an HxWxC array at continuous coords (centres at +0.5),
    wrapping columns and clamping rows (points here are far from the poles)."""
    H, W = img.shape[:2]

    def k(t):
        t = abs(t)
        if t <= 1:
            return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
        if t < 2:
            return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
        return 0.0

    u, v = x - 0.5, y - 0.5
    iu, iv = math.floor(u), math.floor(v)
    out = np.zeros(img.shape[2])
    for m in range(-1, 3):
        for n in range(-1, 3):
            out += img[min(max(iv + m, 0), H - 1), (iu + n) % W] * k(u - (iu + n)) * k(v - (iv + m))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_dps_invariants(seed):
    erp_u8 = textured_erp(128, 256, seed)
    erp = torch.from_numpy(erp_u8).permute(2, 0, 1).contiguous()
    rng = random.Random(seed)
    p, n_max = 32, 300
    a, b = rng.randrange(256), rng.randint(8, 128 - p - 8)
    s = dps_sample(erp, a, b, p, n_max, rng)
    n = s.coords.shape[0]
    assert 0 < n <= n_max
    assert bool((s.coords >= -1).all()) and bool((s.coords < 1).all())
    # the points lie inside the crop, and the crop is the HR ERP at (a, b) with a wrapping column
    assert torch.equal(s.patch, erp[:, b:b + p].index_select(-1, torch.arange(a, a + p) % 256))
    # S_pix = bicubic samples of the HR image at those points (independent implementation)
    img = erp_u8.astype(np.float64) / 255
    for i in range(0, n, max(1, n // 25)):
        x = a + (float(s.coords[i, 0]) + 1) / 2 * p
        y = b + (float(s.coords[i, 1]) + 1) / 2 * p
        np.testing.assert_allclose(s.gt[i].numpy(), _bicubic_ref(img, x, y), atol=2e-5)
    # the sample pixels come from the view: each back-maps to its coordinate
    from resvr.core.geometry import lonlat_to_erp, view_pixel_to_lonlat

    lon, lat = view_pixel_to_lonlat(s.view, s.pixels[:, 0].double(), s.pixels[:, 1].double())
    x, y = lonlat_to_erp(lon, lat, 128, 256)
    np.testing.assert_allclose(((x - a) % 256).numpy(), ((s.coords[:, 0].double() + 1) / 2 * p).numpy(), atol=1e-4)
    np.testing.assert_allclose((y - b).numpy(), ((s.coords[:, 1].double() + 1) / 2 * p).numpy(), atol=1e-4)


def test_dps_caps_at_n_without_duplicates():
    erp = torch.from_numpy(textured_erp(128, 256)).permute(2, 0, 1).contiguous()
    s = dps_sample(erp, 100, 40, 48, 50, random.Random(0))
    assert s.coords.shape[0] == 50
    assert len({tuple(p) for p in s.pixels.tolist()}) == 50


def test_shape_grid_equals_pointwise_and_kinds_differ_at_the_seam():
    view = View(180, 20, 100, 80, 40, 30)
    g = pixel_shape_grid(view, 64, "ssr")
    rr, cc = torch.meshgrid(torch.arange(30.0), torch.arange(40.0), indexing="ij")
    torch.testing.assert_close(g, pixel_shape(view, cc, rr, 64, "ssr"), atol=1e-5, rtol=1e-4)
    # SSR is invariant to yaw (the sphere has no seam); the 2-D shape jumps by a full ERP width
    g0 = pixel_shape_grid(View(0, 20, 100, 80, 40, 30), 64, "ssr")
    torch.testing.assert_close(g, g0, atol=1e-4, rtol=1e-4)
    d2 = pixel_shape_grid(view, 64, "2d")
    assert float(d2[..., 1].abs().max()) > 64  # the horizontal ERP-plane difference across the seam


def test_ssr_jacobian_matches_the_view_geometry():
    view = View(30, 0, 90, 90, 64, 64)
    s = pixel_shape(view, torch.tensor([31.5]), torch.tensor([31.5]), 100, "ssr")[0]
    # at the centre of a pitch-0 view, two pixels span 2*atan(1/fx) of longitude and no latitude
    expect = 2 * math.atan(1 / view.fx) * 100 / math.pi
    assert float(s[1]) == pytest.approx(expect, rel=1e-3)
    assert abs(float(s[0])) < 1e-6
    # moving up one pixel raises latitude: J_v (p2 - p8) is positive in latitude
    assert float(s[2]) == pytest.approx(2 * math.atan(1 / view.fy) * 100 / math.pi, rel=1e-3)
    assert s.shape == (10,)


def test_ssr_near_the_pole_stays_bounded():
    s = pixel_shape_grid(View(0, 90, 90, 90, 32, 32), 64, "ssr")
    assert torch.isfinite(s).all()
    assert float(s[..., :4].abs().max()) < 10  # no 2*pi jumps from the wrap of longitude
