"""The learned encoder's file holds round(analysis / table): the coefficients read back from the
written JPEG (jpeglib, not the project's reader) equal an independent numpy JFIF colour transform
and 8x8 DCT of the downsampler's output, divided by the tables stored in the same file and
rounded to the nearest integer (not truncated)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import TINY_HT, TINY_RESVR, save_tiny_checkpoint, textured_erp


def np_jpeg_dct(rgb01: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) in [0, 1] -> (3, H/8, W/8, 8, 8) DCT coefficients as libjpeg computes them
    before quantisation (ITU T.81 A.3.3 / JFIF): Y, Cb, Cr full range, level shift 128, block
    [v, u] with v the vertical and u the horizontal frequency."""
    r, g, b = (rgb01[..., k].astype(np.float64) * 255.0 for k in range(3))
    ycc = np.stack([0.299 * r + 0.587 * g + 0.114 * b,
                    -0.168736 * r - 0.331264 * g + 0.5 * b + 128.0,
                    0.5 * r - 0.418688 * g - 0.081312 * b + 128.0]) - 128.0
    C, H, W = ycc.shape
    blocks = ycc.reshape(C, H // 8, 8, W // 8, 8).transpose(0, 1, 3, 2, 4)   # (C, h, w, y, x)
    n = np.arange(8)
    basis = np.cos((2 * n[None, :] + 1) * n[:, None] * math.pi / 16)        # [freq, position]
    scale = np.where(n == 0, 1 / math.sqrt(2), 1.0)
    basis = basis * scale[:, None] / 2                                       # (1/4) C(u) C(v) split
    return np.einsum("vy,chwyx,ux->chwvu", basis, blocks, basis)


def _encode(tmp_path, cfg, method, qscale, seed=0):
    from resvr.core.encode import LearnedEncoder

    hr = textured_erp(128, 256, seed=11)
    Image.fromarray(hr).save(tmp_path / "hr.png")
    w = save_tiny_checkpoint(tmp_path / f"{method}.pt", cfg, seed=seed)
    enc = LearnedEncoder(method, w)
    out = tmp_path / f"lr_{qscale:g}.jpg"
    enc.encode(tmp_path / "hr.png", out, bpp=None, qscale=qscale)
    # the analysis (the learned downsampler's LR image) for the same HR pixels
    with torch.no_grad():
        lr, _ = enc.codec.analyse(torch.from_numpy(hr).permute(2, 0, 1)[None].float() / 255.0)
    return out, lr[0].permute(1, 2, 0).double().numpy()


@pytest.mark.parametrize("method,cfg,qscale", [("resvr", TINY_RESVR, 1.0), ("resvr", TINY_RESVR, 0.05),
                                               ("hyperthumbnail", TINY_HT, 3.0)])
def test_coefficients_in_the_file_are_the_rounded_analysis(tmp_path, method, cfg, qscale):
    import jpeglib

    out, lr = _encode(tmp_path, cfg, method, qscale)
    im = jpeglib.read_dct(str(out))
    assert (im.Y.shape[1] * 8, im.Y.shape[0] * 8) == (64, 32) and im.Cb.shape == im.Y.shape == im.Cr.shape
    qt = np.asarray(im.qt, np.float64)
    tables = [qt[int(k)] for k in np.asarray(im.quant_tbl_no)[:3]]
    assert list(np.asarray(im.quant_tbl_no)[:3]) == [0, 1, 1]               # one luma, one chroma table
    assert qt.min() >= 1 and qt.max() <= 255
    ratio = np.stack([c / t for c, t in zip(np_jpeg_dct(lr), tables)])     # (3, h, w, 8, 8)
    want = np.round(ratio).clip(-1023, 1023)                                # baseline AC range
    want[..., 0, 0] = np.round(ratio[..., 0, 0]).clip(-1024, 1023)          # and DC range
    got = np.stack([np.asarray(c, np.float64) for c in (im.Y, im.Cb, im.Cr)])
    # float32 (encoder) against float64 (here): a ratio within 1e-3 of a half may round either way
    frac = np.abs(ratio - np.floor(ratio) - 0.5)
    decisive = frac > 1e-3
    assert decisive.mean() > 0.99
    np.testing.assert_array_equal(got[decisive], want[decisive])
    assert np.abs(got - want).max() <= 1
    # not a vacuous comparison: many coefficients are non-zero, many were rounded away from zero
    # (truncation would differ there), and the tables are not all ones unless asked to be
    assert (got != 0).mean() > 0.1
    assert ((np.abs(ratio) - np.floor(np.abs(ratio)) > 0.5) & decisive).sum() > 100


def _zigzag_natural():
    """ITU T.81 figure A.6: the k-th zig-zag coefficient's (row, col) in the 8x8 block."""
    order = []
    for s in range(15):
        diag = [(i, s - i) for i in range(8) if 0 <= s - i < 8]
        order += diag if s % 2 else diag[::-1]
    return order


def test_quantise_clamps_to_baseline_ranges_and_defaults_to_qscale_one():
    """Coefficients beyond what a baseline JPEG can hold are clamped (DC to -1024..1023, AC to
    -1023..1023), placed from zig-zag into natural order; quantise(maps) means qscale 1."""
    from resvr.core.models.pipelines import build_model

    torch.manual_seed(0)
    codec = build_model(TINY_RESVR).codec
    rng = np.random.default_rng(5)
    maps = rng.normal(0, 40, (1, 3, 64, 2, 3))
    maps[0, :, 0, 0, 0] = -5000.0      # DC far below the range
    maps[0, :, 0, 0, 1] = 5000.0       # and above
    maps[0, :, 1, 1, 0] = -5000.0      # an AC coefficient below
    maps[0, :, 2, 1, 1] = 5000.0       # and above
    maps = torch.from_numpy(maps).float()
    Y, Cb, Cr, qt = codec.quantise(maps, qscale=0.01)                     # tables clamp to 1 here
    assert qt.shape == (2, 8, 8) and qt.dtype == np.uint16
    zz = _zigzag_natural()
    for c, (coef, table) in enumerate(((Y, qt[0]), (Cb, qt[1]), (Cr, qt[1]))):
        assert coef.shape == (2, 3, 8, 8) and coef.dtype == np.int16
        for k, (i, j) in enumerate(zz):
            want = np.round(maps[0, c, k].double().numpy() / float(table[i, j]))
            want = want.clip(-1024, 1023) if k == 0 else want.clip(-1023, 1023)
            np.testing.assert_array_equal(coef[..., i, j], want, err_msg=f"component {c} zig-zag {k}")
    assert Y[0, 0, 0, 0] == -1024 and Y[0, 1, 0, 0] == 1023 and Y[1, 0, 0, 1] == -1023 and Y[1, 1, 1, 0] == 1023
    # the default is qscale 1, not some other scale of the tables
    for a, b in zip(codec.quantise(maps), codec.quantise(maps, qscale=1.0)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(codec.quantise(maps)[3], qt)


def test_tables_reach_both_ends_of_the_baseline_range_and_255_is_written(tmp_path):
    """The table boundary (issue 16's surviving mutant ``clamp(1, 254)``): QPM outputs around and
    beyond 1 and 255 give round-then-clip(1, 255) entries, an entry of exactly 255 included, and a
    file written with such a table holds 255 (jpeglib reads it back)."""
    import jpeglib

    from resvr.core.jpeg.container import write_jpeg_dct
    from resvr.core.models.pipelines import build_model

    torch.manual_seed(0)
    codec = build_model(TINY_RESVR).codec
    raw = np.linspace(-3.0, 400.0, 2 * 64).reshape(1, 2, 64)
    raw[0, 0, :6] = [0.2, 0.6, 1.4, 254.4, 254.6, 255.4]                # both boundaries, rounded first
    class Fixed(torch.nn.Module):   # the QPM's output, chosen
        def forward(self, maps, qscale):
            return torch.from_numpy(raw).float()

    codec.qpm = Fixed()
    t = codec.tables(torch.zeros(1, 3, 64, 1, 1), 1.0, training=False).double().numpy()
    want = np.clip(np.round(raw.astype(np.float32)), 1, 255)
    np.testing.assert_array_equal(t, want)
    assert t[0, 0, :6].tolist() == [1, 1, 1, 254, 255, 255] and (t == 255).sum() > 10 and t.min() == 1
    Y, Cb, Cr, qt = codec.quantise(torch.zeros(1, 3, 64, 1, 1))
    assert qt.max() == 255 and qt.min() == 1
    write_jpeg_dct(tmp_path / "t.jpg", Y, Cb, Cr, qt)
    np.testing.assert_array_equal(jpeglib.read_dct(str(tmp_path / "t.jpg")).qt, qt)
