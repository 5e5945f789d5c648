"""DINN360's encoder: the forward (deformable downscaling) network, then a standard JPEG of its LR
image at the target bpp (the baseline's quality search, ``baseline.lr_jpeg``)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ..device import pick_device
from ..errors import BadInput
from ..imageio import load_image, write_bytes_atomic
from ..models.weights import load_weights
from .baseline import lr_jpeg
from .encoders import register_encoder
from .learned import to_multiple


@register_encoder("dinn360")
class DINNEncoder:
    """DINN360's encoder: the forward (deformable downscaling) network gives the LR ERP (wrapped in
    longitude), rounded to 8 bits and stored as a standard baseline JPEG (4:4:4, IJG tables, the
    same Pillow path as the 'jpeg' baseline) whose quality meets ``bpp`` by the baseline's
    bisection (``baseline.lr_jpeg``); GPano + project XMP with method=dinn360."""

    knob = "quality"   # the rate knob besides bpp (LearnedEncoder's is qscale)

    def __init__(self, method: str = "dinn360", weights=None, device="cpu"):
        self.method, self.device = method, pick_device(device)
        self.model, self.info = load_weights(method, weights, self.device)

    @torch.no_grad()
    def downscale(self, hr_uint8: np.ndarray, name="image") -> np.ndarray:
        """HR (H, W, 3) uint8 -> LR uint8 (H'/4, W'/4, 3), H' and W' the nearest multiples of 32."""
        from ..models.dinn360 import downscale_erp

        hr = torch.from_numpy(hr_uint8).permute(2, 0, 1)[None].float().div(255).to(self.device)
        hr = to_multiple(hr, self.model.multiple, name)
        lr = downscale_erp(self.model, hr)[0]
        return lr.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()

    def encode(self, hr_path, out, bpp: float | None = 0.3, quality: int | None = None,
               overwrite: bool = False, warn=None) -> dict:
        hr_path, out = Path(hr_path), Path(out)
        if out.exists() and not overwrite:
            raise BadInput(f"{out}: output exists; pass --overwrite to replace it")
        hr = load_image(hr_path)
        H, W = hr.shape[:2]
        lr = self.downscale(hr, str(hr_path))
        xmp = dict(width=lr.shape[1], height=lr.shape[0], method=self.method, scale=self.model.scale, hr_width=W,
                   hr_height=H, model=self.info.get("name"), model_version=str(self.info.get("version")))
        q, data, got = lr_jpeg(lr, xmp, W * H, bpp, quality, hr_path, warn or warnings.warn)
        write_bytes_atomic(out, data, overwrite)
        return {"path": str(out), "method": self.method, "quality": q, "bpp": got, "bytes": len(data),
                "lr_size": (lr.shape[1], lr.shape[0]), "hr_size": (W, H)}
