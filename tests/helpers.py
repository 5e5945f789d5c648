"""Small shared fixtures for the core tests (tiny models, synthetic panoramas)."""
from __future__ import annotations

import math

import numpy as np
import torch

TINY_RESVR = {"type": "resvr", "scale": 4, "shape": "ssr",
              "downsampler": {"channels": 8, "levels": 1, "qpm_hidden": 16, "init_quality": 95},
              "vr": {"enc_channels": 8, "enc_blocks": 1, "amp": 16, "hidden": 16, "mlp_layers": 1}}
TINY_HT = {"type": "hyperthumbnail", "scale": 4,
           "downsampler": {"channels": 8, "levels": 1, "qpm_hidden": 16, "init_quality": 95},
           "ht": {"feat": 8, "freq_blocks": 1, "dec_feat": 8, "dec_blocks": 1}}


def textured_erp(h: int = 128, w: int = 256, seed: int = 0) -> np.ndarray:
    """A smooth-but-detailed uint8 ERP that is continuous across the seam (periodic in x)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    lon = (x + 0.5) / w * 2 * math.pi
    lat = (0.5 - (y + 0.5) / h) * math.pi
    img = np.zeros((h, w, 3))
    for c in range(3):
        for _ in range(6):
            k = rng.integers(1, 12)
            f = rng.uniform(1, 10)
            ph = rng.uniform(0, 2 * math.pi)
            img[..., c] += np.sin(k * lon + f * lat + ph) * rng.uniform(0.2, 1.0)
    img = (img - img.min()) / (img.max() - img.min())
    return (img * 220 + 20).astype(np.uint8)


def save_tiny_checkpoint(path, cfg: dict, seed: int = 0):
    from resvr.core.models.pipelines import build_model

    torch.manual_seed(seed)
    m = build_model(cfg)
    torch.save({"model": m.state_dict(), "cfg": {"model": cfg}, "iter": 0}, path)
    return path
