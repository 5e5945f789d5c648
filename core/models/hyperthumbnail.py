"""HyperThumbnail's decoder: a frequency feature extractor on the dequantised DCT coefficients
(192 channels = 64 zig-zag frequencies x Y, Cb, Cr on the 8x8-block grid), upsampled x8 to the
LR grid, then an EDSR-style decoder on [LR RGB (+) features] -> the 4x HR image.

Assumption (CPU budget): the decoder predicts a residual over the bicubic x4 upsample of the LR
image (last conv zero-initialised); the paper's EDSR adds a dataset mean instead.
For a full ERP, ``decode_erp`` pads two DCT blocks circularly in longitude so the seam is decoded
like any other column.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import ResStack, Upsampler, conv3


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
