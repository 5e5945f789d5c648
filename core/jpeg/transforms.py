"""Differentiable JPEG pieces for training: JFIF colour, 8x8 orthonormal DCT, zig-zag, quantisation.

Images are float tensors; RGB in [0, 1]; YCbCr in [0, 255] (JFIF full range). Coefficients are
the DCT of (channel - 128) per 8x8 block, the same numbers libjpeg stores before quantisation.
"""
from __future__ import annotations

import math

import torch

_RGB2YCC = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_YCC2RGB = torch.tensor([[1.0, 0.0, 1.402], [1.0, -0.344136, -0.714136], [1.0, 1.772, 0.0]])


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> YCbCr in [0, 255]."""
    y = torch.einsum("ij,bjhw->bihw", _RGB2YCC.to(x), x * 255.0)
    return y + torch.tensor([0.0, 128.0, 128.0], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)


def ycbcr_to_rgb(y: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) YCbCr in [0, 255] -> RGB in [0, 1] (not clamped)."""
    y = y - torch.tensor([0.0, 128.0, 128.0], device=y.device, dtype=y.dtype).view(1, 3, 1, 1)
    return torch.einsum("ij,bjhw->bihw", _YCC2RGB.to(y), y) / 255.0


def dct_matrix(n: int = 8, dtype=torch.float32, device=None) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)
    m = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m.to(dtype=dtype, device=device)


def blockify(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H/8, W/8, 8, 8)."""
    B, C, H, W = x.shape
    return x.reshape(B, C, H // 8, 8, W // 8, 8).permute(0, 1, 2, 4, 3, 5)


def unblockify(b: torch.Tensor) -> torch.Tensor:
    B, C, h, w = b.shape[:4]
    return b.permute(0, 1, 2, 4, 3, 5).reshape(B, C, h * 8, w * 8)


def dct8(x: torch.Tensor) -> torch.Tensor:
    """Blockwise orthonormal DCT-II: (B, C, H, W) -> (B, C, H/8, W/8, 8, 8)."""
    D = dct_matrix(dtype=x.dtype, device=x.device)
    return D @ blockify(x) @ D.T


def idct8(c: torch.Tensor) -> torch.Tensor:
    D = dct_matrix(dtype=c.dtype, device=c.device)
    return unblockify(D.T @ c @ D)


def _zigzag_order(n: int = 8) -> torch.Tensor:
    idx = sorted(((i, j) for i in range(n) for j in range(n)),
                 key=lambda p: (p[0] + p[1], p[1] if (p[0] + p[1]) % 2 == 0 else p[0]))
    return torch.tensor([i * n + j for i, j in idx])


ZIGZAG = _zigzag_order()            # ZIGZAG[k] = natural index of the k-th zig-zag coefficient
UNZIGZAG = torch.argsort(ZIGZAG)     # UNZIGZAG[natural] = zig-zag position


def to_zigzag(blocks: torch.Tensor) -> torch.Tensor:
    """(..., 8, 8) natural -> (..., 64) zig-zag."""
    return blocks.flatten(-2)[..., ZIGZAG.to(blocks.device)]


def from_zigzag(z: torch.Tensor) -> torch.Tensor:
    """(..., 64) zig-zag -> (..., 8, 8) natural."""
    return z[..., UNZIGZAG.to(z.device)].unflatten(-1, (8, 8))


def noise_round(x: torch.Tensor, training: bool) -> torch.Tensor:
    """Uniform-noise relaxation of rounding in training; true rounding otherwise."""
    if training:
        return x + torch.empty_like(x).uniform_(-0.5, 0.5)
    return torch.round(x)


def ste_round(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def coeff_maps(rgb: torch.Tensor) -> torch.Tensor:
    """RGB (B, 3, H, W) -> zig-zag coefficient maps (B, 3, 64, H/8, W/8)."""
    c = dct8(rgb_to_ycbcr(rgb) - 128.0)          # (B, 3, h, w, 8, 8)
    return to_zigzag(c).permute(0, 1, 4, 2, 3)


def maps_to_rgb(maps: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`coeff_maps` (dequantised maps) -> RGB (not clamped)."""
    c = from_zigzag(maps.permute(0, 1, 3, 4, 2))
    return ycbcr_to_rgb(idct8(c) + 128.0)
