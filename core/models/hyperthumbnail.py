"""HyperThumbnail's decoder: a frequency feature extractor on the dequantised DCT coefficients
(192 channels = 64 zig-zag frequencies x Y, Cb, Cr on the 8x8-block grid), upsampled x8 to the
LR grid, then an EDSR-style decoder on [LR RGB (+) features] -> the 4x HR image.

Assumption (CPU budget): the decoder predicts a residual over the bicubic x4 upsample of the LR
image (last conv zero-initialised); the paper's EDSR adds a dataset mean instead.
For a full ERP, ``decode_erp`` pads two DCT blocks circularly in longitude so the seam is decoded
like any other column; ``decode_erp_bands`` (the inference path) decodes a large ERP in bands of
DCT-block rows to uint8.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..device import autocast
from .blocks import ResStack, Upsampler, conv3

BAND_PIXELS = 3 << 20    # HR pixels per decoded band, context included (bounded working memory)


class FrequencyExtractor(nn.Module):
    def __init__(self, feat: int = 24, blocks: int = 16, out_range: float = 10.0):
        super().__init__()
        self.body = ResStack(192, feat, blocks)
        self.up = nn.Sequential(Upsampler(feat, 8), conv3(feat, feat))
        self.out_range = out_range

    def forward(self, deq: torch.Tensor) -> torch.Tensor:
        """deq (B, 3, 64, h/8, w/8) -> features (B, feat, h, w)."""
        x = deq.flatten(1, 2) / 64.0
        return self.up(self.body(x)) / self.out_range


class HTDecoder(nn.Module):
    def __init__(self, feat: int = 24, freq_blocks: int = 16, dec_feat: int = 24, dec_blocks: int = 16, scale: int = 4):
        super().__init__()
        self.scale = scale
        self.freq = FrequencyExtractor(feat, freq_blocks)
        self.body = ResStack(3 + feat, dec_feat, dec_blocks)
        self.up = Upsampler(dec_feat, scale)
        self.tail = conv3(dec_feat, 3)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, lr: torch.Tensor, deq: torch.Tensor) -> torch.Tensor:
        """lr (B, 3, h, w) decoded thumbnail in [0, 1]; deq its dequantised coefficient maps -> HR."""
        feats = self.freq(deq.to(lr.dtype))
        x = torch.cat(((lr - 0.5) / 0.5, feats), 1)
        res = self.tail(self.up(self.body(x)))
        base = F.interpolate(lr, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return base + res

    @torch.no_grad()
    def decode_erp(self, lr: torch.Tensor, deq: torch.Tensor, blocks: int = 2) -> torch.Tensor:
        """Full-ERP decode with circular padding of ``blocks`` DCT blocks in longitude."""
        p = 8 * blocks
        lr_p = torch.cat((lr[..., -p:], lr, lr[..., :p]), -1)
        deq_p = torch.cat((deq[..., -blocks:], deq, deq[..., :blocks]), -1)
        hr = self(lr_p, deq_p)
        s = self.scale * p
        return hr[..., s:hr.shape[-1] - s]


@torch.no_grad()
def decode_erp_bands(dec: HTDecoder, lr: torch.Tensor, deq: torch.Tensor, fast: bool = True,
                     band_blocks: int | None = None, overlap: int = 2) -> torch.Tensor:
    """Full HR ERP as uint8 (3, H, W) on ``lr``'s device, decoded in bands of ``band_blocks``
    DCT-block rows (plus ``overlap`` blocks of context each side) so large panoramas do not run
    out of memory. By default a band holds about ``BAND_PIXELS`` HR pixels, and at least 8 block
    rows: 8 at 8192 wide and above, the whole image at 2048 x 1024 (fewer band seams and less
    recomputed context for small panoramas, the same working memory as fixed 8-row bands for large
    ones). ``fast``: bf16 (CPU) / fp16 (CUDA) autocast; else float32."""
    s = dec.scale
    nb = deq.shape[-2]
    H, W = lr.shape[-2] * s, lr.shape[-1] * s
    if band_blocks is None:
        band_blocks = max(8, BAND_PIXELS // (8 * s * W) - 2 * overlap)
    out = torch.empty(3, H, W, dtype=torch.uint8, device=lr.device)
    for b0 in range(0, nb, band_blocks):
        b1 = min(nb, b0 + band_blocks)
        e0, e1 = max(0, b0 - overlap), min(nb, b1 + overlap)
        with autocast(lr.device, fast):
            hr = dec.decode_erp(lr[..., 8 * e0:8 * e1, :], deq[..., e0:e1, :])
        top = (b0 - e0) * 8 * s
        band = hr[0, :, top:top + (b1 - b0) * 8 * s]
        out[:, b0 * 8 * s:b1 * 8 * s] = band.float().clamp_(0, 1).mul_(255).add_(0.5).to(torch.uint8)
        del hr, band
    return out
