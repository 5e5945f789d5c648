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
