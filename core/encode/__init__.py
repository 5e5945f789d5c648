"""Encoding: HR panorama -> LR JPEG, for every encoding method of ``core.registry``.

* ``baseline``: the 'jpeg' method (bicubic downscale + standard JPEG);
* ``learned``: the learned codecs (``LearnedEncoder``: ResVR, HyperThumbnail);
* ``dinn360``: DINN360's network followed by a standard JPEG (``DINNEncoder``);
* ``encoders``: ``register_encoder`` and ``make_encoder``: the encoder of each encode method;
* ``comparison``: ``encode --method all``, the comparison bundle;
* ``rate``: the one rate bisection and ``BPP_TOLERANCE`` they share.
"""
from __future__ import annotations

from .baseline import BaselineEncoder, downscale_bicubic, encode_jpeg
from .comparison import encode_bundle
from .dinn360 import DINNEncoder
from .encoders import ENCODERS, make_encoder, register_encoder
from .learned import LearnedEncoder, to_multiple
from .rate import BPP_TOLERANCE, RateSearch

__all__ = ["BPP_TOLERANCE", "BaselineEncoder", "DINNEncoder", "ENCODERS", "LearnedEncoder", "RateSearch",
           "downscale_bicubic", "encode_bundle", "encode_jpeg", "make_encoder", "register_encoder", "to_multiple"]
