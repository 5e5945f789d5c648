"""The fused CPU query path (core/models/vr_fast.py + vr_kernel.c) against the reference
``VRModule.decode_neighbours`` and against the torch path of ResVRMethod, and its fallback.
Correctness only; the speed of each path is compared in ``resvr bench``."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from resvr.core.geometry import View
from resvr.core.models import vr_fast
from resvr.core.models.vr import VRModule, neighbours
from tests.helpers import save_tiny_checkpoint, textured_erp
from tests.test_fastpath import SMALL_RESVR, _livelier, _psnr

needs_kernel = pytest.mark.skipif(not vr_fast.available(), reason=f"no C compiler: {vr_fast.unavailable_reason()}")


@needs_kernel
def test_kernel_equals_decode_neighbours_at_the_seam_and_poles():
    torch.manual_seed(0)
    vr = VRModule(8, 1, 64, 48, 2).eval()
    with torch.no_grad():
        for m in vr.decoder:
            if isinstance(m, torch.nn.Linear):
                m.weight.normal_(0, 0.2)
        vr.h_p.weight.normal_(0, 2.0)       # phases of tens of radians
    h, w = 16, 32
    # a split table [amp | dy | dx] with large frequencies, in bf16 as the renderer keeps it
    table = (torch.randn(h * w, 128) * torch.cat((torch.full((64,), 0.5), torch.full((64,), 4.0)))).bfloat16()
    rgb = torch.randint(0, 256, (h * w, 3), dtype=torch.uint8)
    n = 3000
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(n, generator=g) * w, torch.rand(n, generator=g) * h
    x[:300] = torch.rand(300, generator=g) * 0.5                 # across the +-180 degree seam
    x[300:600] = w - torch.rand(300, generator=g) * 0.5
    y[600:900] = torch.rand(300, generator=g) * 0.5              # across the poles
    y[900:1200] = h - torch.rand(300, generator=g) * 0.5
    s = torch.randn(n, 10, generator=g)
    feats = {"table": table.float()[None], "rgb": rgb[None], "h": h, "w": w, "wrap": True, "freq_split": True}
    with torch.no_grad():
        idx, rel, wts = neighbours(x[None].double(), y[None].double(), h, w, True)
        ref = vr.decode_neighbours(feats, idx, rel.float(), wts.float(), s[None])[0]
    out = torch.empty(n, 3)
    vr_fast.FusedQuery(vr, chunk=700)(table, rgb, h, w, x, y, s, out)
    assert ref.std() > 0.1                                     # the MLP and the phase matter
    err = (out - ref).abs()
    # only the bf16 GEMMs differ from the float32 reference
    assert float(err.max()) < 0.03
    assert -10 * math.log10(float(err.pow(2).mean())) > 55
    # a wrong neighbour, a dropped pole shift or a sign error in sin/cos costs far more than that
    bad = torch.empty(n, 3)
    vr_fast.FusedQuery(vr)(table, rgb, h, w, torch.remainder(x + 1.0, w), y, s, bad)
    assert float((bad - ref).abs().max()) > 0.1


def _method(tmp_path, lr, **kw):
    from resvr.core.methods import ResVRMethod

    wt = save_tiny_checkpoint(tmp_path / "w.pt", SMALL_RESVR, seed=1)
    m = ResVRMethod("cpu", wt, **kw)
    _livelier(m.vr)
    m.prepare(lr)
    return m


@needs_kernel
@pytest.mark.parametrize("view", [View(30, 10, 120, 90, 256, 192), View(180, 75, 100, 80, 160, 120),
                                  View(-90, -88, 90, 90, 96, 96)])
def test_fused_render_matches_fp32_reference(tmp_path, view):
    lr = tmp_path / "lr.png"
    Image.fromarray(textured_erp(64, 128, seed=2)).save(lr)
    fused, ref = _method(tmp_path, lr), _method(tmp_path, lr, fast=False)
    assert fused.query_path == "fused" and ref.query_path == "torch"
    a, b = fused.render(view), ref.render(view)
    assert a.shape == (view.height, view.width, 3)
    assert _psnr(a, b) >= 45.0


def test_torch_fallback_without_the_kernel(tmp_path, monkeypatch):
    lr = tmp_path / "lr.png"
    Image.fromarray(textured_erp(64, 128, seed=2)).save(lr)
    monkeypatch.setattr(vr_fast, "_lib", None)
    monkeypatch.setattr(vr_fast, "_error", "no C compiler (test)")
    m, ref = _method(tmp_path, lr), _method(tmp_path, lr, fast=False)
    assert m.query_path == "torch"
    view = View(170, -40, 100, 80, 96, 80)
    assert _psnr(m.render(view), ref.render(view)) >= 45.0


def test_one_back_map_gives_the_same_shapes_as_the_nine_point_stencil():
    from resvr.core.shape import padded_lonlat, pixel_shape, shape_from_lonlat

    view = View(179.5, 70, 110, 85, 40, 30)
    lon, lat = padded_lonlat(view, (5, 17))
    s = shape_from_lonlat(lon, lat, 64)
    cc, rr = torch.meshgrid(torch.arange(40.0), torch.arange(5.0, 17.0), indexing="xy")
    torch.testing.assert_close(s, pixel_shape(view, cc, rr, 64), atol=1e-6, rtol=1e-5)
