"""Edges of core/sampling.py and the rounding helpers of core/jpeg/transforms.py that the renders
elsewhere do not reach (found by mutation testing, docs/testing.md): row chunks, a batch of ERPs
sampled at one grid, and the training-time rounding relaxations."""
from __future__ import annotations

import math

import numpy as np
import torch

from resvr.core.geometry import View, view_to_lonlat
from resvr.core.jpeg.transforms import noise_round, ste_round
from resvr.core.sampling import render_view, sample_erp
from tests.test_cli import np_reference_view
from tests.helpers import textured_erp


def test_render_in_row_chunks_equals_the_independent_view():
    erp = textured_erp(32, 64, seed=2)
    t = torch.from_numpy(erp).permute(2, 0, 1).contiguous()
    v = View(170.0, -30.0, 100.0, 80.0, 24, 17)
    want = np_reference_view(erp, 170.0, -30.0, 100.0, 80.0, 24, 17)
    for rows in (None, 5, 17, 100):
        got = render_view(t, v, "bicubic", chunk_rows=rows)
        assert got.shape == (3, 17, 24)
        np.testing.assert_allclose(got.permute(1, 2, 0).double().numpy(), want, atol=1e-5)


def test_a_batch_of_erps_at_one_grid():
    a = torch.from_numpy(textured_erp(32, 64, seed=3)).permute(2, 0, 1).float() / 255
    b = torch.from_numpy(textured_erp(32, 64, seed=4)).permute(2, 0, 1).float() / 255
    lon, lat = view_to_lonlat(View(-60.0, 50.0, 90.0, 90.0, 12, 10))
    out = sample_erp(torch.stack((a, b)), lon, lat, "bilinear")
    assert out.shape == (2, 3, 10, 12)
    torch.testing.assert_close(out[0], sample_erp(a, lon, lat, "bilinear"))
    torch.testing.assert_close(out[1], sample_erp(b, lon, lat, "bilinear"))
    assert not torch.allclose(out[0], out[1])


def test_rounding_relaxations():
    x = torch.linspace(-4.0, 4.0, 801, dtype=torch.float64, requires_grad=True)
    y = ste_round(x)
    assert torch.equal(y.detach(), torch.round(x.detach()))          # forward: rounding
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))                   # backward: identity
    assert torch.equal(noise_round(x.detach(), False), torch.round(x.detach()))
    torch.manual_seed(0)
    z = torch.zeros(200_000, dtype=torch.float64)
    n = noise_round(z, True)                                         # uniform noise on (-1/2, 1/2)
    assert float(n.min()) >= -0.5 and float(n.max()) <= 0.5
    assert abs(float(n.mean())) < 0.005 and abs(float(n.var()) - 1 / 12) < 0.002
    assert float(n.min()) < -0.49 and float(n.max()) > 0.49 and math.isfinite(float(n.sum()))
