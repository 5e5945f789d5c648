"""The ResVR / HyperThumbnail fast paths: numerically equivalent to the fp32 reference path and to
``VRModule.features``/``query`` as training uses them (wrap, pole reflection, chunking, lazy
tiles, gradients). Tiny random weights; no timing assertions (speed lives in ``resvr bench``)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from resvr.core.geometry import View
from resvr.core.imageio import load_image
from resvr.core.models.vr import VRModule
from tests.helpers import TINY_HT, TINY_RESVR, save_tiny_checkpoint, textured_erp

# a small but not degenerate VR module (amp 32, hidden 32, 2 hidden layers)
SMALL_RESVR = {**TINY_RESVR, "vr": {"enc_channels": 12, "enc_blocks": 2, "amp": 32, "hidden": 32, "mlp_layers": 2}}


def _psnr(a, b) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 99.0 if mse == 0 else -10 * math.log10(mse)


def _livelier(vr: VRModule, freq_gain: float = 4.0):
    """Undo the 0.1 init of the last layer and widen the frequencies, so the MLP and the phase
    (tens of radians) matter to the output, as in a trained model."""
    with torch.no_grad():
        vr.decoder[-1].weight.mul_(10.0)
        vr.h_f.weight.mul_(freq_gain)
        vr.h_f.bias.mul_(freq_gain)


@pytest.fixture()
def lr_file(tmp_path):
    p = tmp_path / "lr.png"
    Image.fromarray(textured_erp(64, 128, seed=2)).save(p)
    return p


def _methods(tmp_path, lr_file, cfg=SMALL_RESVR, **kw):
    """(fast, fp32) ResVR methods with the same livelier weights, prepared on ``lr_file``."""
    from resvr.core.methods import ResVRMethod

    w = save_tiny_checkpoint(tmp_path / "w.pt", cfg, seed=1)
    out = []
    for fast in (True, False):
        m = ResVRMethod("cpu", w, fast=fast, **kw)
        _livelier(m.vr)
        m.prepare(lr_file)
        out.append(m)
    return out


def test_fast_path_matches_fp32_reference_on_a_1024x768_view(tmp_path, lr_file):
    fast, ref = _methods(tmp_path, lr_file)
    view = View(30, 10, 120, 90, 1024, 768)
    a, b = fast.render(view), ref.render(view)
    assert a.shape == b.shape == (768, 1024, 3)
    assert np.isfinite(a).all()
    # the MLP really contributes (otherwise the PSNR below would be trivially high)
    from resvr.core.methods import get_method

    bil = get_method("bilinear", device="cpu")
    bil.prepare(lr_file)
    assert _psnr(b, bil.render(view)) < 40
    assert _psnr(a, b) >= 45.0


def _reference_query(vr, feats, x, y, shape):
    """The original query (one gather, interleaved frequencies, one MLP call), for comparison."""
    table, h, w = feats["table"], feats["h"], feats["w"]
    B, N = x.shape
    fx, fy = torch.floor(x - 0.5), torch.floor(y - 0.5)
    tx, ty = x - 0.5 - fx, y - 0.5 - fy
    ix = torch.stack((fx, fx + 1, fx, fx + 1), -1)
    iy = torch.stack((fy, fy, fy + 1, fy + 1), -1)
    wts = torch.stack(((1 - tx) * (1 - ty), tx * (1 - ty), (1 - tx) * ty, tx * ty), -1)
    rel = torch.stack((y[..., None] - (iy + 0.5), x[..., None] - (ix + 0.5)), -1)
    ix, iy = ix.long(), iy.long()
    if feats["wrap"]:
        top, bot = iy < 0, iy >= h
        flip = top | bot
        iy = torch.where(top, -1 - iy, torch.where(bot, 2 * h - 1 - iy, iy))
        ix = torch.remainder(torch.where(flip, ix + w // 2, ix), w)
    else:
        ix, iy = ix.clamp(0, w - 1), iy.clamp(0, h - 1)
    flat = (iy * w + ix + torch.arange(B)[:, None, None] * (h * w)).flatten()
    g = table.flatten(0, 1).index_select(0, flat).view(B, N, 4, -1)
    a = vr.amp
    amp, freq, rgb = g[..., :a], g[..., a:2 * a], g[..., 2 * a:]
    freq = freq.unflatten(-1, (a // 2, 2))
    phase = vr.h_p(shape.to(g.dtype))[:, :, None, :]
    arg = math.pi * ((freq * rel[..., None, :].to(g.dtype)).sum(-1) + phase)
    basis = amp * torch.cat((torch.cos(arg), torch.sin(arg)), -1)
    out = vr.decoder(basis) + rgb
    return (out.float() * wts[..., None]).sum(2)


@pytest.mark.parametrize("wrap", [False, True])
def test_query_equals_the_original_formula_in_values_and_gradients(wrap):
    torch.manual_seed(0)
    vr = VRModule(8, 1, 16, 16, 2)
    _livelier(vr)
    lr = torch.rand(2, 3, 12, 24)
    n = 300
    x = (torch.rand(2, n) * 28 - 2).requires_grad_()
    y = (torch.rand(2, n) * 16 - 2).requires_grad_()
    s = torch.randn(2, n, 10, requires_grad=True)
    outs, grads = [], []
    for q in (vr.query, lambda f, *a: _reference_query(vr, f, *a)):
        vr.zero_grad()
        feats = vr.features(lr, wrap=wrap)
        out = q(feats, x, y, s)
        (out.square().sum()).backward()
        outs.append(out.detach())
        grads.append([p.grad.clone() for p in vr.parameters()] + [x.grad.clone(), y.grad.clone(), s.grad.clone()])
        x.grad = y.grad = s.grad = None
    assert torch.allclose(outs[0], outs[1], atol=1e-5, rtol=1e-5)
    for g0, g1 in zip(*grads):
        assert torch.allclose(g0, g1, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("wrap", [False, True])
def test_query_gradcheck_float64(wrap):
    torch.manual_seed(1)
    vr = VRModule(4, 1, 8, 8, 1).double()
    _livelier(vr, 2.0)
    lr = torch.rand(1, 3, 12, 24, dtype=torch.float64, requires_grad=True)
    # cell borders lie at x - 1/2 in Z: keep the points 0.2 px or more away from them, so the
    # finite differences do not cross a floor(); some points lie beyond the image border
    x = (torch.randint(-1, 26, (1, 12)) + 0.6 * (torch.rand(1, 12) - 0.5)).double().requires_grad_()
    y = (torch.randint(-1, 14, (1, 12)) + 0.6 * (torch.rand(1, 12) - 0.5)).double().requires_grad_()
    s = torch.randn(1, 12, 10, dtype=torch.float64, requires_grad=True)

    def f(lr, x, y, s):
        return vr.query(vr.features(lr, wrap=wrap), x, y, s)

    assert torch.autograd.gradcheck(f, (lr, x, y, s), eps=1e-6, atol=1e-5)


def test_query_under_bf16_autocast_is_closer_to_fp32_than_the_original():
    torch.manual_seed(2)
    vr = VRModule(8, 1, 32, 32, 2)
    _livelier(vr, 6.0)
    lr = torch.rand(1, 3, 16, 32)
    x, y, s = torch.rand(1, 4000) * 32, torch.rand(1, 4000) * 16, torch.randn(1, 4000, 10) * 3
    with torch.no_grad():
        ref = vr.query(vr.features(lr), x, y, s)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fb = vr.features(lr)
            new = vr.query(fb, x, y, s)
            old = _reference_query(vr, fb, x, y, s)
    err_new, err_old = float((new - ref).square().mean()), float((old - ref).square().mean())
    assert err_new <= err_old


def test_lazy_tiles_equal_the_whole_table_and_features(tmp_path, lr_file):
    fast, ref = _methods(tmp_path, lr_file)
    img = torch.from_numpy(load_image(lr_file)).permute(2, 0, 1)[None].float() / 255
    ref.renderer.tile, ref.renderer.max_run = (8, 16), 2
    ref.prepare(lr_file)
    view = View(-150, 35, 100, 80, 96, 64)
    lazy = ref.render(view)
    assert 0 < ref.tiles_built() < 1
    ref.prefetch()
    assert ref.tiles_built() == 1
    with torch.no_grad():
        table = ref.vr.features(img, wrap=True)["table"][0]
    a = ref.vr.amp
    t = ref.renderer.feats["table"][0]
    # equal up to the rounding of convolutions over differently sized inputs
    torch.testing.assert_close(t[:, :a], table[:, :a], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(t[:, a:a + a // 2], table[:, a:2 * a:2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(t[:, a + a // 2:], table[:, a + 1:2 * a:2], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(lazy, ref.render(view), atol=1e-5)
    # fast path: lazy == whole as well
    fast.prepare(lr_file, lazy=False)
    whole = fast.render(view)
    fast.prepare(lr_file, lazy=True)
    assert _psnr(whole, fast.render(view)) > 60


def test_tiles_equal_features_when_the_receptive_field_exceeds_the_pad(tmp_path, lr_file):
    """enc_blocks 6: 15 LR pixels of context > pad 12, where ``features`` zero-pads beyond the
    pad; the tile windows are clipped there too, so the tiles still equal ``features``."""
    from resvr.core.methods import ResVRMethod

    cfg = {**TINY_RESVR, "vr": {"enc_channels": 6, "enc_blocks": 6, "amp": 8, "hidden": 8, "mlp_layers": 1}}
    m = ResVRMethod("cpu", save_tiny_checkpoint(tmp_path / "w6.pt", cfg, seed=4), fast=False)
    assert m.vr.receptive_radius() > m.vr.pad
    m.renderer.tile, m.renderer.max_run = (8, 16), 3
    m.prepare(lr_file, lazy=False)
    img = torch.from_numpy(load_image(lr_file)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        table = m.vr.features(img, wrap=True)["table"][0]
    a = m.vr.amp
    t = m.renderer.feats["table"][0]
    torch.testing.assert_close(t[:, :a], table[:, :a], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(t[:, a:a + a // 2], table[:, a:2 * a:2], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("fast_path", [True, False])
def test_chunked_equals_whole(tmp_path, lr_file, fast_path):
    m = _methods(tmp_path, lr_file)[0 if fast_path else 1]
    view = View(170, -40, 100, 80, 96, 80)
    m.renderer.chunk, m.renderer.query_chunk = 1 << 20, 1 << 20
    whole = m.render(view)
    m.renderer.chunk, m.renderer.query_chunk = 7 * 96, 100
    np.testing.assert_allclose(whole, m.render(view), atol=2e-6 if fast_path else 0, rtol=0)


@pytest.mark.parametrize("pitch", [0.0, 60.0, -85.0])
def test_wraps_across_the_seam_and_reflects_at_the_poles(tmp_path, pitch):
    """A view at yaw 180 of an ERP equals the yaw-0 view of the ERP rolled by half its width
    (the table, built with circular padding and pole reflection, rolls with the image)."""
    from resvr.core.methods import ResVRMethod

    erp = textured_erp(32, 64, seed=4)
    Image.fromarray(erp).save(tmp_path / "a.png")
    Image.fromarray(np.roll(erp, 32, axis=1)).save(tmp_path / "b.png")
    w = save_tiny_checkpoint(tmp_path / "w.pt", SMALL_RESVR, seed=5)
    m = ResVRMethod("cpu", w, fast=False)
    assert m.vr.receptive_radius() <= m.vr.pad
    m.prepare(tmp_path / "a.png")
    a = m.render(View(180, pitch, 100, 80, 48, 40))
    m.prepare(tmp_path / "b.png")
    b = m.render(View(0, pitch, 100, 80, 48, 40))
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a, b, atol=2e-4)
    top = m.render(View(0, 90, 100, 100, 32, 32))
    assert np.isfinite(top).all() and top.std() > 0


def test_compile_failure_falls_back_to_eager(tmp_path, lr_file, monkeypatch):
    from resvr.core.methods import ResVRMethod

    w = save_tiny_checkpoint(tmp_path / "w.pt", SMALL_RESVR, seed=1)
    eager = ResVRMethod("cpu", w, fast=True, fused=False)   # the torch path that compile falls back to
    eager.prepare(lr_file)

    def broken(fn, **kw):
        def run(*a, **k):
            raise RuntimeError("no compiler here")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    m = ResVRMethod("cpu", w, fast=True, compile=True)
    m.prepare(lr_file)
    view = View(10, 5, 90, 70, 40, 30)
    with pytest.warns(UserWarning, match="compile"):
        out = m.render(view)
    assert not m.renderer.compile
    np.testing.assert_array_equal(out, eager.render(view))


def test_hyperthumbnail_fast_decode_matches_fp32(tmp_path):
    from resvr.core.encode import LearnedEncoder
    from resvr.core.jpeg.container import read_jpeg_dct
    from resvr.core.methods import HyperThumbnailMethod
    from resvr.core.models.codec import dequantised_maps

    Image.fromarray(textured_erp(128, 256, seed=3)).save(tmp_path / "hr.png")
    w = save_tiny_checkpoint(tmp_path / "ht.pt", TINY_HT, seed=2)
    LearnedEncoder("hyperthumbnail", w).encode(tmp_path / "hr.png", tmp_path / "lr.jpg", bpp=0.5)
    ms = []
    for fast in (True, False):
        m = HyperThumbnailMethod("cpu", w, fast=fast)
        tail = m.decoder.tail.weight        # a non-trivial residual (same logical weights in
        with torch.no_grad():                     # both memory formats)
            tail.copy_(torch.randn(tail.shape, generator=torch.Generator().manual_seed(7)) * 0.02)
        m.prepare(tmp_path / "lr.jpg")
        ms.append(m)
    assert ms[0].hr.dtype == torch.uint8 and ms[0].hr.shape == (3, 128, 256)
    assert _psnr(ms[0].hr.numpy() / 255.0, ms[1].hr.numpy() / 255.0) >= 40
    # banding: any band height gives the same image where the context covers the receptive field
    lr = torch.from_numpy(load_image(tmp_path / "lr.jpg")).permute(2, 0, 1)[None].float() / 255
    deq = dequantised_maps(*read_jpeg_dct(tmp_path / "lr.jpg")[:4])
    whole = ms[1].decode(lr, deq)
    banded = ms[1].decode(lr, deq, band_blocks=1, overlap=2)
    assert banded.shape == whole.shape
    assert _psnr(whole.numpy() / 255.0, banded.numpy() / 255.0) >= 30
