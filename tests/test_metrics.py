"""Metrics: PSNR, WS-PSNR, SSIM, LPIPS plumbing, bpp."""
import math
import warnings

import numpy as np
import pytest
import torch

from resvr.core.metrics import LPIPSMetric, bpp, erp_row_weights, psnr, ssim, ws_psnr


def _img(h=32, w=64, seed=0):
    return np.random.default_rng(seed).random((h, w, 3))


def test_psnr_matches_numpy_formula():
    a, b = _img(seed=0), _img(seed=1)
    want = 10 * np.log10(1.0 / np.mean((a - b) ** 2))
    assert psnr(a, b) == pytest.approx(want, abs=1e-4)
    ta = torch.from_numpy(a).permute(2, 0, 1).float()
    tb = torch.from_numpy(b).permute(2, 0, 1).float()
    assert psnr(ta, tb) == pytest.approx(want, abs=1e-4)
    batched = psnr(torch.stack([ta, ta]), torch.stack([tb, ta]))
    assert batched.shape == (2,) and batched[0] == pytest.approx(want, abs=1e-4) and math.isinf(batched[1])
    u8a, u8b = (a * 255).astype(np.uint8), (b * 255).astype(np.uint8)
    want8 = 10 * np.log10(255.0 ** 2 / np.mean((u8a.astype(float) - u8b) ** 2))
    assert psnr(u8a, u8b) == pytest.approx(want8, abs=1e-6)
    with pytest.raises(ValueError):
        psnr(a, a[:16])


def test_read_only_arrays_are_measured_without_a_warning_and_left_alone():
    """The viewer's cached results are read-only arrays; the metrics read them without torch's
    non-writable-array warning, with the same numbers as writable copies."""
    a, b = (_img(seed=3) * 255).astype(np.uint8), (_img(seed=4) * 255).astype(np.uint8)
    ra, rb = a.copy(), b.copy()
    ra.setflags(write=False)
    rb.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert psnr(ra, rb) == psnr(a, b)
        assert ssim(ra, rb) == pytest.approx(ssim(a, b), abs=1e-12)
    assert np.array_equal(ra, a) and not ra.flags.writeable


def test_ws_psnr_uniform_error_equals_psnr():
    a = _img()
    b = a + 0.01  # the same error everywhere
    assert ws_psnr(a, b) == pytest.approx(psnr(a, b), abs=1e-9)
    assert ws_psnr(a, b) == pytest.approx(40.0, abs=1e-9)


def test_ws_psnr_weights_rows_by_cos_latitude():
    H, W = 8, 16
    w = erp_row_weights(H).numpy()
    lat = (0.5 - (np.arange(H) + 0.5) / H) * np.pi
    assert np.allclose(w, np.cos(lat))
    assert np.allclose(w, w[::-1]) and w.argmax() in (H // 2 - 1, H // 2)
    a = np.zeros((H, W, 3))
    for row in (0, 3):
        b = a.copy()
        b[row] = 0.1
        wmse = w[row] * 0.01 / w.sum()  # one row of squared error 0.01, all columns/channels
        assert ws_psnr(a, b) == pytest.approx(10 * np.log10(1 / wmse), abs=1e-9)
    polar, equatorial = a.copy(), a.copy()
    polar[0] = 0.1
    equatorial[3] = 0.1
    assert psnr(a, polar) == pytest.approx(psnr(a, equatorial))  # plain PSNR cannot tell them apart
    assert ws_psnr(a, polar) > ws_psnr(a, equatorial) + 5  # WS-PSNR down-weights the pole row


def test_ssim():
    a = _img(32, 32)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    noisy = np.clip(a + np.random.default_rng(3).normal(0, 0.2, a.shape), 0, 1)
    s = ssim(a, noisy)
    assert 0 < s < 0.95
    t = torch.from_numpy(a).permute(2, 0, 1)[None].float()
    assert ssim(t, t).shape == (1,)


def test_lpips_plumbing_with_random_network():
    import lpips

    import torch

    torch.manual_seed(0)  # random 'lin' layers can weigh a difference negatively; fix them
    with warnings.catch_warnings():  # torchvision's deprecation notes about lpips' 'pretrained' argument
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(pnet_rand=True, pretrained=False, verbose=False)  # random weights, no download
    m = LPIPSMetric(model=model)
    assert m.available and m.reason is None
    a, b = _img(64, 64, 0).astype(np.float32), _img(64, 64, 1).astype(np.float32)
    assert m(a, a) == pytest.approx(0.0, abs=1e-6)
    d = m(a, b)
    assert isinstance(d, float) and d != 0.0 and np.isfinite(d)


def test_lpips_unavailable_is_reported_not_raised(monkeypatch):
    import lpips

    def boom(*args, **kwargs):
        raise OSError("simulated: no route to download.pytorch.org")

    monkeypatch.setattr(lpips, "LPIPS", boom)
    m = LPIPSMetric()
    assert m.available is False
    assert "LPIPS unavailable" in m.reason and "no route" in m.reason
    assert m(_img(), _img()) is None


def test_bpp(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"\0" * 1000)
    assert bpp(p, 200, 100) == pytest.approx(1000 * 8 / 20000)
    with pytest.raises(ValueError):
        bpp(p, 0, 100)
