"""Learned JPEG: downsampler -> 8x8 DCT -> QPM tables -> quantisation -> entropy models (rate).

``forward`` is the training graph (uniform-noise relaxation, factorised entropy models give the
rate). ``compress`` is the file-producing path: true rounding, int16 coefficients and uint16
tables in natural 8x8 order, ready for ``core.jpeg.container``. The JPEG arithmetic always runs
in float32, outside any autocast (bf16 cannot hold DCT coefficients to a unit).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..jpeg.transforms import coeff_maps, from_zigzag, maps_to_rgb, noise_round, to_zigzag
from ..jpeg.tables import quality_tables
from .downsampler import Downsampler


class QPM(nn.Module):
    """Quantisation-table prediction: a per-block MLP over the 64 zig-zag coefficients, averaged
    over blocks, ReLU + 1.49 so that every rounded entry is >= 1 (HyperThumbnail's QPM).
    One table for luma, one shared by Cb and Cr. Initialised near the IJG tables at ``init_quality``."""

    def __init__(self, hidden: int = 192, init_quality: float = 90.0):
        super().__init__()

        def mlp():
            m = nn.Sequential(nn.Linear(64, hidden), nn.LeakyReLU(0.1, True), nn.Linear(hidden, hidden),
                              nn.LeakyReLU(0.1, True), nn.Linear(hidden, 64))
            if not m[-1].weight.is_meta:  # on the meta device (weights.load_weights' shape check)
                # normal_ would import torch._dynamo, 1.2 s of every process's start-up
                nn.init.normal_(m[-1].weight, std=1e-3)
            return m

        self.mlp_y, self.mlp_c = mlp(), mlp()
        init = to_zigzag(quality_tables(init_quality)) - 1.49
        with torch.no_grad():
            self.mlp_y[-1].bias.copy_(init[0].clamp_min(0.05))
            self.mlp_c[-1].bias.copy_(init[1].clamp_min(0.05))

    def forward(self, maps: torch.Tensor, qscale: float | torch.Tensor = 1.0) -> torch.Tensor:
        """maps (B, 3, 64, h, w) zig-zag coefficients -> tables (B, 2, 64), continuous, >= 1."""
        B = maps.shape[0]
        y = maps[:, 0].flatten(2).transpose(1, 2) / 64.0              # (B, hw, 64)
        c = maps[:, 1:].permute(0, 1, 3, 4, 2).reshape(B, -1, 64) / 64.0
        ty = torch.relu(self.mlp_y(y)).mean(1) + 1.49
        tc = torch.relu(self.mlp_c(c)).mean(1) + 1.49
        return torch.stack((ty, tc), 1) * qscale


def _per_channel(tables: torch.Tensor) -> torch.Tensor:
    """(B, 2, 64) -> (B, 3, 64, 1, 1) for Y, Cb, Cr."""
    return tables[:, [0, 1, 1], :, None, None]


class LearnedJPEG(nn.Module):
    def __init__(self, channels: int = 64, levels: int = 2, scale: int = 4, qpm_hidden: int = 192,
                 init_quality: float = 90.0, entropy: bool = True):
        """``entropy=False`` leaves out the entropy models (training only: the rate of ``forward``
        and ``aux_loss``), and with them the import of compressai; ``compress``-side methods
        (``analyse``, ``quantise``) do not need them."""
        super().__init__()
        self.scale = scale
        self.down = Downsampler(channels, levels, scale)
        self.qpm = QPM(qpm_hidden, init_quality)
        if entropy:
            from compressai.entropy_models import EntropyBottleneck

            self.eb_y = EntropyBottleneck(64)
            self.eb_c = EntropyBottleneck(64)
        self.train_qscale = 1.0   # set per iteration by the training loop (rate jitter)

    @property
    def multiple(self) -> int:
        return max(self.down.multiple, 8 * self.scale)

    def tables(self, maps, qscale=1.0, training=False):
        t = noise_round(self.qpm(maps, qscale), training)
        return t.clamp(1.0, 255.0)

    def forward(self, hr: torch.Tensor, qscale: float | None = None) -> dict:
        """Training graph. hr (B, 3, H, W) in [0, 1]."""
        if qscale is None:
            qscale = self.train_qscale if self.training else 1.0
        lr = self.down(hr)
        with torch.autocast(hr.device.type, enabled=False):
            lr = lr.float()
            maps = coeff_maps(lr)                                       # (B, 3, 64, h, w)
            t = _per_channel(self.tables(maps, qscale, self.training))
            q = maps / t
            B = q.shape[0]
            qy, ly = self.eb_y(q[:, 0].contiguous())
            qc, lc = self.eb_c(q[:, 1:].flatten(0, 1).contiguous())
            q_hat = torch.cat((qy[:, None], qc.view(B, 2, *qc.shape[1:])), 1)
            deq = q_hat * t
            lr_hat = maps_to_rgb(deq).clamp(0.0, 1.0)
            hr_pixels = B * hr.shape[-2] * hr.shape[-1]
            bits = -(torch.log2(ly.clamp_min(1e-9)).sum() + torch.log2(lc.clamp_min(1e-9)).sum())
        return {"lr": lr, "lr_hat": lr_hat, "deq": deq, "bpp": bits / hr_pixels}

    def aux_loss(self) -> torch.Tensor:
        return self.eb_y.loss() + self.eb_c.loss()

    @torch.no_grad()
    def analyse(self, hr: torch.Tensor):
        """Inference-side analysis: the LR image and its coefficient maps (float32)."""
        lr = self.down(hr).float().clamp(0.0, 1.0)   # a JPEG holds pixels in [0, 1] only
        return lr, coeff_maps(lr)

    @torch.no_grad()
    def quantise(self, maps: torch.Tensor, qscale: float = 1.0):
        """maps (1, 3, 64, h, w) -> (Y, Cb, Cr int16 (h, w, 8, 8) natural order, qt uint16 (2, 8, 8))."""
        t = self.tables(maps, qscale, training=False)                     # (1, 2, 64) rounded
        q = torch.round(maps / _per_channel(t))
        q[:, :, 0] = q[:, :, 0].clamp(-1024, 1023)                         # baseline JPEG ranges
        q[:, :, 1:] = q[:, :, 1:].clamp(-1023, 1023)
        blocks = from_zigzag(q[0].permute(0, 2, 3, 1))                   # (3, h, w, 8, 8)
        qt = from_zigzag(t[0])                                            # (2, 8, 8)
        Y, Cb, Cr = (b.to(torch.int16).cpu().numpy() for b in blocks)
        return Y, Cb, Cr, qt.to(torch.int32).cpu().numpy().astype("uint16")


def dequantised_maps(Y, Cb, Cr, qt) -> torch.Tensor:
    """Coefficients read from a file -> dequantised zig-zag maps (1, 3, 64, h, w) float32.
    ``qt``: the tables in component order (``read_jpeg_dct``): (2, 8, 8) Y's and the shared chroma
    table, or (3, 8, 8) Y's, Cb's and Cr's."""
    import numpy as np

    qt = torch.from_numpy(np.asarray(qt, dtype=np.float32))
    if qt.ndim != 3 or qt.shape[0] not in (2, 3) or qt.shape[1:] != (8, 8):
        raise ValueError(f"quantisation tables must be (2 or 3, 8, 8), got {tuple(qt.shape)}")
    comps = []
    for arr, t in ((Y, qt[0]), (Cb, qt[1]), (Cr, qt[-1])):
        c = torch.from_numpy(np.asarray(arr, dtype=np.float32)) * t       # (h, w, 8, 8)
        comps.append(to_zigzag(c).permute(2, 0, 1))
    return torch.stack(comps)[None]
