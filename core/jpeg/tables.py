"""Standard JPEG quantisation tables (ITU T.81 Annex K) and IJG quality scaling.

``quality_tables`` accepts a fractional quality, so a bitrate can be matched more finely than
integer qualities allow (near quality 97 one integer step changes the rate by ~13 %).
"""
from __future__ import annotations

import torch

# ITU T.81 Annex K tables (natural order)
STD_LUMA = torch.tensor([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=torch.float32).view(8, 8)
STD_CHROMA = torch.tensor([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32, dtype=torch.float32).view(8, 8)


def quality_tables(quality: float) -> torch.Tensor:
    """IJG quality scaling of the standard tables -> (2, 8, 8) float, entries in [1, 255]."""
    q = min(max(quality, 1.0), 100.0)
    s = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
    return torch.stack([((t * s + 50.0) / 100.0).floor().clamp(1, 255) for t in (STD_LUMA, STD_CHROMA)])
