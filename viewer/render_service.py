"""Renders viewports with the chosen methods on a worker thread; the UI never waits for it.

* ``submit(request)`` replaces whatever request is waiting: the latest request wins. A request
  being processed is abandoned between items as soon as a newer one arrives (stale work dropped).
* Each item is one pane's view; when the request asks for metrics, the reference viewport of the
  same view is rendered first and every result carries PSNR / SSIM / LPIPS against it.
* Methods are created and ``prepare()``-d lazily on the worker and cached per (method, file,
  device); :class:`MethodUnavailable` (e.g. missing weights) becomes a result with
  ``unavailable`` set, never an exception in the UI.
* A failure is one pane's: any exception while creating, preparing or rendering one item (bad
  weights, a corrupt LR file, out of memory, a bug) becomes that item's result with ``error`` set
  (the pane shows it), and the request goes on with the other panes; a failing metric leaves the
  view without metrics.
* Cancelling is visible: when a newer request (or ``cancel()``) makes the one being processed
  stale, ``cancelled`` says what was dropped (e.g. "ResVR 1024×768"), so the status bar can show it.
* An item may override the request's ``full`` flag: the compare view sends a half-resolution
  learned pass (``full=False``) before the full-resolution one in the same request.
* The worker runs at a lower CPU priority (:func:`background_priority`, nice +10 on Linux): the
  threads torch starts for a render inherit it, so on a 2-core machine the GUI thread and the
  OpenGL driver's threads (llvmpipe) keep drawing the panorama pane while a learned view renders.
* A view already rendered is not rendered again: the last results (and their metrics) are kept,
  keyed by method, file (path, size, mtime), view and device, up to ``result_cache_bytes``; a
  metrics-only refresh, a mode switch or a return to the same view reuses them (``reused``
  counts). ``clear_cache`` (a new document or device) forgets them.
* Between requests the worker does idle work (``Method.idle_step``): ResVR builds the rest of its
  lazily built feature table a block at a time (tens of ms each), so that the next drag finds its
  tiles built; a new request waits at most one block.
* ``seconds_per_mpx`` keeps a running estimate of each method's cost, which the compare view uses
  to pick a lower resolution while the camera moves.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QThread, Signal

from resvr.core.errors import BadInput, MethodUnavailable
from resvr.core.geometry import View


BACKGROUND_NICE = 10


def background_priority(nice: int = BACKGROUND_NICE) -> None:
    """Run the calling thread at nice ``nice`` at least (Linux, where the nice value is per thread
    and inherited by the threads it starts: torch's OpenMP pool). A process started under ``nice``
    already keeps its level. Elsewhere nothing: there ``setpriority(PRIO_PROCESS, ...)`` would
    renice the whole process, GUI included."""
    if sys.platform.startswith("linux"):
        tid = threading.get_native_id()
        try:
            os.setpriority(os.PRIO_PROCESS, tid, max(nice, os.getpriority(os.PRIO_PROCESS, tid)))
        except OSError:
            pass


@dataclass(frozen=True)
class RenderItem:
    key: str
    method: str
    path: Path
    view: View
    full: bool | None = None        # None: the request's flag


@dataclass
class RenderRequest:
    items: list[RenderItem]
    reference: Path | None = None   # HR file; metrics are computed against it when set
    metrics: bool = False
    full: bool = True               # False: a low-resolution preview while moving
    device: str = "auto"
    gen: int = 0


@dataclass
class RenderResult:
    gen: int
    key: str
    method: str
    view: View
    full: bool
    image: np.ndarray | None = None   # (h, w, 3) float32 in [0, 1]
    seconds: float = 0.0
    error: str | None = None
    unavailable: bool = False
    metrics: dict = field(default_factory=dict)   # psnr, ssim, lpips (None when unavailable), lpips_note
    reference: np.ndarray | None = None           # the reference viewport the metrics used


def compute_metrics(img: np.ndarray, ref: np.ndarray, lpips_metric=None) -> dict:
    """PSNR / SSIM / LPIPS of a rendered view against the reference view (resvr.core.metrics)."""
    from resvr.core import metrics as M

    out = {"psnr": float(M.psnr(img, ref)), "ssim": float(M.ssim(img, ref)), "lpips": None, "lpips_note": None}
    lp = lpips_metric if lpips_metric is not None else M.LPIPSMetric()
    if lp.available:
        v = lp(img, ref)
        out["lpips"] = None if v is None else float(v)
    else:
        out["lpips_note"] = lp.reason or "LPIPS unavailable"
    return out


def _error_text(e: BaseException) -> str:
    """One line for a pane: the project's own errors by their message, anything else with its type."""
    text = " ".join(str(e).split())
    if isinstance(e, (BadInput, MethodUnavailable)):
        return text or type(e).__name__
    return f"{type(e).__name__}: {text[:300]}" if text else type(e).__name__


def _describe(items) -> str:
    """'ResVR 1024×768, Bilinear 1024×768' (each method and size once)."""
    from resvr.core import registry

    return ", ".join(dict.fromkeys(f"{registry.label(i.method)} {i.view.width}×{i.view.height}" for i in items))


class RenderService(QThread):
    resultReady = Signal(object)      # RenderResult
    busyChanged = Signal(bool)
    progress = Signal(int, int)       # done, total of the current request
    message = Signal(str)
    cancelled = Signal(str)           # what a newer request made stale, e.g. "ResVR 1024×768"
    started = Signal(object)          # RenderItem, when the worker begins it

    def __init__(self, parent=None):
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: RenderRequest | None = None
        self._stop = False
        self._gen = 0
        self._methods: dict = {}
        self.lpips_metric = None          # resvr.core.metrics.LPIPSMetric, created lazily
        self.seconds_per_mpx: dict[str, float] = {}
        self.dropped = 0
        self.reused = 0
        self.result_cache_bytes = 48 << 20     # the latest request's panes at 1024x768, about
        self._results: OrderedDict = OrderedDict()   # key -> [image (read-only), seconds, {reference: metrics}]
        self._idle_left = False       # a prepared method may have idle work (Method.idle_step)
        self._idle_done: set = set()  # methods that have none left

    # ------------------------------------------------------------- GUI side
    def submit(self, req: RenderRequest) -> int:
        with self._cond:
            self._gen += 1
            req.gen = self._gen
            stale = self._pending
            if stale is not None:
                self.dropped += 1
            self._pending = req
            self._cond.notify()
        if stale is not None and stale.items and stale.full:
            self.cancelled.emit(_describe(stale.items))
        if not self.isRunning():
            self.start(QThread.Priority.LowPriority)
        return req.gen

    @property
    def latest_gen(self) -> int:
        return self._gen

    def cancel(self) -> None:
        with self._cond:
            self._gen += 1
            if self._pending is not None:
                self.dropped += 1
            self._pending = None

    def clear_cache(self) -> None:
        """Forget prepared methods (new document or device); done on the worker before the next job."""
        with self._cond:
            self._methods = {}
            self._results = OrderedDict()
            self._idle_done = set()
            self._idle_left = False

    def stop(self, wait_ms: int = 5000) -> None:
        with self._cond:
            self._stop = True
            self._pending = None
            self._cond.notify()
        self.wait(wait_ms)

    def estimate_seconds(self, method: str, pixels: int) -> float | None:
        s = self.seconds_per_mpx.get(method)
        return None if s is None else s * pixels / 1e6

    # ---------------------------------------------------------- worker side
    def _newer(self, gen: int) -> bool:
        return self._stop or self._gen != gen

    def run(self) -> None:
        background_priority()
        while True:
            with self._cond:
                while self._pending is None and not self._stop and not self._idle_left:
                    self._cond.wait()
                if self._stop:
                    return
                req, self._pending = self._pending, None
            if req is None:
                self._idle_step()
                continue
            self.busyChanged.emit(True)
            try:
                self._process(req)
            except Exception:  # noqa: BLE001 - never kill the worker
                self.message.emit("render failed: " + traceback.format_exc(limit=2).strip().splitlines()[-1])
            with self._cond:
                idle = self._pending is None
                self._idle_left = True    # a method prepared or a view rendered: idle work may follow
            if idle:
                self.busyChanged.emit(False)

    def _method(self, name: str, path: Path, device: str):
        from resvr.core.methods import get_method

        key = self._key(name, path, None, device)     # a file changed on disk is prepared again
        m = self._methods.get(key)
        if m is None:
            try:
                m = get_method(name, device=device)
                self.message.emit(f"Preparing {m.label}…")
                m.prepare(path)
                self.message.emit("")  # clears the status line
            except Exception as e:  # noqa: BLE001 - one pane's failure, shown in that pane
                m = e
            self._methods[key] = m
        return m

    def _render(self, name, path, view, device):
        m = self._method(name, path, device)
        if isinstance(m, Exception):
            return None, 0.0, m
        t0 = time.perf_counter()
        try:
            img = m.render(view)
        except Exception as e:  # noqa: BLE001 - one pane's failure, shown in that pane
            return None, 0.0, e
        dt = time.perf_counter() - t0
        mpx = view.width * view.height / 1e6
        old = self.seconds_per_mpx.get(name)
        est = dt / max(mpx, 1e-6)
        self.seconds_per_mpx[name] = est if old is None else 0.5 * old + 0.5 * est
        return np.asarray(img, np.float32), dt, None

    def _idle_step(self) -> None:
        """One piece of idle work (``Method.idle_step``: ResVR builds a block of its table) for the
        first prepared method that has some; a new request is served at the end of the piece."""
        for key, m in list(self._methods.items()):
            if key in self._idle_done or isinstance(m, Exception):
                continue
            try:
                if m.idle_step():
                    return
            except Exception:  # noqa: BLE001 - idle work never breaks the renders
                pass
            self._idle_done.add(key)
        self._idle_left = False

    @staticmethod
    def _key(name, path, view, device) -> tuple:
        try:
            st = Path(path).stat()
            stamp = (st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        return name, str(path), stamp, view, device

    def _render_reused(self, name, path, view, device):
        """:meth:`_render`, or the kept result of the same (method, file, view, device)
        -> (image, seconds, error, cache entry or None)."""
        key = self._key(name, path, view, device)
        results = self._results
        hit = results.get(key)
        if hit is not None:
            results.move_to_end(key)
            self.reused += 1
            return hit[0], hit[1], None, hit
        img, dt, err = self._render(name, path, view, device)
        if err is not None or img is None:
            return img, dt, err, None
        img.setflags(write=False)        # shared by every reuse
        entry = results[key] = [img, dt, {}]
        total = sum(e[0].nbytes for e in results.values())
        while total > self.result_cache_bytes and len(results) > 1:
            total -= results.popitem(last=False)[1][0].nbytes
        return img, dt, None, entry

    def _abandon(self, req: RenderRequest, n: int) -> None:
        """Say which of the request's items a newer request made stale (the status bar shows it)."""
        if self._stop:
            return
        left = [i for i in req.items[n:] if (req.full if i.full is None else i.full)]
        if not left:
            return
        self.dropped += 1
        self.cancelled.emit(_describe(left))

    def _process(self, req: RenderRequest) -> None:
        gen = req.gen
        refs: dict[View, np.ndarray] = {}
        total = len(req.items)
        for n, item in enumerate(req.items):
            if self._newer(gen):
                self._abandon(req, n)
                return
            self.progress.emit(n, total)
            self.started.emit(item)
            full = req.full if item.full is None else item.full
            img, dt, err, entry = self._render_reused(item.method, item.path, item.view, req.device)
            res = RenderResult(gen, item.key, item.method, item.view, full, img, dt)
            if err is None and item.method == "reference":
                refs[item.view] = img
            if err is not None:
                res.unavailable = isinstance(err, MethodUnavailable)
                res.error = _error_text(err)
            elif full and req.metrics and req.reference is not None and item.method != "reference":
                ref = refs.get(item.view)
                if ref is None:
                    ref, _, rerr, _ = self._render_reused("reference", req.reference, item.view, req.device)
                    if rerr is None:
                        refs[item.view] = ref
                kept = entry[2].get(str(req.reference)) if entry is not None else None
                if ref is not None and kept is not None:
                    res.metrics, res.reference = dict(kept), ref
                elif ref is not None:
                    if self._newer(gen):
                        self._abandon(req, n)
                        return
                    if self.lpips_metric is None:
                        from resvr.core.metrics import LPIPSMetric

                        self.lpips_metric = LPIPSMetric()
                    try:
                        res.metrics = compute_metrics(img, ref, self.lpips_metric)
                        res.reference = ref
                        if entry is not None:
                            entry[2][str(req.reference)] = dict(res.metrics)
                    except Exception as e:  # noqa: BLE001 - the view stands without metrics
                        self.message.emit(f"metrics failed: {_error_text(e)}")
            if self._newer(gen):
                self._abandon(req, n)
                return
            self.resultReady.emit(res)
        self.progress.emit(total, total)
