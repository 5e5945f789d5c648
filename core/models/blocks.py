"""Building blocks shared by the learned models."""
from __future__ import annotations

import torch
import torch.nn as nn


def conv3(cin: int, cout: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=bias)


class ResidualDenseBlock(nn.Module):
    """RDB (ESRGAN/BasicSR style): 5 densely connected convs, LeakyReLU 0.2, residual x 0.2."""

    def __init__(self, ch: int, growth: int):
        super().__init__()
        self.convs = nn.ModuleList(conv3(ch + i * growth, growth) for i in range(4))
        self.last = conv3(ch + 4 * growth, ch)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x):
        feats = [x]
        for c in self.convs:
            feats.append(self.act(c(torch.cat(feats, 1))))
        return x + 0.2 * self.last(torch.cat(feats, 1))


class ResBlock(nn.Module):
    """EDSR residual block without batch norm."""

    def __init__(self, ch: int, res_scale: float = 1.0):
        super().__init__()
        self.body = nn.Sequential(conv3(ch, ch), nn.ReLU(inplace=True), conv3(ch, ch))
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.res_scale * self.body(x)


class ResStack(nn.Module):
    """conv -> n ResBlocks -> conv, with a long skip (EDSR body)."""

    def __init__(self, cin: int, ch: int, n: int):
        super().__init__()
        self.head = conv3(cin, ch)
        self.body = nn.Sequential(*[ResBlock(ch) for _ in range(n)], conv3(ch, ch))

    def forward(self, x):
        h = self.head(x)
        return h + self.body(h)


class Upsampler(nn.Sequential):
    """x2^k with conv + PixelShuffle(2) steps."""

    def __init__(self, ch: int, scale: int):
        layers = []
        while scale > 1:
            layers += [conv3(ch, 4 * ch), nn.PixelShuffle(2)]
            scale //= 2
        super().__init__(*layers)
