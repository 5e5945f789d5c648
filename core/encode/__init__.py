"""Encoding: HR panorama -> LR JPEG, for every encoding method of ``core.registry``.

* ``baseline``: the 'jpeg' method (bicubic downscale + standard JPEG);
* ``learned``: the learned codecs (``LearnedEncoder``: ResVR, HyperThumbnail);
* ``comparison``: ``encode --method all``, the comparison bundle;
* ``rate``: the one rate bisection and ``BPP_TOLERANCE`` they share.
"""
from __future__ import annotations

from .baseline import downscale_bicubic, encode_jpeg
from .comparison import encode_bundle
from .learned import LearnedEncoder, to_multiple
from .rate import BPP_TOLERANCE, RateSearch

__all__ = ["BPP_TOLERANCE", "LearnedEncoder", "RateSearch", "downscale_bicubic", "encode_bundle", "encode_jpeg",
           "to_multiple"]
