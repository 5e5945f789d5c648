"""ResVR's viewport-rendering (VR) module: encoder E, local texture estimator (h_a, h_f, h_p)
and MLP decoder D with a 4-neighbour local ensemble and a bilinear skip (paper eqs. 1-2).

Per image, ``features`` runs E, h_a and h_f once and stores, per LR pixel, the amplitude and
frequency vectors (they depend only on the LR pixel) plus its RGB, in one table. Per query,
``query`` does one index lookup of the 4 neighbours in that table and one MLP call, so a view
costs only what changes with the view. Neighbours and the latent grid wrap across +-180 degrees
and reflect across the poles with a 180 degree shift (``wrap=True``, full ERP); training patches
clamp at the patch border (``wrap=False``).

Query coordinates are continuous LR pixel coordinates (pixel centres at i + 1/2).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..sampling import pole_band
from .blocks import ResStack, conv3


class VRModule(nn.Module):
    def __init__(self, enc_channels: int = 64, enc_blocks: int = 8, amp: int = 256, hidden: int = 128,
                 mlp_layers: int = 2, shape_dim: int = 10, pad: int = 12):
        super().__init__()
        assert amp % 2 == 0
        self.amp, self.pad = amp, pad
        self.encoder = ResStack(3, enc_channels, enc_blocks)
        self.h_a = conv3(enc_channels, amp)
        self.h_f = conv3(enc_channels, amp)           # amp/2 two-dimensional frequencies
        self.h_p = nn.Linear(shape_dim, amp // 2, bias=False)
        layers, cin = [], amp
        for _ in range(mlp_layers):
            layers += [nn.Linear(cin, hidden), nn.ReLU(inplace=True)]
            cin = hidden
        layers.append(nn.Linear(cin, 3))
        self.decoder = nn.Sequential(*layers)
        with torch.no_grad():
            self.decoder[-1].weight.mul_(0.1)
            self.decoder[-1].bias.zero_()

    def macs_per_neighbour(self) -> int:
        lin = [m for m in self.decoder if isinstance(m, nn.Linear)]
        return sum(m.in_features * m.out_features for m in lin) + self.amp  # + the frequency dot products

    def features(self, lr: torch.Tensor, wrap: bool = True) -> dict:
        """lr (B, 3, h, w) in [0, 1] -> per-LR-pixel table (B, h*w, 2*amp + 3)."""
        B, _, h, w = lr.shape
        x = (lr - 0.5) / 0.5
        if wrap:
            p = self.pad
            x = pole_band(x, -p, h + p, pad=p)
        z = self.encoder(x)
        f = torch.cat((self.h_a(z), self.h_f(z)), 1)
        if wrap:
            f = f[..., p:p + h, p:p + w]
        table = torch.cat((f, lr.to(f.dtype)), 1).flatten(2).transpose(1, 2).contiguous()
        return {"table": table, "h": h, "w": w, "wrap": wrap}

    def _neighbours(self, x, y, h, w, wrap):
        """4 neighbours of continuous LR coords (B, N): flat indices (B, N, 4), rel (B, N, 4, 2), weights."""
        fx, fy = torch.floor(x - 0.5), torch.floor(y - 0.5)
        tx, ty = x - 0.5 - fx, y - 0.5 - fy                      # in [0, 1)
        ix = torch.stack((fx, fx + 1, fx, fx + 1), -1)
        iy = torch.stack((fy, fy, fy + 1, fy + 1), -1)
        wts = torch.stack(((1 - tx) * (1 - ty), tx * (1 - ty), (1 - tx) * ty, tx * ty), -1)
        rel = torch.stack((y[..., None] - (iy + 0.5), x[..., None] - (ix + 0.5)), -1)   # (dy, dx) LR pixels
        ix, iy = ix.long(), iy.long()
        if wrap:
            top, bot = iy < 0, iy >= h
            flip = top | bot
            iy = torch.where(top, -1 - iy, torch.where(bot, 2 * h - 1 - iy, iy))
            ix = torch.where(flip, ix + w // 2, ix)
            ix = torch.remainder(ix, w)
        else:
            ix, iy = ix.clamp(0, w - 1), iy.clamp(0, h - 1)
        return iy * w + ix, rel, wts

    def query(self, feats: dict, x: torch.Tensor, y: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """x, y (B, N) continuous LR coords; shape (B, N, 10) -> RGB (B, N, 3)."""
        table, h, w = feats["table"], feats["h"], feats["w"]
        B, N = x.shape
        idx, rel, wts = self._neighbours(x, y, h, w, feats["wrap"])
        flat = (idx + torch.arange(B, device=idx.device)[:, None, None] * (h * w)).flatten()
        g = table.flatten(0, 1).index_select(0, flat).view(B, N, 4, -1)
        a = self.amp
        amp, freq, rgb = g[..., :a], g[..., a:2 * a], g[..., 2 * a:]
        freq = freq.unflatten(-1, (a // 2, 2))
        phase = self.h_p(shape.to(g.dtype))[:, :, None, :]                       # (B, N, 1, a/2)
        arg = math.pi * ((freq * rel[..., None, :].to(g.dtype)).sum(-1) + phase)  # (B, N, 4, a/2)
        basis = amp * torch.cat((torch.cos(arg), torch.sin(arg)), -1)
        out = self.decoder(basis) + rgb                                           # (B, N, 4, 3)
        return (out.float() * wts[..., None]).sum(2)
