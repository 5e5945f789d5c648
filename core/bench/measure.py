"""Timing, peak memory and synthetic inputs of ``resvr bench``."""
from __future__ import annotations

import gc
import sys
import threading
import time
from pathlib import Path


# ============================================================================ memory / timing
def _proc_status(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _rss() -> int:
    v = _proc_status("VmRSS")
    if v is not None:
        return v
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except Exception:  # noqa: BLE001
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def _trim() -> None:
    """Give freed heap memory back to the OS so the next baseline RSS is honest."""
    from ..device import trim_heap

    gc.collect()
    trim_heap()


class PeakMemory:
    """Peak memory a stage adds: CPU RSS high-water mark over the RSS at ``start``, and on CUDA
    ``max_memory_allocated`` over the allocation at ``start``."""

    def __init__(self, device):
        self.device = device
        self.how = None

    def start(self):
        import torch

        _trim()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.cuda0 = torch.cuda.memory_allocated()
        self.rss0 = _rss()
        self._stop = None
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")                       # resets VmHWM to the current RSS
            self.how = "VmHWM"
        except OSError:
            self.how = "sampled"
            self.samples = [self.rss0]
            self._stop = threading.Event()

            def run():
                while not self._stop.is_set():
                    self.samples.append(_rss())
                    time.sleep(0.002)

            self._thread = threading.Thread(target=run, daemon=True)
            self._thread.start()
        return self

    def peek(self) -> dict:
        """The peak so far, without stopping."""
        return self.stop(keep=True)

    def stop(self, keep: bool = False) -> dict:
        import torch

        if self.how == "VmHWM":
            peak = _proc_status("VmHWM") or _rss()
        else:
            if not keep:
                self._stop.set()
                self._thread.join()
            peak = max(self.samples + [_rss()])
        out = {"cpu_peak_mb": round(max(0, peak - self.rss0) / 2**20, 1), "cpu_rss_mb": round(self.rss0 / 2**20, 1),
               "mem_method": self.how}
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            out["cuda_peak_mb"] = round((torch.cuda.max_memory_allocated() - self.cuda0) / 2**20, 1)
        return out


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(device, fn):
    _sync(device)
    t = time.perf_counter()
    r = fn()
    _sync(device)
    return time.perf_counter() - t, r


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return None if n == 0 else (xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2]))


def _peak_mb(mem: dict) -> float:
    return mem.get("cuda_peak_mb", mem["cpu_peak_mb"])


# ============================================================================ synthetic inputs
def synth_panorama(width: int, height: int, seed: int = 0, photos=None):
    """uint8 (height, width, 3) ERP: cube map of photographs when given, else a procedural,
    seam-continuous texture with detail at every scale."""
    import numpy as np

    if photos:
        import random

        from ..train.data import synth_cubemap_erp

        erp = synth_cubemap_erp(photos, height, random.Random(seed))
        return erp.permute(1, 2, 0).numpy()
    rng = np.random.default_rng(seed)
    lon = (np.arange(width) + 0.5) / width * 2 * np.pi
    lat = (0.5 - (np.arange(height) + 0.5) / height) * np.pi
    img = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        for octave in range(7):
            k = 2 ** octave
            for _ in range(3):
                a = rng.integers(1, 3 * k + 1)
                b = rng.uniform(1, 3 * k)
                ph = rng.uniform(0, 2 * np.pi)
                img[..., c] += (np.sin(a * lon[None, :] + b * lat[:, None] + ph) / (1 + octave)).astype(np.float32)
    img -= img.min()
    img /= max(1e-6, float(img.max()))
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 230 + 12).astype(np.uint8)


def write_lr_jpeg(path, lr_uint8, quality: int = 90) -> Path:
    from ..jpeg.container import write_jpeg_pixels

    return write_jpeg_pixels(path, lr_uint8, quality, overwrite=True)


def _load_photos(folder, n: int = 12):
    from ..train.data import list_images, load_rgb

    return [load_rgb(p, max_side=1280) for p in list_images(folder)[:n]]


