"""ResVR's viewport-rendering (VR) module: encoder E, local texture estimator (h_a, h_f, h_p)
and MLP decoder D with a 4-neighbour local ensemble and a bilinear skip (paper eqs. 1-2).

Per image, ``features`` runs E, h_a and h_f once and stores, per LR pixel, the amplitude and
frequency vectors (they depend only on the LR pixel) plus its RGB, in one table. Per query,
``query`` does one index lookup of the 4 neighbours in that table and one MLP call, so a view
costs only what changes with the view. Neighbours and the latent grid wrap across +-180 degrees
and reflect across the poles with a 180 degree shift (``wrap=True``, full ERP); training patches
clamp at the patch border (``wrap=False``).

Query coordinates are continuous LR pixel coordinates (pixel centres at i + 1/2).

This module is the model and its training graph; its inference path (a lazily tiled table, the
fused kernel, the view loop) is ``vr_render.VRRenderer``.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..geometry import erp_reflect
from ..sampling import pole_band
from .blocks import ResStack, conv3


def neighbours(x: torch.Tensor, y: torch.Tensor, h: int, w: int, wrap: bool):
    """4 neighbours of continuous LR coords (B, N): flat indices (B, N, 4), rel (B, N, 4, 2)
    as (dy, dx) in LR pixels, bilinear weights (B, N, 4). ``wrap``: across +-180 degrees and the
    poles (``geometry.erp_reflect``, full ERP); else clamped at the border (training patches)."""
    fx, fy = torch.floor(x - 0.5), torch.floor(y - 0.5)
    tx, ty = x - 0.5 - fx, y - 0.5 - fy                      # in [0, 1)
    ix = torch.stack((fx, fx + 1, fx, fx + 1), -1)
    iy = torch.stack((fy, fy, fy + 1, fy + 1), -1)
    sx, sy = 1 - tx, 1 - ty
    wts = torch.stack((sx * sy, tx * sy, sx * ty, tx * ty), -1)
    # rel = (y - (iy + 1/2), x - (ix + 1/2)) = (ty - {0,0,1,1}, tx - {0,1,0,1})
    rel = torch.stack((torch.stack((ty, ty, ty - 1, ty - 1), -1),
                       torch.stack((tx, tx - 1, tx, tx - 1), -1)), -1)
    ix, iy = ix.long(), iy.long()
    if wrap:
        iy, ix = erp_reflect(iy, ix, h, w)
    else:
        ix, iy = ix.clamp(0, w - 1), iy.clamp(0, h - 1)
    return iy * w + ix, rel, wts


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

    def receptive_radius(self) -> int:
        """LR pixels of context one table entry depends on (3x3 convs: encoder + h_a/h_f)."""
        return sum(1 for m in self.encoder.modules() if isinstance(m, nn.Conv2d)) + 1

    def query(self, feats: dict, x: torch.Tensor, y: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """x, y (B, N) continuous LR coords; shape (B, N, 10) -> RGB (B, N, 3)."""
        idx, rel, wts = neighbours(x, y, feats["h"], feats["w"], feats["wrap"])
        return self.decode_neighbours(feats, idx, rel, wts, shape)

    def decode_neighbours(self, feats: dict, idx: torch.Tensor, rel: torch.Tensor, wts: torch.Tensor,
                          shape: torch.Tensor) -> torch.Tensor:
        """One lookup of the 4 neighbours (from :func:`neighbours`) in the table and one MLP call.

        The phase pi * (<freq, rel> + h_p(s)) and its cos/sin are computed in float32 (float64 for a
        float64 table) whatever the table dtype (a bf16 phase of tens of radians would be off by a tenth of a radian); the
        basis amp * [cos, sin] and the MLP run in the table's (autocast) dtype. Without autograd
        the basis is built in place (no (B, N, 4, a/2, 2) temporary, no cat).

        Optional ``feats`` entries (the inference table of ``vr_render.VRRenderer`` sets both):
        ``freq_split`` (the frequency channels stored as [all dy | all dx] instead of interleaved
        (dy, dx) pairs, so both halves are contiguous) and ``rgb`` (B, h*w, 3), float in [0, 1] or
        the decoded uint8 (the bilinear skip at full precision; ``table`` then has no RGB columns).
        """
        table, h, w = feats["table"], feats["h"], feats["w"]
        B, N = idx.shape[:2]
        flat = (idx if B == 1 else idx + torch.arange(B, device=idx.device)[:, None, None] * (h * w)).flatten()
        g = table.flatten(0, 1).index_select(0, flat).view(B, N, 4, -1)
        a, a2 = self.amp, self.amp // 2
        amp = g[..., :a]
        if feats.get("freq_split", False):
            fy, fx = g[..., a:a + a2], g[..., a + a2:2 * a]
        else:
            fy, fx = g[..., a:2 * a:2], g[..., a + 1:2 * a:2]
        ct = torch.float64 if table.dtype == torch.float64 else torch.float32   # float32, or float64 (gradcheck)
        rel = rel.to(ct) * math.pi
        dy, dx = rel[..., 0:1], rel[..., 1:2]                                   # (B, N, 4, 1)
        with torch.autocast(idx.device.type, enabled=False):
            phase = F.linear(shape.to(ct), self.h_p.weight.to(ct) * math.pi)[:, :, None, :]   # (B, N, 1, a/2)
        functional = torch.compiler.is_compiling() or (
            torch.is_grad_enabled() and (g.requires_grad or phase.requires_grad or rel.requires_grad))
        if functional:   # autograd, or torch.compile (which fuses these into one loop)
            arg = torch.addcmul(torch.addcmul(phase, fy.to(ct), dy), fx.to(ct), dx)
            basis = amp * torch.cat((torch.cos(arg), torch.sin(arg)), -1).to(amp.dtype)
        else:
            if fy.dtype != ct:   # one cast of both halves (contiguous when split) instead of two
                fr = g[..., a:2 * a].to(ct)
                fy, fx = (fr[..., :a2], fr[..., a2:]) if feats.get("freq_split", False) else (fr[..., 0::2], fr[..., 1::2])
            arg = torch.addcmul(phase, fy, dy)                                   # float32 (B, N, 4, a/2)
            arg.addcmul_(fx, dx)
            basis = torch.empty(B, N, 4, a, dtype=amp.dtype, device=amp.device)
            torch.cos(arg, out=basis[..., :a2])
            torch.sin(arg, out=basis[..., a2:])
            del arg
            basis.mul_(amp)
        out = self.decoder(basis).to(ct)                                          # (B, N, 4, 3)
        rgb = feats.get("rgb")
        if rgb is None:
            out = out + g[..., 2 * a:2 * a + 3]
        else:
            c = rgb.flatten(0, 1).index_select(0, flat).view(B, N, 4, 3)
            out += c.to(ct).div_(255) if c.dtype == torch.uint8 else c
        return (out * wts[..., None]).sum(2)
