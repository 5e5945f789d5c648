"""Encoding: HR panorama -> LR JPEG, for every encoding method of ``core.registry``.

* ``baseline``: the 'jpeg' method (bicubic downscale + standard JPEG);
* ``learned``: the learned codecs (``LearnedEncoder``: ResVR, HyperThumbnail);
* ``dinn360``: DINN360's network followed by a standard JPEG (``DINNEncoder``);
* ``encoders``: ``make_encoder``, the encoder of a learned method;
* ``comparison``: ``encode --method all``, the comparison bundle;
* ``rate``: the one rate bisection and ``BPP_TOLERANCE`` they share.
"""
from __future__ import annotations

from .baseline import downscale_bicubic, encode_jpeg
from .comparison import encode_bundle
from .dinn360 import DINNEncoder
from .encoders import make_encoder
from .learned import LearnedEncoder, to_multiple
from .rate import BPP_TOLERANCE, RateSearch

__all__ = ["BPP_TOLERANCE", "DINNEncoder", "LearnedEncoder", "RateSearch", "downscale_bicubic", "encode_bundle",
           "encode_jpeg", "make_encoder", "to_multiple"]
