"""The fused CPU query path (core/models/vr_fast.py + vr_kernel.c) against the reference
``VRModule.decode_neighbours`` and against the torch path of ResVRMethod, and its fallback.
Correctness only; the speed of each path is compared in ``resvr bench``."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from resvr.core.geometry import View
from resvr.core.models import vr_fast
from resvr.core.models.vr import VRModule, neighbours
from tests.helpers import save_tiny_checkpoint, textured_erp
from tests.test_fastpath import SMALL_RESVR, _livelier, _psnr

needs_kernel = pytest.mark.skipif(not vr_fast.available(), reason=f"no C compiler: {vr_fast.unavailable_reason()}")
needs_view = pytest.mark.skipif(vr_fast.view_isa() is None, reason="no AVX512-BF16 (or no C compiler) here")


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
@pytest.mark.parametrize("path", ["amx", "avx512-bf16", "fused"])
@pytest.mark.parametrize("view", [View(30, 10, 120, 90, 256, 192), View(180, 75, 100, 80, 160, 120),
                                  View(-90, -88, 90, 90, 96, 96)])
def test_fused_render_matches_fp32_reference(tmp_path, view, path, monkeypatch):
    """Each whole-view kernel this machine can run (AMX tiles where present; the AVX512-BF16 dot
    products on any AVX512-BF16 machine, AMX ones included) and the C + oneDNN path."""
    isa = {v: k for k, v in vr_fast.ISA_NAMES.items()}.get(path, 0)
    if isa > vr_fast._isa:
        pytest.skip(f"no {path} here")
    if isa:
        monkeypatch.setattr(vr_fast, "_isa", isa)
    lr = tmp_path / "lr.png"
    Image.fromarray(textured_erp(64, 128, seed=2)).save(lr)
    fused, ref = _method(tmp_path, lr, amx=isa > 0), _method(tmp_path, lr, fast=False)
    assert fused.query_path == path and ref.query_path == "torch"
    a, b = fused.render(view), ref.render(view)
    assert a.shape == (view.height, view.width, 3)
    assert _psnr(a, b) >= 45.0


@needs_view
def test_whole_view_kernel_with_the_2d_shape_and_three_hidden_layers(tmp_path):
    """Other shapes of the model: the ablation's plane shape, a third hidden layer, amp 64."""
    from resvr.core.methods import ResVRMethod

    lr = tmp_path / "lr.png"
    Image.fromarray(textured_erp(64, 128, seed=3)).save(lr)
    cfg = {**SMALL_RESVR, "vr": {**SMALL_RESVR["vr"], "amp": 64, "hidden": 64, "mlp_layers": 3}}
    wt = save_tiny_checkpoint(tmp_path / "w3.pt", cfg, seed=4)
    out = {}
    for fast in (True, False):
        m = ResVRMethod("cpu", wt, fast=fast, shape_kind="2d")
        _livelier(m.vr)
        m.prepare(lr)
        out[fast] = (m.query_path, m.render(View(175, -60, 110, 90, 120, 96)))
    assert out[True][0] == vr_fast.view_isa() and out[False][0] == "torch"
    assert out[True][1].std() > 0.05
    assert _psnr(out[True][1], out[False][1]) >= 45.0


@needs_view
@pytest.mark.parametrize("kind", ["ssr", "2d"])
@pytest.mark.parametrize("view", [View(179.5, 70, 110, 85, 40, 30), View(0, 89.9, 120, 90, 64, 48),
                                  View(-30, -45, 120, 90, 200, 150),
                                  View(10, -80, 200, 150, 64, 48, projection="stereographic"),
                                  View(170, 30, 180, 135, 64, 48, projection="fisheye")])
def test_kernel_geometry_equals_the_float64_back_map(view, kind):
    """One float64 back-map per pixel in C: the lookup coordinates and the 9-point pixel shapes
    equal those of shape.padded_lonlat / shape_from_lonlat (the float64 torch path)."""
    from resvr.core.geometry import lonlat_to_erp
    from resvr.core.shape import padded_lonlat, shape_from_lonlat

    x, y, s = vr_fast.FusedView.geometry(view, 64, 128, kind, rows=(3, view.height))
    lon, lat = padded_lonlat(view, (3, view.height))
    xr, yr = lonlat_to_erp(lon[1:-1, 1:-1], lat[1:-1, 1:-1], 64, 128)
    sr = shape_from_lonlat(lon, lat, 64, kind)
    assert float(sr.abs().max()) > 0.1
    torch.testing.assert_close(x, xr.float(), atol=1e-4, rtol=0)
    torch.testing.assert_close(y, yr.float(), atol=1e-4, rtol=0)
    torch.testing.assert_close(s, sr, atol=1e-6, rtol=1e-6)


