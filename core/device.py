"""The one place that turns a device name into a ``torch.device`` and picks the inference dtype.

``"auto"`` (or None) means CUDA when torch sees a CUDA device, else the CPU; every entry point
(CLI, viewer, evaluation, benchmark) resolves through :func:`pick_device`. torch is imported when
a function runs, so argument parsers can read :data:`DEVICE_CHOICES` cheaply.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import MethodUnavailable

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """None/"auto" -> cuda when available, else cpu; "cuda..." without CUDA -> MethodUnavailable."""
    import torch

    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MethodUnavailable("CUDA was requested but no CUDA device is available")
    return torch.device(device)


def autocast(device: torch.device, enabled: bool = True):
    """The fast inference paths' autocast: bf16 on the CPU, fp16 on CUDA."""
    import torch

    dtype = torch.bfloat16 if device.type == "cpu" else torch.float16
    return torch.autocast(device.type, dtype=dtype, enabled=enabled)


def fast_dtype(device: torch.device, fast: bool = True) -> torch.dtype:
    """The compute dtype of a fast path on ``device`` (float32 when not fast)."""
    import torch

    if not fast:
        return torch.float32
    return torch.bfloat16 if device.type == "cpu" else torch.float16


def trim_heap() -> None:
    """Give the C heap's free memory back to the OS (glibc ``malloc_trim``; nothing elsewhere).

    Decoding a file frees tens of MB of buffers (libjpeg's coefficient arrays, Pillow's decode,
    copies) that glibc keeps in the process otherwise; the methods call this at the end of
    ``prepare`` so that what a panorama costs to keep open is what it holds, not what decoding it
    once needed."""
    import ctypes
    import ctypes.util

    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None
