"""The shared downsampler: an RDB U-Net with a 4x PixelUnshuffle input (HyperThumbnail's encoder).

Assumption (CPU budget): the network predicts a residual over the bicubic 4x downscale, and its
last conv starts at zero, so an untrained downsampler is exactly bicubic. HyperThumbnail instead
subtracts a dataset mean; the residual form converges far faster with a few CPU hours.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import ResidualDenseBlock, conv3


def bicubic_down(x: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """Antialiased bicubic downscale (the guidance target and the baseline's downscale)."""
    return F.interpolate(x, scale_factor=1.0 / scale, mode="bicubic", align_corners=False, antialias=True)


class _Down(nn.Module):
    def __init__(self, f: int):
        super().__init__()
        self.conv = nn.Sequential(conv3(f, 2 * f, stride=2, bias=False), nn.LeakyReLU(0.1, True),
                                  conv3(2 * f, 2 * f, bias=False), nn.LeakyReLU(0.1, True))
        self.rdb = ResidualDenseBlock(2 * f, f)

    def forward(self, x):
        return self.rdb(self.conv(x))


class _Up(nn.Module):
    def __init__(self, f: int):  # 2f -> f
        super().__init__()
        self.up = nn.Sequential(conv3(2 * f, 4 * f), nn.PixelShuffle(2))
        self.fuse = nn.Sequential(conv3(2 * f, f, bias=False), nn.LeakyReLU(0.1, True),
                                  conv3(f, f, bias=False), nn.LeakyReLU(0.1, True))
        self.rdb = ResidualDenseBlock(f, f)

    def forward(self, x, skip):
        return self.rdb(self.fuse(torch.cat((self.up(x), skip), 1)))


class Downsampler(nn.Module):
    def __init__(self, channels: int = 64, levels: int = 2, scale: int = 4):
        super().__init__()
        self.scale = scale
        f = channels
        self.head = nn.Sequential(nn.PixelUnshuffle(scale), conv3(3 * scale * scale, f), nn.LeakyReLU(0.1, True),
                                  ResidualDenseBlock(f, f // 2))
        self.downs = nn.ModuleList(_Down(f * 2 ** i) for i in range(levels))
        self.ups = nn.ModuleList(_Up(f * 2 ** i) for i in reversed(range(levels)))
        self.tail = nn.Conv2d(f, 3, 3, 1, 1, bias=False)
        nn.init.zeros_(self.tail.weight)
        self.multiple = scale * 2 ** levels

    def forward(self, hr: torch.Tensor) -> torch.Tensor:
        """HR (B, 3, H, W) in [0, 1], H and W multiples of scale * 2**levels -> LR (B, 3, H/s, W/s)."""
        h = self.head(hr)
        skips = []
        for d in self.downs:
            skips.append(h)
            h = d(h)
        for u in self.ups:
            h = u(h, skips.pop())
        return bicubic_down(hr, self.scale) + self.tail(h)
