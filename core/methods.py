"""The rendering pipelines behind one interface.

``get_method(name, device=..., weights=...)`` returns a :class:`Method`; ``prepare(path)`` decodes
and caches what every view needs; ``render(view)`` returns an (h, w, 3) float32 array in [0, 1].
The viewer, the CLI, the evaluation and the benchmark all go through this registry.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .errors import BadInput, MethodUnavailable
from .geometry import View
from .imageio import load_image
from .sampling import render_view

METHOD_NAMES = ("bilinear", "bicubic", "hyperthumbnail", "resvr", "reference")
LABELS = {
    "bilinear": "Bilinear",
    "bicubic": "Bicubic",
    "hyperthumbnail": "HyperThumbnail + Bicubic",
    "resvr": "ResVR",
    "reference": "Reference (HR)",
}


def pick_device(device: str | None = None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MethodUnavailable("CUDA was requested but no CUDA device is available")
    return torch.device(device)


class Method:
    name = "base"

    def __init__(self, device=None, weights=None):
        self.device = pick_device(device)
        self.weights = weights
        self.path: Path | None = None
        self.info: dict = {}

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)

    def prepare(self, path) -> None:
        raise NotImplementedError

    def render(self, view: View) -> np.ndarray:
        raise NotImplementedError

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

    def render(self, view: View) -> np.ndarray:
        if self.path is None:
            raise RuntimeError("prepare() a file before render()")
        return self._to_numpy(render_view(self.erp, view, self.mode))


class Bilinear(SampledMethod):
    name, mode = "bilinear", "bilinear"


class Bicubic(SampledMethod):
    name, mode = "bicubic", "bicubic"


class Reference(SampledMethod):
    name, mode = "reference", "bicubic"


_REGISTRY = {"bilinear": Bilinear, "bicubic": Bicubic, "reference": Reference}


def register(cls):
    _REGISTRY[cls.name] = cls
    return cls


def get_method(name: str, device=None, weights=None) -> Method:
    if name not in METHOD_NAMES:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHOD_NAMES)}")
    if name not in _REGISTRY:
        raise MethodUnavailable(f"method {name!r} is not available in this build")
    return _REGISTRY[name](device=device, weights=weights)


# ----------------------------------------------------------------------------- learned methods
def _autocast(device: torch.device, enabled: bool = True):
    dtype = torch.bfloat16 if device.type == "cpu" else torch.float16
    return torch.autocast(device.type, dtype=dtype, enabled=enabled)


@register
class ResVRMethod(Method):
    """ResVR: the VR module renders the viewport straight from the LR JPEG (no HR ERP).

    ``fast`` (default) uses bf16 autocast on the CPU / fp16 on CUDA; ``fast=False`` is the fp32
    reference path. The encoder features are computed once per file in ``prepare``.
    """

    name = "resvr"
    chunk = 1 << 16

    def __init__(self, device=None, weights=None, fast: bool = True, shape_kind: str | None = None):
        super().__init__(device, weights)
        from .models.weights import load_weights

        self.model, self.winfo = load_weights("resvr", weights, self.device)
        self.vr = self.model.vr
        self.shape_kind = shape_kind or self.model.shape_kind
        self.fast = fast

    def prepare(self, path) -> None:
        self.path = Path(path)
        img = load_image(self.path)
        lr = torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255).to(self.device)
        with torch.no_grad(), _autocast(self.device, self.fast):
            self.feats = self.vr.features(lr, wrap=True)
        self.info = {"size": (img.shape[1], img.shape[0]), "model": self.winfo.get("name")}

    @torch.no_grad()
    def render(self, view: View) -> np.ndarray:
        from .geometry import lonlat_to_erp, view_pixel_to_lonlat
        from .shape import pixel_shape_grid

        if self.path is None:
            raise RuntimeError("prepare() a file before render()")
        h, w = self.feats["h"], self.feats["w"]
        out = torch.empty(view.height, view.width, 3)
        rows = max(1, self.chunk // view.width)
        cols = torch.arange(view.width, dtype=torch.float64)
        for r0 in range(0, view.height, rows):
            r1 = min(view.height, r0 + rows)
            cc, rr = torch.meshgrid(cols, torch.arange(r0, r1, dtype=torch.float64), indexing="xy")
            lon, lat = view_pixel_to_lonlat(view, cc, rr)
            x, y = lonlat_to_erp(lon, lat, h, w)
            s = pixel_shape_grid(view, h, self.shape_kind, rows=(r0, r1))
            d = self.device
            with _autocast(d, self.fast):
                rgb = self.vr.query(self.feats, x.flatten()[None].float().to(d), y.flatten()[None].float().to(d),
                                    s.flatten(0, 1)[None].to(d))
            out[r0:r1] = rgb[0].float().view(r1 - r0, view.width, 3).cpu()
        return out.clamp(0, 1).numpy()


@register
class HyperThumbnailMethod(Method):
    """HyperThumbnail: decode the whole HR ERP once (cached), then resample each view."""

    name = "hyperthumbnail"
    mode = "bicubic"

    def __init__(self, device=None, weights=None, fast: bool = True, mode: str | None = None):
        super().__init__(device, weights)
        from .models.weights import load_weights

        self.model, self.winfo = load_weights("hyperthumbnail", weights, self.device)
        self.fast = fast
        self.mode = mode or self.mode

    def prepare(self, path) -> None:
        from .jpeg.container import read_jpeg_dct
        from .models.codec import dequantised_maps

        self.path = Path(path)
        img = load_image(self.path)
        Y, Cb, Cr, qt = read_jpeg_dct(self.path)[:4]
        deq = dequantised_maps(Y, Cb, Cr, qt).to(self.device)
        h, w = img.shape[:2]
        if deq.shape[-2] * 8 != h or deq.shape[-1] * 8 != w:
            raise BadInput(f"{self.path}: not a 4:4:4 JPEG with whole 8x8 blocks (HyperThumbnail needs one)")
        lr = torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255).to(self.device)
        self.hr = self.decode(lr, deq)
        self.info = {"size": (w, h), "hr_size": (self.hr.shape[-1], self.hr.shape[-2]), "model": self.winfo.get("name")}

    @torch.no_grad()
    def decode(self, lr: torch.Tensor, deq: torch.Tensor, band_blocks: int = 8, overlap: int = 2) -> torch.Tensor:
        """Full HR ERP as uint8 (3, H, W), decoded in bands of ``band_blocks`` DCT-block rows
        (plus ``overlap`` blocks of context each side) so large panoramas do not run out of memory."""
        s = self.model.decoder.scale
        nb = deq.shape[-2]
        H, W = lr.shape[-2] * s, lr.shape[-1] * s
        out = torch.empty(3, H, W, dtype=torch.uint8)
        for b0 in range(0, nb, band_blocks):
            b1 = min(nb, b0 + band_blocks)
            e0, e1 = max(0, b0 - overlap), min(nb, b1 + overlap)
            with _autocast(self.device, self.fast):
                hr = self.model.decoder.decode_erp(lr[..., 8 * e0:8 * e1, :], deq[..., e0:e1, :])
            top = (b0 - e0) * 8 * s
            band = hr[0, :, top:top + (b1 - b0) * 8 * s]
            out[:, b0 * 8 * s:b1 * 8 * s] = (band.float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu()
        return out.to(self.device)

    def render(self, view: View) -> np.ndarray:
        if self.path is None:
            raise RuntimeError("prepare() a file before render()")
        return self._to_numpy(render_view(self.hr, view, self.mode))
