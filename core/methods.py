"""The rendering pipelines behind one interface.

``get_method(name, device=..., weights=...)`` returns a :class:`Method`; ``prepare(path)`` decodes
and caches what every view needs; ``render(view)`` returns an (h, w, 3) float32 array in [0, 1].
The viewer, the CLI, the evaluation and the benchmark all go through here. The names, labels and
file rules of the methods are ``core.registry``'s; each class here registers under its id.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .device import pick_device, trim_heap
from . import registry
from .errors import BadInput
from .geometry import View
from .imageio import MAX_LR_PIXELS, load_image
from .sampling import render_view

METHOD_NAMES = registry.render_ids()


class Method:
    name = "base"

    def __init__(self, device=None, weights=None):
        self.device = pick_device(device)
        self.weights = weights
        self.path: Path | None = None
        self.info: dict = {}

    @property
    def label(self) -> str:
        return registry.label(self.name)

    def prepare(self, path) -> None:
        raise NotImplementedError

    def render(self, view: View) -> np.ndarray:
        raise NotImplementedError

    def release(self) -> None:
        """Forget the prepared file and free what it cached (``prepare`` again before ``render``)."""
        self.path = None

    def idle_step(self) -> bool:
        """A short piece of work that makes later views of the prepared file faster, for a caller
        with idle time (the viewer's render worker between requests); False when there is none
        left. Default: none."""
        return False

    def plan(self, views) -> None:
        """The caller is about to render ``views`` of the prepared file (``render --views``, eval):
        do now the per-image work that they share. Default: nothing."""

    @staticmethod
    def _to_numpy(t: torch.Tensor) -> np.ndarray:
        return t.float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


class SampledMethod(Method):
    """Classic resampling of an image file (LR for bilinear/bicubic, HR for reference)."""

    mode = "bicubic"

    def prepare(self, path) -> None:
        self.path = Path(path)
        img = load_image(self.path)
        self.erp = torch.from_numpy(img).permute(2, 0, 1).contiguous().to(self.device)
        self.info = {"size": (img.shape[1], img.shape[0])}
        trim_heap()

    def release(self) -> None:
        super().release()
        self.erp = None

    def render(self, view: View) -> np.ndarray:
        if self.path is None:
            raise RuntimeError("prepare() a file before render()")
        return self._to_numpy(render_view(self.erp, view, self.mode))


_IMPLEMENTATIONS: dict[str, type[Method]] = {}


def register(cls):
    """Class decorator: ``cls`` implements the render method ``cls.name`` of ``core.registry``."""
    if cls.name not in METHOD_NAMES:
        raise ValueError(f"{cls.__name__}: {cls.name!r} is not a render method of core.registry")
    _IMPLEMENTATIONS[cls.name] = cls
    return cls


def implementation(name: str) -> type[Method]:
    """The :class:`Method` subclass registered under the render method ``name``."""
    if name not in METHOD_NAMES:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHOD_NAMES)}")
    return _IMPLEMENTATIONS[name]


def get_method(name: str, device=None, weights=None, **options) -> Method:
    """The render method ``name`` on ``device``; ``options``: its class's own (e.g. ResVR's ``lazy``)."""
    return implementation(name)(device=device, weights=weights, **options)


@register
class Bilinear(SampledMethod):
    name, mode = "bilinear", "bilinear"


@register
class Bicubic(SampledMethod):
    name, mode = "bicubic", "bicubic"


@register
class Reference(SampledMethod):
    name, mode = "reference", "bicubic"


# ----------------------------------------------------------------------------- learned methods
@register
class ResVRMethod(Method):
    """ResVR: the VR module renders the viewport straight from the LR JPEG (no HR ERP).

    A thin adapter: the weights give the VR module, and ``models.vr_render.VRRenderer`` (the
    model's inference path: lazily tiled table, fused kernel, query paths) renders; the options
    ``fast``, ``lazy``, ``compile`` (default ``$RESVR_COMPILE``), ``fused`` and ``amx`` are the renderer's.
    """

    name = "resvr"

    def __init__(self, device=None, weights=None, fast: bool = True, shape_kind: str | None = None,
                 lazy: bool = True, compile: bool | None = None, fused: bool = True, amx: bool = True):
        super().__init__(device, weights)
        from .models.vr_render import VRRenderer
        from .models.weights import load_weights

        self.vr, self.winfo = load_weights("resvr", weights, self.device, part="vr")
        if compile is None:
            compile = os.environ.get("RESVR_COMPILE", "").lower() in ("1", "true", "yes", "on")
        self.renderer = VRRenderer(self.vr, self.device, shape_kind or self.winfo["cfg"].get("shape", "ssr"),
                                   fast=fast, lazy=lazy, compile=compile, fused=fused, amx=amx)

    def prepare(self, path, lazy: bool | None = None) -> None:
        path, self.path = Path(path), None
        # an LR image (a JPEG or a PNG), under the LR pixel limit; the table's size is checked too
        img = load_image(path, max_pixels=MAX_LR_PIXELS)
        try:
            self.renderer.set_image(img, lazy=lazy)
        except BadInput as e:
            raise BadInput(f"{path}: {e}") from None
        self.path = path
        self.info = {"size": (img.shape[1], img.shape[0]), "model": self.winfo.get("name")}
        trim_heap()

    def prefetch(self) -> None:
        """Build the rest of the image's table (e.g. while the user looks)."""
        self.renderer.prefetch()

    def tiles_built(self) -> float:
        return self.renderer.tiles_built()

    #: the idle prefetch stops at tables larger than this (the whole table of an 8192x4096
    #: panorama is 1 GB; a lazy one holds only what the views touched)
    idle_table_bytes = 400 << 20

    def idle_step(self) -> bool:
        """Build one more block of the table (``VRRenderer.prefetch_step``), so that later views
        of this panorama find their tiles built; nothing for tables over :attr:`idle_table_bytes`."""
        r = self.renderer
        if self.path is None or not r.feats or r.table_bytes(r.feats["h"], r.feats["w"]) > self.idle_table_bytes:
            return False
        return r.prefetch_step()

    def plan(self, views) -> None:
        """Several views ahead (render --views, eval): build the tiles they touch in one pass, as
        the union's regions or, when the union is most of a table under :attr:`idle_table_bytes`,
        the whole table in its large blocks (``VRRenderer.build_for``)."""
        views = list(views)
        r = self.renderer
        if self.path is None or len(views) < 2 or not r.feats:
            return
        r.build_for(views, whole=r.table_bytes(r.feats["h"], r.feats["w"]) <= self.idle_table_bytes)

    @property
    def query_path(self) -> str:
        return self.renderer.query_path

    def release(self) -> None:
        super().release()
        self.renderer.release()

    def render(self, view: View) -> np.ndarray:
        if self.path is None:
            raise RuntimeError("prepare() a file before render()")
        return self.renderer.render(view)


@register
class HyperThumbnailMethod(Method):
    """HyperThumbnail: decode the whole HR ERP once (cached, ``models.hyperthumbnail.decode_erp_bands``),
    then resample each view.

    ``fast`` (default): bf16 autocast on the CPU / fp16 on CUDA with channels_last convolutions;
    ``fast=False`` is the fp32 reference path.
    """

    name = "hyperthumbnail"
    mode = "bicubic"

    def __init__(self, device=None, weights=None, fast: bool = True, mode: str | None = None):
        super().__init__(device, weights)
        from .models.weights import load_weights

        self.decoder, self.winfo = load_weights("hyperthumbnail", weights, self.device, part="decoder")
        self.fast = fast
        self.mode = mode or self.mode
        self.hr = None
        if fast:
            self.decoder.to(memory_format=torch.channels_last)

    def read(self, path) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's inputs from a file: LR (1, 3, h, w) float in [0, 1] and the dequantised
        coefficient maps, on the method's device."""
        from .jpeg.container import read_jpeg_dct
        from .models.codec import dequantised_maps

        path = Path(path)
        img = load_image(path, lr=True)  # a YCbCr JPEG under the LR limit, decoded strictly
        Y, Cb, Cr, qt = read_jpeg_dct(path)[:4]
        h, w = img.shape[:2]
        if any(c.shape[:2] != (h // 8, w // 8) for c in (Y, Cb, Cr)) or h % 8 or w % 8:
            raise BadInput(f"{path}: not a 4:4:4 JPEG with whole 8x8 blocks (HyperThumbnail decodes "
                           "its own files, written by 'resvr encode --method hyperthumbnail')")
        deq = dequantised_maps(Y, Cb, Cr, qt).to(self.device)
        lr = torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255).to(self.device)
        return lr, deq

    def prepare(self, path) -> None:
        self.path = Path(path)
        lr, deq = self.read(self.path)
        self.hr = self.decode(lr, deq)
        self.info = {"size": (lr.shape[-1], lr.shape[-2]), "hr_size": (self.hr.shape[-1], self.hr.shape[-2]),
                     "model": self.winfo.get("name")}
        trim_heap()

    def decode(self, lr: torch.Tensor, deq: torch.Tensor, band_blocks: int | None = None, overlap: int = 2) -> torch.Tensor:
        """Full HR ERP as uint8 (3, H, W) on the method's device (``decode_erp_bands``)."""
        from .models.hyperthumbnail import decode_erp_bands

        return decode_erp_bands(self.decoder, lr, deq, self.fast, band_blocks, overlap)

    def release(self) -> None:
        super().release()
        self.hr = None

    def render(self, view: View) -> np.ndarray:
        if self.path is None:
            raise RuntimeError("prepare() a file before render()")
        return self._to_numpy(render_view(self.hr, view, self.mode))


@register
class DINN360Method(SampledMethod):
    """DINN360: the reverse upscaling of the decoded LR JPEG (latent z = 0) gives the whole HR ERP
    once (cached as ``hr``, ``models.dinn360.upscale_erp``: banded, wrapped in longitude, each
    band at its latitudes), then each view is resampled from it (bicubic, as for HyperThumbnail).
    float32 throughout (the network is small; an INN is not run in reduced precision)."""

    name = "dinn360"
    mode = "bicubic"

    def __init__(self, device=None, weights=None, mode: str | None = None):
        super().__init__(device, weights)
        from .models.weights import load_weights

        self.model, self.winfo = load_weights("dinn360", weights, self.device)
        self.mode = mode or self.mode
        self.erp = None

    @property
    def hr(self) -> torch.Tensor | None:
        """The decoded HR ERP, uint8 (3, H, W) (what views are resampled from)."""
        return self.erp

    def prepare(self, path) -> None:
        self.path = Path(path)
        img = load_image(self.path, max_pixels=MAX_LR_PIXELS)  # an LR image: its HR is 16x larger
        lr = torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255).to(self.device)
        self.erp = self.decode(lr)
        self.info = {"size": (lr.shape[-1], lr.shape[-2]), "hr_size": (self.erp.shape[-1], self.erp.shape[-2]),
                     "model": self.winfo.get("name")}
        trim_heap()

    def decode(self, lr: torch.Tensor) -> torch.Tensor:
        """Full HR ERP as uint8 (3, H, W) on the method's device."""
        from .models.dinn360 import upscale_erp

        return upscale_erp(self.model, lr, dtype=torch.uint8)[0]
