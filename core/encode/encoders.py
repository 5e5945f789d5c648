"""The encoder of each encoding method of ``core.registry``: an encoder class registers itself
under the method id(s) it encodes (``@register_encoder(id, ...)``), as a render method's
``methods.Method`` subclass does with ``methods.register``; ``make_encoder`` builds one by id."""
from __future__ import annotations

from .. import registry

#: method id -> its encoder class (filled by the encoder modules when ``core.encode`` is imported)
ENCODERS: dict[str, type] = {}


def register_encoder(*method_ids: str):
    """Class decorator: the class encodes the methods ``method_ids`` of ``core.registry``; it is
    built as ``cls(method, weights, device, **options)``."""
    def deco(cls):
        for m in method_ids:
            if m not in registry.encode_ids():
                raise ValueError(f"{cls.__name__}: {m!r} is not an encode method of core.registry")
            ENCODERS[m] = cls
        return cls
    return deco


def make_encoder(method: str, weights=None, device="cpu", **options):
    """The encoder of ``method``: ``encode(hr_path, out, bpp=..., overwrite=...)`` writes its LR
    file; ``knob`` names its other rate argument ("qscale" or "quality"). The learned codecs share
    ``learned.LearnedEncoder``; DINN360 (a network, then a standard JPEG) has its own; the 'jpeg'
    baseline takes ``scale`` and ``warn`` as ``options``."""
    if method not in ENCODERS:
        raise ValueError(f"no encoder for method {method!r}; choose one of {', '.join(ENCODERS)}")
    return ENCODERS[method](method, weights, device, **options)
