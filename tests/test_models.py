"""Learned models on tiny configs: shapes, gradients, codec files, chunking, overfitting."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image

from resvr.core.geometry import View
from resvr.core.jpeg.transforms import coeff_maps, dct8, idct8, maps_to_rgb, ZIGZAG
from resvr.core.models.pipelines import build_model
from resvr.core.train.dps import collate, dps_sample
from tests.helpers import TINY_HT, TINY_RESVR, save_tiny_checkpoint, textured_erp


def _batch(erp_u8, n=256, p=64, b=2, seed=0):
    rng = random.Random(seed)
    erp = torch.from_numpy(erp_u8).permute(2, 0, 1).contiguous()
    return collate([dps_sample(erp, rng.randrange(erp.shape[-1]), rng.randint(0, erp.shape[-2] - p), p, n, rng)
                    for _ in range(b)], n)


def test_dct_is_orthonormal_and_matches_formula():
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    c = dct8(x)[0, 0, 0, 0]
    u, v = 2, 5
    i = torch.arange(8, dtype=torch.float64)
    au, av = (np.sqrt(1 / 8) if u == 0 else np.sqrt(2 / 8)), (np.sqrt(1 / 8) if v == 0 else np.sqrt(2 / 8))
    ref = au * av * (x[0, 0] * torch.cos((2 * i[:, None] + 1) * u * np.pi / 16) * torch.cos((2 * i[None, :] + 1) * v * np.pi / 16)).sum()
    assert float(c[u, v]) == pytest.approx(float(ref), abs=1e-10)
    assert torch.allclose(idct8(dct8(x)), x, atol=1e-10)
    assert ZIGZAG[:6].tolist() == [0, 1, 8, 16, 9, 2] and sorted(ZIGZAG.tolist()) == list(range(64))


@pytest.mark.parametrize("cfg", [TINY_RESVR, TINY_HT], ids=["resvr", "hyperthumbnail"])
def test_shapes_and_finite_gradients_reach_every_part(cfg):
    torch.manual_seed(0)
    m = build_model(cfg).train()
    batch = _batch(textured_erp())
    out = m(batch)
    assert out["lr_hat"].shape == (2, 3, 16, 16)
    if cfg["type"] == "resvr":
        assert out["pred"].shape == (2, 256, 3)
        loss = (out["pred"] - batch["gt"]).abs().mean()
    else:
        assert out["hr_hat"].shape == (2, 3, 64, 64)
        loss = (out["hr_hat"] - batch["hr"]).abs().mean()
    (loss + out["bpp"] * 0.01).backward()
    for name, p in m.named_parameters():
        if name.endswith("quantiles"):
            continue
        assert p.grad is not None, f"no gradient reaches {name}"
        assert torch.isfinite(p.grad).all(), name
    # the pixel loss alone reaches the downsampler through the JPEG relaxation
    m.zero_grad()
    out = m(batch)
    pix = (out["pred"] - batch["gt"]).abs().mean() if cfg["type"] == "resvr" else (out["hr_hat"] - batch["hr"]).abs().mean()
    pix.backward()
    g = m.codec.down.tail.weight.grad
    assert g is not None and float(g.abs().sum()) > 0


def test_untrained_downsampler_is_bicubic_and_codec_roundtrip_is_near_lossless_at_fine_tables():
    m = build_model(TINY_RESVR).eval()
    hr = torch.from_numpy(textured_erp(64, 128)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        out = m.codec(hr, qscale=0.01)
    from resvr.core.models.downsampler import bicubic_down

    assert torch.allclose(out["lr"], bicubic_down(hr), atol=1e-6)
    assert float((out["lr_hat"] - bicubic_down(hr).clamp(0, 1)).abs().max()) < 2.5 / 255
    assert torch.allclose(maps_to_rgb(coeff_maps(hr)), hr, atol=1e-4)


def test_encoded_file_is_standard_jpeg_at_target_bpp_and_decodes_like_the_model(tmp_path):
    from resvr.core.encode import LearnedEncoder
    from resvr.core.jpeg.container import read_jpeg_dct
    from resvr.core.models.codec import dequantised_maps

    hr = textured_erp(128, 256)
    Image.fromarray(hr).save(tmp_path / "hr.png")
    w = save_tiny_checkpoint(tmp_path / "w.pt", TINY_RESVR)
    res = LearnedEncoder("resvr", w).encode(tmp_path / "hr.png", tmp_path / "lr.jpg", bpp=0.3)
    size = (tmp_path / "lr.jpg").stat().st_size
    assert abs(size * 8 / (256 * 128) - 0.3) <= 0.01 and res["bpp"] == pytest.approx(size * 8 / (256 * 128))
    with Image.open(tmp_path / "lr.jpg") as im:
        assert im.format == "JPEG" and im.size == (64, 32)
        pil = np.asarray(im.convert("RGB")).astype(np.float64)
    Y, Cb, Cr, qt = read_jpeg_dct(tmp_path / "lr.jpg")[:4]
    ours = maps_to_rgb(dequantised_maps(Y, Cb, Cr, qt))[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255
    # libjpeg's integer IDCT and colour conversion round differently from float: a few LSB at most
    assert np.abs(pil - ours).max() <= 3.0
    assert np.abs(pil - ours).mean() < 0.6
    with pytest.raises(Exception, match="exists"):
        LearnedEncoder("resvr", w).encode(tmp_path / "hr.png", tmp_path / "lr.jpg", bpp=0.3)


def _retabled_jpeg(path, src, tables, numbers):
    """``src``'s coefficients rewritten with other quantisation tables and table numbers per component
    (a file of one table for all three, chroma first, or three tables); -> the tables written."""
    import jpeglib

    im = jpeglib.read_dct(str(src))
    qt = np.stack([im.qt[0], im.qt[1], np.maximum(im.qt[1] // 2, 1)])[list(tables)].astype(np.uint16)
    out = jpeglib.from_dct(im.Y, im.Cb, im.Cr, qt=qt)
    out.quant_tbl_no = np.array(numbers)
    out.samp_factor = np.array([[1, 1]] * 3)
    out.write_dct(str(path))
    return qt


@pytest.mark.parametrize("tables,numbers", [((0,), (0, 0, 0)),          # one table for all (qt[1] absent)
                                            ((1, 0), (1, 0, 0)),        # chroma's table numbered 0
                                            ((0, 1, 2), (0, 1, 2))])    # Cb and Cr tables differ
def test_dequantised_maps_follow_each_components_table(tmp_path, tables, numbers):
    """Any YCbCr JPEG's tables, as its header assigns them: the dequantised maps turned back into
    pixels equal libjpeg's own decode (Pillow) of the same file, within IDCT rounding."""
    from resvr.core.jpeg.container import read_jpeg_dct
    from resvr.core.models.codec import dequantised_maps

    Image.fromarray(textured_erp(32, 64)).save(tmp_path / "src.jpg", quality=85, subsampling=0)
    qt = _retabled_jpeg(tmp_path / "x.jpg", tmp_path / "src.jpg", tables, numbers)
    Y, Cb, Cr, q = read_jpeg_dct(tmp_path / "x.jpg")
    assert np.array_equal(q[0], qt[numbers[0]]) and np.array_equal(q[1], qt[numbers[1]])
    assert np.array_equal(q[-1], qt[numbers[2]]) and len(q) == (2 if numbers[1] == numbers[2] else 3)
    with Image.open(tmp_path / "x.jpg") as im:
        pil = np.asarray(im.convert("RGB")).astype(np.float64)
    ours = maps_to_rgb(dequantised_maps(Y, Cb, Cr, q))[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255
    assert np.abs(pil - ours).max() <= 3.0 and np.abs(pil - ours).mean() < 0.6


def test_hyperthumbnail_renders_a_single_table_jpeg(tmp_path, capsys):
    """A 4:4:4 JPEG with one quantisation table (no qt[1]) renders through the CLI like any other."""
    from resvr.core.cli import main

    Image.fromarray(textured_erp(32, 64)).save(tmp_path / "src.jpg", quality=85, subsampling=0)
    _retabled_jpeg(tmp_path / "one.jpg", tmp_path / "src.jpg", (0,), (0, 0, 0))
    w = save_tiny_checkpoint(tmp_path / "ht.pt", TINY_HT)
    rc = main(["render", str(tmp_path / "one.jpg"), "-o", str(tmp_path / "v.png"), "--method", "hyperthumbnail",
               "--weights", str(w), "--yaw", "0", "--pitch", "0", "--size", "32x24"])
    assert rc == 0, capsys.readouterr().err
    with Image.open(tmp_path / "v.png") as im:
        assert im.size == (32, 24) and np.isfinite(np.asarray(im, np.float64)).all()


def test_resvr_view_is_identical_whole_or_in_chunks(tmp_path):
    from resvr.core.methods import ResVRMethod

    Image.fromarray(textured_erp(32, 64)).save(tmp_path / "lr.png")
    w = save_tiny_checkpoint(tmp_path / "w.pt", TINY_RESVR, seed=3)
    m = ResVRMethod(weights=w, fast=False)
    m.prepare(tmp_path / "lr.png")
    view = View(170, 40, 100, 80, 48, 40)
    m.renderer.chunk = 1 << 20
    whole = m.render(view)
    m.renderer.chunk = 7 * 48  # 7 rows a chunk
    parts = m.render(view)
    assert whole.shape == (40, 48, 3)
    np.testing.assert_array_equal(whole, parts)


def test_resvr_starts_as_bilinear_and_wraps_the_seam(tmp_path):
    """With the MLP output zeroed, eq. 2 reduces to the bilinear skip F_B: equal to bilinear
    sampling of the LR ERP with wrap, also across the seam and over a pole."""
    from resvr.core.methods import ResVRMethod, get_method

    Image.fromarray(textured_erp(32, 64)).save(tmp_path / "lr.png")
    w = save_tiny_checkpoint(tmp_path / "w.pt", TINY_RESVR)
    m = ResVRMethod(weights=w, fast=False)
    torch.nn.init.zeros_(m.vr.decoder[-1].weight)
    m.prepare(tmp_path / "lr.png")
    bil = get_method("bilinear")
    bil.prepare(tmp_path / "lr.png")
    for view in (View(180, 0, 90, 90, 40, 40), View(0, 90, 90, 90, 40, 40)):
        a, b = m.render(view), bil.render(view)
        assert np.abs(a - b).max() < 1e-4, view


def test_tiny_model_overfits_one_image():
    torch.manual_seed(0)
    m = build_model(TINY_RESVR).train()
    batch = _batch(textured_erp(64, 128, seed=5), n=512, p=64, b=1, seed=1)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(250):
        out = m(batch)
        loss = (out["pred"] - batch["gt"]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert np.mean(losses[-10:]) < np.mean(losses[:5]) / 4, (losses[:5], losses[-10:])


def test_one_pole_reflection_rule_everywhere():
    """geometry.erp_reflect is the rule; sampling.pole_band, vr.neighbours and the renderer's tile
    input all follow it. Checked against an independent numpy statement of the rule: the row k
    beyond a pole is row k-1 on this side, seen from the other side (+180 degrees = W/2 columns)."""
    from resvr.core.geometry import erp_reflect
    from resvr.core.models.vr import neighbours
    from resvr.core.sampling import pole_band

    H, W = 6, 10
    iy, ix = np.meshgrid(np.arange(-3, H + 3), np.arange(-W, 2 * W), indexing="ij")
    top, bot = iy < 0, iy >= H
    want_y = np.where(top, -iy - 1, np.where(bot, 2 * H - 1 - iy, iy))
    want_x = np.mod(ix + np.where(top | bot, W // 2, 0), W)
    gy, gx = erp_reflect(torch.from_numpy(iy), torch.from_numpy(ix), H, W)
    np.testing.assert_array_equal(gy.numpy(), want_y)
    np.testing.assert_array_equal(gx.numpy(), want_x)
    erp = torch.arange(H * W).view(1, H, W)
    band = pole_band(erp, -3, H + 3, pad=2)[0].numpy()
    cols = np.arange(-2, W + 2)
    np.testing.assert_array_equal(band, erp[0].numpy()[want_y[:, :1], np.mod(cols + np.where(
        (np.arange(-3, H + 3) < 0) | (np.arange(-3, H + 3) >= H), W // 2, 0)[:, None], W)])
    # a query at the top edge (y = 0, half a pixel above row 0's centre), at column 2's centre: its
    # upper neighbours (row -1, columns 2 and 3) are row 0 across the pole, columns 7 and 8
    idx = neighbours(torch.tensor([[2.5]]), torch.tensor([[0.0]]), H, W, True)[0][0, 0].numpy()
    assert idx.tolist() == [(2 + W // 2) % W, (3 + W // 2) % W, 2, 3]


@pytest.mark.parametrize("method", ["resvr", "hyperthumbnail", "dinn360"])
def test_rendering_does_not_import_what_only_training_needs(tmp_path, method):
    """Loading weights for inference builds only the part inference needs: a learned render with
    the shipped weights never imports compressai (the entropy models are training-only),
    torchvision (DINN360's reference deformable convolution) or torch._dynamo (which a
    ``normal_`` on the meta device pulls in); together they cost seconds of start-up."""
    import subprocess
    import sys

    Image.fromarray(textured_erp(32, 64)).save(tmp_path / "lr.jpg", quality=95, subsampling=0)  # 4:4:4, as HT needs
    code = ("import sys; from resvr.core.cli import main; "
            f"rc = main(['render', {str(tmp_path / 'lr.jpg')!r}, '-o', {str(tmp_path / 'v.png')!r}, '--method', "
            f"{method!r}, '--yaw', '0', '--pitch', '0', '--size', '32x24', '-q']); "
            "print(rc, *(m in sys.modules for m in ('compressai', 'torchvision', 'torch._dynamo')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.stdout.split() == ["0", "False", "False", "False"], r.stdout + r.stderr
    assert (tmp_path / "v.png").exists()
