"""The render device setting as the viewer shows and offers it. Every resolution ("auto" -> CUDA
when available, else the CPU) is the core resolver's, ``core.device.pick_device``; nothing here
decides a device itself."""
from __future__ import annotations

from resvr.core.device import pick_device

#: the Device menu's entries, one per ``core.device.DEVICE_CHOICES``
DEVICE_TEXT = {"auto": "Automatic (CUDA when available)", "cpu": "CPU", "cuda": "CUDA GPU"}


def resolve(setting: str | None) -> str | None:
    """The device type ("cpu", "cuda") ``setting`` renders on, or None when it cannot (CUDA asked
    for and none present, or torch unusable)."""
    try:
        return pick_device(setting).type
    except Exception:  # noqa: BLE001 - MethodUnavailable (no CUDA), or a broken torch: the menu still builds
        return None


def device_text(setting: str) -> str:
    """'auto (cpu)', 'cpu', 'cuda (unavailable)': the setting and, where it differs, what it resolves to."""
    got = resolve(setting)
    if got is None:
        return f"{setting} (unavailable)"
    return setting if got == setting else f"{setting} ({got})"
