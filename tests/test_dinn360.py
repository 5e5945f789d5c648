"""DINN360 (issue 15): invertibility, the deformable convolution, the latitude condition, the
JPEG simulation against a real JPEG, Algorithm 1's training graph and a resumable training run."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.ops import deform_conv2d

from resvr.core.models.dinn360 import (DINN360, DeformConv, Haar, deform_conv_sampled, deform_conv_taps, downscale_erp,
                                       row_latitudes, simulate_jpeg, upscale_erp)
from resvr.core.models.weights import safe_load
from tests.helpers import textured_erp

TINY_DINN = {"type": "dinn360", "scale": 4,
             "dinn": {"feat": 8, "blocks": 1, "attention": True, "cond_feat": 4, "proj_feat": 8, "proj_blocks": 1,
                      "eval_quality": 90}}


def _random_model(seed=0, std=0.1) -> DINN360:
    """A tiny DINN360 whose zero-initialised layers (last convolutions, offsets, attention heads)
    are perturbed, so every part acts (an untrained model is the plain Haar transform)."""
    torch.manual_seed(seed)
    m = DINN360(TINY_DINN).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * std)
    return m


def _lat(B, H, erp_h=None, row0=0):
    return row_latitudes(torch.arange(row0, row0 + H, dtype=torch.float32), erp_h or H)[None].repeat(B, 1)


def test_haar_is_the_box_average_and_exactly_invertible():
    x = torch.rand(2, 3, 8, 12, dtype=torch.float64)
    hw = Haar(3).double()
    o = hw(x)
    assert o.shape == (2, 12, 4, 6)
    assert torch.allclose(o[:, :3], F.avg_pool2d(x, 2))                          # LR channels = box average
    d = x[..., 0::2, 0::2] - x[..., 0::2, 1::2] + x[..., 1::2, 0::2] - x[..., 1::2, 1::2]
    assert torch.allclose(o[:, 3:6], d / 4)                                     # first difference band of each channel
    assert torch.allclose(hw.inverse(o), x, atol=1e-12)


def test_forward_then_reverse_without_quantisation_reconstructs_to_float_precision():
    m = _random_model()
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        y, h = m.down(x)
        assert y.shape == (2, 3, 16, 24) and h.shape == (2, 45, 16, 24)
        assert (h.abs().mean() > 1e-3)                                          # the blocks act (not only Haar)
        c = m.cond(y, m.lr_latitudes(_lat(2, 64, 128)))
        z = m.project(h, c)
        assert (z - h).abs().max() > 1e-2                                       # the projection acts
        x_rec = m.up(y, m.unproject(z, c))
    assert (x_rec - x).abs().max() < 2e-5


def test_deformable_block_with_zero_offsets_is_the_plain_convolution():
    torch.manual_seed(1)
    dc = DeformConv(5, 7)
    x = torch.randn(2, 5, 9, 11)
    plain = F.conv2d(x, dc.weight, dc.bias, padding=1)
    zero = torch.zeros(2, 18, 9, 11)
    assert torch.allclose(deform_conv2d(x, zero, dc.weight, dc.bias, padding=(1, 1)), plain, atol=1e-5)
    assert torch.allclose(deform_conv_sampled(x, zero, dc.weight, dc.bias), plain, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(dc(x), plain, atol=1e-5)                          # fresh offsets head: zero offsets
    assert torch.allclose(dc(x.requires_grad_()), plain, atol=1e-5)              # the training path too


def test_training_deformable_path_equals_torchvision_for_any_offsets():
    torch.manual_seed(2)
    x, w, b = torch.randn(2, 4, 7, 10), torch.randn(6, 4, 3, 3), torch.randn(6)
    off = torch.randn(2, 18, 7, 10) * 3                                          # some taps fall outside
    ref = deform_conv2d(x, off, w, b, padding=(1, 1))
    assert torch.allclose(deform_conv_sampled(x, off, w, b), ref, atol=1e-4)
    assert torch.allclose(deform_conv_taps(x, off, w, b), ref, atol=1e-4)       # the inference path
    dc = DeformConv(4, 6)
    with torch.no_grad():
        dc.weight.copy_(w)
        dc.bias.copy_(b)
        dc.offset.bias.normal_(0, 2)                                            # non-zero offsets
        off2 = dc.offset(x)
        ref2 = deform_conv2d(x, off2, w, b, padding=(1, 1))
        assert torch.allclose(dc(x), ref2, atol=1e-4)                           # DeformConv in inference
        dc.impl = "torchvision"
        assert torch.equal(dc(x), ref2)
    # a shift of exactly one pixel on every tap is the plain convolution of the shifted image
    # (away from column 0, whose left taps then read the image's column 0, not the zero padding)
    one = torch.zeros(2, 9, 2, 7, 10)
    one[:, :, 1] = 1.0                                                          # dx = +1
    shifted = F.pad(x[..., 1:], (0, 1))
    assert torch.allclose(deform_conv_sampled(x, one.flatten(1, 2), w, b)[..., 1:],
                          F.conv2d(shifted, w, b, padding=1)[..., 1:], atol=1e-5)


def test_latitude_conditioning_changes_the_output_with_latitude():
    m = _random_model(3)
    torch.manual_seed(4)
    y = torch.rand(1, 3, 8, 16)
    with torch.no_grad():
        eq = m.upscale(y, torch.zeros(1, 8))
        pole = m.upscale(y, torch.full((1, 8), 1.4))
        again = m.upscale(y, torch.zeros(1, 8))
        south = m.upscale(y, torch.full((1, 8), -1.4))
    assert torch.equal(eq, again)
    assert (eq - pole).abs().mean() > 1e-3 and (pole - south).abs().mean() > 1e-3
    # per row: a band at the equator of a tall ERP is upscaled like the equator rows of the whole
    with torch.no_grad():
        rows = m.upscale(y, row_latitudes(torch.arange(8.0), 8)[None])
    assert (rows[..., :4, :] - rows[..., -4:, :]).abs().mean() > 0                # poles of the one image differ


def _psnr(a, b):
    return 10 * math.log10(1 / float(np.mean((np.asarray(a, np.float64) - b) ** 2)))


def test_jpeg_simulation_matches_a_real_jpeg():
    """Against Pillow (libjpeg, 4:4:4, the same IJG tables): the simulation loses what the file
    loses (PSNR to the original within 0.5 dB; measured 0.05-0.25) and lies far closer to the
    decoded file than the file lies to the original (measured 40 / 44 dB against 32 / 39 dB)."""
    rgb = textured_erp(32, 64, seed=5)
    orig = rgb / 255.0
    for q in (80, 95):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=q, subsampling=0)
        real = np.asarray(Image.open(buf).convert("RGB")).astype(np.float32) / 255
        y = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
        sim = simulate_jpeg(y, float(q))[0].permute(1, 2, 0).numpy()
        assert abs(_psnr(sim, orig) - _psnr(real, orig)) < 0.5
        assert _psnr(sim, real) > _psnr(real, orig) + 4
        assert np.array_equal(np.round(sim * 255), sim * 255) or np.allclose(np.round(sim * 255), sim * 255, atol=1e-3)


def test_simulated_jpeg_passes_gradients_straight_through():
    y = torch.rand(1, 3, 16, 16, requires_grad=True)
    simulate_jpeg(y, 90.0).sum().backward()
    ones = (y.grad - 1).abs() < 1e-3                                            # identity, except where
    assert float(ones.float().mean()) > 0.9 and bool(((y.grad.abs() < 1e-3) | ones).all())   # the decode clamps


def test_algorithm_1_training_graph_and_backflow():
    m = _random_model(5, std=0.02).train()
    hr = torch.rand(2, 3, 64, 64)
    b = {"hr": hr, "lat": _lat(2, 64, 256, 32)}
    tc = {"jpeg_quality": [85, 90], "nojpeg_prob": 0.0, "z_std": 0.0, "backflow_iters": 10, "backflow_alpha": 1.0}
    torch.manual_seed(0)
    L = m.training_losses(b, tc, it=0)                                           # alpha = 1: h is I_P^-1(0, c)
    assert float(L["bpp"]) < 1e-10                                               # so z = I_P(h~, c) = z~ = 0
    torch.manual_seed(0)
    L2 = m.training_losses(b, tc, it=10)                                         # after backflow: the real h
    assert float(L2["bpp"]) > 1e-6
    assert torch.allclose(L["pix"], L2["pix"])                                   # reconstruction uses z~ either way
    y, _ = m.down(hr)
    assert math.isclose(float(L2["guide"]), float(F.mse_loss(y, F.interpolate(
        hr, scale_factor=0.25, mode="bicubic", align_corners=False, antialias=True))), rel_tol=1e-5)
    L2["loss"].backward()
    off = m.stage2[0].F.dconv.offset.weight.grad
    assert off is not None and off.abs().sum() > 0                              # offsets learn through the sampled path
    assert m.cond.lat[0].weight.grad.abs().sum() > 0                             # the latitude head learns


def test_full_erp_paths_wrap_and_reconstruct():
    m = _random_model(6, std=0.02)
    hr = torch.from_numpy(textured_erp(64, 128, seed=6)).permute(2, 0, 1)[None].float() / 255
    lr = downscale_erp(m, hr)
    assert lr.shape == (1, 3, 16, 32) and 0 <= float(lr.min()) and float(lr.max()) <= 1
    # the seam is downscaled like any other column: a rolled ERP gives the rolled LR
    assert torch.allclose(downscale_erp(m, hr.roll(32, -1)), lr.roll(8, -1), atol=1e-5)
    out = upscale_erp(m, lr, band_rows=6, overlap=4)
    whole = upscale_erp(m, lr, band_rows=64)
    assert out.shape == (1, 3, 64, 128)
    assert (out - whole).abs().max() < 0.01                                     # bands ~ one pass (measured 0.002)
    # the seam is upscaled like any other column: a rolled LR gives the rolled HR
    assert (upscale_erp(m, lr.roll(8, -1), band_rows=64) - whole.roll(32, -1)).abs().max() < 1e-4
    # the uint8 output is the float output rounded, band by band
    u8 = upscale_erp(m, lr, band_rows=6, overlap=4, dtype=torch.uint8)
    assert u8.dtype == torch.uint8 and u8.shape == out.shape
    assert torch.equal(u8, (out.clamp(0, 1) * 255 + 0.5).to(torch.uint8))


def test_training_run_resumes_inside_its_schedule(tmp_path):
    from resvr.core.train.loop import lr_schedule, train

    data = tmp_path / "erps"
    data.mkdir()
    for i in range(2):
        Image.fromarray(textured_erp(128, 256, seed=i)).save(data / f"e{i}.png")
    cfg = {"name": "dinn", "model": TINY_DINN,
           "data": {"erp_folder": str(data), "min_erp_height": 64, "synth_count": 0},
           "train": {"iters": 4, "batch": 2, "patch": 32, "points": 64, "lr": 1e-3, "threads": 1, "amp": False,
                     "warmup": 1, "backflow_iters": 2, "jpeg_quality": [85, 95], "log_every": 1,
                     "ckpt_every": 1000, "val_every": 1000, "out": str(tmp_path / "run")}}
    out = train(cfg, root=tmp_path, max_iters=2, progress=False)
    ck = safe_load(out / "latest.pt")
    assert ck["iter"] == 2 and ck["cfg"]["model"]["type"] == "dinn360"
    first = {k: v.clone() for k, v in ck["model"].items()}
    train(cfg, resume=str(out / "latest.pt"), root=tmp_path, progress=False)
    ck = safe_load(out / "latest.pt")
    assert ck["iter"] == 4
    assert any(not torch.equal(ck["model"][k], v) for k, v in first.items())
    assert math.isclose(ck["opt"]["param_groups"][0]["lr"], 1e-3 * lr_schedule(cfg["train"])(4), rel_tol=1e-9)
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[0].startswith("iter,time_s,lr,loss,pix,guide,zloss,jpeg_q") and len(rows) == 5
    assert all(85 <= float(r.split(",")[7]) <= 95 for r in rows[1:])             # qualities drawn in range


def test_cli_round_trip_encode_then_render(tmp_path, capsys):
    """``resvr encode --method dinn360`` writes a standard JPEG at the target bpp with the project's
    XMP; ``resvr render --method dinn360`` shows the right part of the panorama from it."""
    from resvr.core.cli import main
    from resvr.core.jpeg.markers import read_xmp
    from resvr.core.models.weights import export_weights
    from tests.helpers import save_tiny_checkpoint
    from tests.test_cli_learned import _check_view

    hr_png = tmp_path / "pano.png"
    Image.fromarray(textured_erp(128, 256, seed=7)).save(hr_png)
    torch.manual_seed(0)
    ck = save_tiny_checkpoint(tmp_path / "d.pt", TINY_DINN, seed=1)
    w = export_weights(ck, tmp_path / "dinn360.pt", name="dinn-tiny")
    lr = tmp_path / "pano.dinn.jpg"
    assert main(["encode", str(hr_png), "-o", str(lr), "--method", "dinn360", "--weights", str(w), "--bpp", "0.4"]) == 0
    out = capsys.readouterr().out
    with Image.open(lr) as im:
        assert im.format == "JPEG" and im.size == (64, 32)
    bpp = lr.stat().st_size * 8 / (256 * 128)
    assert abs(bpp - 0.4) <= 0.01 and f"{bpp:.4f} bpp" in out
    x = read_xmp(lr)
    assert x["GPano"]["ProjectionType"] == "equirectangular" and x["resvr"]["Method"] == "dinn360"
    assert int(x["resvr"]["HRWidth"]) == 256 and float(x["resvr"]["Quality"]) >= 1
    # an untrained DINN360 is the Haar transform: its LR is the 4x4 box average of the HR image
    hr = np.asarray(Image.open(hr_png).convert("RGB")).astype(np.float64)
    box = hr.reshape(32, 4, 64, 4, 3).mean((1, 3))
    buf = io.BytesIO()
    Image.fromarray(np.floor(box + 0.5).astype(np.uint8)).save(buf, format="JPEG", quality=int(float(x["resvr"]["Quality"])),
                                                         subsampling=0)
    want = np.asarray(Image.open(buf).convert("RGB")).astype(np.float64)
    got = np.asarray(Image.open(lr).convert("RGB")).astype(np.float64)
    assert np.abs(got - want).max() <= 1                                      # the same JPEG of the same LR
    view = tmp_path / "v.png"
    assert main(["render", str(lr), "-o", str(view), "--method", "dinn360", "--weights", str(w), "--yaw", "30",
                 "--pitch", "10", "--fov", "90x60", "--size", "96x64"]) == 0
    _check_view(np.asarray(Image.open(view).convert("RGB")), hr_png, lr, 30, 10, 90, 60, 96, 64, (22.0, 26.0))   # untrained: 4x4 blocks (25.8 / 29.4 dB)
    # existing output is not overwritten; a resvr file of weights is refused with one line
    assert main(["encode", str(hr_png), "-o", str(lr), "--method", "dinn360", "--weights", str(w)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists" in err[0]
