"""Fixture panoramas and small utilities for the viewer tests (no shared data is read)."""
from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image


def make_pano(width: int = 512, height: int = 256, seed: int = 0) -> np.ndarray:
    """A smooth, detailed ERP (H, W, 3) uint8 that is continuous across lon +-180 degrees.

    Sums of sinusoids with integer longitude frequencies (hence periodic in lon) and a few
    latitude terms, a different mix per channel, plus a bright meridian stripe at lon = 90 deg.
    """
    rng = np.random.default_rng(seed)
    u = (np.arange(width) + 0.5) / width
    v = (np.arange(height) + 0.5) / height
    lon = (u - 0.5) * 2 * math.pi
    lat = (0.5 - v) * math.pi
    L, T = np.meshgrid(lon, lat)
    out = np.zeros((height, width, 3))
    for c in range(3):
        acc = np.zeros_like(L)
        for _ in range(6):
            k = rng.integers(1, 9)
            m = rng.uniform(1, 6)
            ph1, ph2 = rng.uniform(0, 2 * math.pi, 2)
            acc += rng.uniform(0.3, 1.0) * np.sin(k * L + ph1) * np.cos(m * T + ph2)
        out[..., c] = acc
    out = (out - out.min()) / (out.max() - out.min())
    stripe = np.exp(-((np.angle(np.exp(1j * (L - math.pi / 2)))) / 0.05) ** 2)
    out = np.clip(out * 0.85 + 0.15 * stripe[..., None], 0, 1)
    return np.round(out * 255).astype(np.uint8)


def save(path, arr, **kw):
    Image.fromarray(arr).save(path, **kw)
    return path


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB; uint8 arrays are in [0, 255], float arrays in [0, 1]."""
    a = np.asarray(a)
    b = np.asarray(b)
    a = a / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)
    b = b / 255.0 if b.dtype == np.uint8 else b.astype(np.float64)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def torch_view(erp: np.ndarray, view, mode: str = "bilinear") -> np.ndarray:
    """The same view rendered by resvr.core (what `resvr render --method bilinear` does)."""
    from resvr.core.sampling import render_view

    t = torch.from_numpy(erp).permute(2, 0, 1).contiguous()
    return render_view(t, view, mode).clamp(0, 1).permute(1, 2, 0).numpy()


def make_bundle(folder, hr_w: int = 512, hr_h: int = 256, scale: int = 4, seed: int = 1):
    """A comparison bundle: HR reference PNG, three LR JPEGs (box-downsampled), bundle.yaml."""
    from resvr.core.bundle import write_bundle_yaml

    folder.mkdir(parents=True, exist_ok=True)
    hr = make_pano(hr_w, hr_h, seed)
    lr = np.asarray(Image.fromarray(hr).resize((hr_w // scale, hr_h // scale), Image.Resampling.BOX))
    save(folder / "pano.png", hr)
    for suffix, q in ((".jpeg.jpg", 75), (".resvr.jpg", 85), (".ht.jpg", 80)):
        save(folder / f"pano{suffix}", lr, quality=q)
    write_bundle_yaml(folder, "pano", (hr_w, hr_h), scale,
                      {"jpeg": "pano.jpeg.jpg", "resvr": "pano.resvr.jpg", "hyperthumbnail": "pano.ht.jpg"},
                      reference="pano.png")
    return folder, hr, lr


def rand_lpips():
    """LPIPS with random weights: plumbing only (the real weights need internet)."""
    import warnings

    import lpips

    from resvr.core.metrics import LPIPSMetric

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(pnet_rand=True, pretrained=False, verbose=False)
    return LPIPSMetric(model=model)
