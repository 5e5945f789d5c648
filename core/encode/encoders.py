"""Which encoder a learned method of ``core.registry`` uses."""
from __future__ import annotations

from .dinn360 import DINNEncoder
from .learned import LearnedEncoder


def make_encoder(method: str, weights=None, device="cpu"):
    """The encoder of a learned method: ``encode(hr_path, out, bpp=..., overwrite=...)`` writes its
    LR file; ``knob`` names its other rate argument ("qscale" or "quality"). DINN360 (a network,
    then a standard JPEG) has its own; the learned codecs share :class:`LearnedEncoder`."""
    return (DINNEncoder if method == "dinn360" else LearnedEncoder)(method, weights, device)