def _touched_tiles(view, h, w, tile, nt):
    """Independent of the kernel: the tiles holding the 2x2 neighbours of each pixel's lookup
    (float64 back-map of the torch path)."""
    from resvr.core.geometry import lonlat_to_erp
    from resvr.core.shape import padded_lonlat

    lon, lat = padded_lonlat(view)
    x, y = lonlat_to_erp(lon[1:-1, 1:-1], lat[1:-1, 1:-1], h, w)
    idx = neighbours(x.flatten()[None].float(), y.flatten()[None].float(), h, w, True)[0].flatten()
    ref = torch.zeros(nt, dtype=torch.bool)
    ref[(idx // w) // tile[0], (idx % w) // tile[1]] = True
    return ref


def _dilated(tiles):
    """Tiles and their 8 neighbours (columns wrapping across the seam, rows not)."""
    x = tiles.float()[None, None]
    x = F.pad(torch.cat((x[..., -1:], x, x[..., :1]), -1), (0, 0, 1, 1))
    return F.max_pool2d(x, 3, 1)[0, 0] > 0


# every kind of view the tile check must cover: the seam, both poles (and near them), the curved
# projections (beyond a hemisphere), unequal focal lengths, very coarse and one-pixel views
TILE_VIEWS = [View(179.5, 80, 110, 85, 120, 90), View(-60, -30, 60, 45, 64, 48), View(0, 90, 120, 90, 96, 72),
              View(45, -90, 90, 90, 50, 50), View(-179.9, 89.9, 30, 20, 40, 30), View(10, -60, 150, 40, 200, 20),
              View(120, 30, 170, 170, 33, 47), View(-90, 70, 280, 210, 120, 90, projection="stereographic"),
              View(20, -85, 200, 150, 64, 48, projection="stereographic"),
              View(-150, 10, 300, 225, 80, 60, projection="fisheye"), View(75, 40, 50, 40, 1, 1),
              View(0, 0, 120, 90, 512, 384)]


@needs_view
@pytest.mark.parametrize("tile", [(8, 16), (4, 8), (16, 32)])
@pytest.mark.parametrize("view", TILE_VIEWS, ids=lambda v: f"{v.projection[:4]}{v.yaw:g},{v.pitch:g}:{v.width}x{v.height}")
def test_kernel_marks_every_tile_the_neighbours_touch(view, tile):
    """The kernel's tile check (one back-map per 8x8 block and the cap around it) never misses a
    tile a pixel's neighbours read (an unbuilt tile would be rendered as garbage)."""
    h, w = 64, 128
    nt = (h // tile[0], w // tile[1])
    need = vr_fast.FusedView.needed_tiles(view, h, w, "ssr", tile, nt)
    ref = _touched_tiles(view, h, w, tile, nt)
    assert int(ref.sum()) > 0
    assert not (ref & ~need).any()


@needs_view
@pytest.mark.parametrize("h, tile", [(64, (8, 16)), (128, (8, 16)), (128, (16, 32))])
@pytest.mark.parametrize("projection, fov", [("rectilinear", (120, 90)), ("rectilinear", (60, 45)),
                                             ("stereographic", (200, 150)), ("fisheye", (180, 135))])
def test_kernel_marks_few_tiles_more_than_a_view_reads(h, tile, projection, fov):
    """...and marks no tile farther than one tile from one that is read, for views whose pixels are
    no coarser than the LR pixels (every view the viewer and the CLI make at their sizes)."""
    w = 2 * h
    nt = (h // tile[0], w // tile[1])
    for pitch in (-75, -40, 0, 25, 60, 90):
        view = View(170.0 + pitch, pitch, *fov, 256, 192, projection=projection)
        need = vr_fast.FusedView.needed_tiles(view, h, w, "ssr", tile, nt)
        ref = _touched_tiles(view, h, w, tile, nt)
        assert not (ref & ~need).any()
        assert not (need & ~_dilated(ref)).any(), pitch
        assert int(ref.sum()) < ref.numel() or pitch in (-75, 90)


@needs_view
def test_lazy_first_view_builds_only_what_it_reads(tmp_path):
    """With a lazily built table the whole-view kernel builds the tiles a view touches first: the
    view equals the one from the whole table, and the rest stays unbuilt."""
    lr = tmp_path / "lr.png"
    Image.fromarray(textured_erp(128, 256, seed=5)).save(lr)
    lazy, whole = _method(tmp_path, lr), _method(tmp_path, lr, lazy=False)
    lazy.renderer.tile = (16, 32)
    lazy.prepare(lr)
    lazy.renderer.feats["table"].fill_(float("nan"))     # an unbuilt tile, if read, would show
    view = View(100, 20, 90, 70, 160, 120)
    a, b = lazy.render(view), whole.render(view)
    assert lazy.query_path == whole.query_path == vr_fast.view_isa()
    assert 0 < lazy.tiles_built() < 0.6
    assert np.isfinite(a).all()
    assert _psnr(a, b) >= 50.0


@needs_view
@pytest.mark.parametrize("spread, small_table, whole", [(40, True, False), (40, False, False), (120, True, True),
                                                        (120, False, False)])
def test_plan_builds_the_union_of_the_views_tiles_or_the_whole_table(tmp_path, spread, small_table, whole):
    """``plan(views)`` (render --views, eval) builds the tiles the views touch (in the renderer's
    rectangular regions, so a few neighbours too; unbuilt tiles stay NaN), or the whole table when
    they touch most of it (``whole_above``) and it is under the idle limit; either way the views then
    equal those of a whole table without building more, and a single view plans nothing."""
    lr = tmp_path / "lr.png"
    Image.fromarray(textured_erp(128, 256, seed=6)).save(lr)
    m, whole_m = _method(tmp_path, lr), _method(tmp_path, lr, lazy=False)
    m.renderer.tile = (16, 32)
    m.idle_table_bytes = 1 << 40 if small_table else 0
    m.prepare(lr)
    r = m.renderer
    r.feats["table"].fill_(float("nan"))
    fov = (90, 70) if spread == 40 else (150, 120)
    views = [View(30 + spread * i, -10 * i, *fov, 160, 120) for i in range(3)]
    m.plan(views[:1])
    assert r.tiles_built() == 0.0
    prefetched = []
    prefetch = r.prefetch
    r.prefetch = lambda: (prefetched.append(1), prefetch())
    m.plan(views)
    assert bool(prefetched) == whole
    union = torch.zeros(r._ntiles, dtype=torch.bool)
    for v in views:
        union |= _touched_tiles(v, 128, 256, r.tile, r._ntiles)
    assert 0 < int(union.sum()) < union.numel()
    assert (float(union.float().mean()) > r.whole_above) == (spread == 120)
    assert not (union & ~r._done).any()
    if whole:
        assert bool(r._done.all())
    else:
        assert not (r._done & ~_dilated(union)).any()
    done = r._done.clone()
    built = r.feats["table"].view(128, 256, -1).float().isfinite().all(-1)
    assert torch.equal(built, r._done.repeat_interleave(16, 0).repeat_interleave(32, 1))
    for v in views:
        assert _psnr(m.render(v), whole_m.render(v)) >= 50.0
    assert torch.equal(r._done, done)  # nothing more built


def test_fused_path_without_the_view_kernel(tmp_path, monkeypatch):
    """Without AVX512-BF16 (or with RESVR_AMX=0) the kernel + oneDNN GEMM path renders."""
    if not vr_fast.available():
        pytest.skip("no C compiler")
    lr = tmp_path / "lr.png"
    Image.fromarray(textured_erp(64, 128, seed=2)).save(lr)
    monkeypatch.setattr(vr_fast, "_isa", 0)
    m, ref = _method(tmp_path, lr), _method(tmp_path, lr, fast=False)
    assert m.query_path == "fused"
    view = View(170, -40, 100, 80, 96, 80)
    assert _psnr(m.render(view), ref.render(view)) >= 45.0
    # without the view kernel's tile check, plan builds a small table whole and a large one not at all
    # (the query path builds the tiles it reads as it renders)
    views = [view, View(-10, 40, 100, 80, 96, 80)]
    m.idle_table_bytes = 0
    m.prepare(lr)
    m.plan(views)
    assert m.tiles_built() == 0.0
    m.idle_table_bytes = 1 << 40
    m.plan(views)
    assert m.tiles_built() == 1.0
    assert _psnr(m.render(views[1]), ref.render(views[1])) >= 45.0


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

