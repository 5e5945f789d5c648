"""Frame rate of the GL panorama pane, for ``resvr bench`` (issue 5: goal >= 60 fps at 1024x768).

``measure_gl_fps(1024, 768, seconds=2.0)`` shows one :class:`PanoramaGLWidget` with a synthetic
2048x1024 panorama, turns the camera a little every frame and reports:

* ``draw_fps``: frames per second of the shader pass itself (``paintGL`` + ``glFinish`` into the
  widget's framebuffer), i.e. what the GPU / llvmpipe sustains;
* ``present_fps``: full widget frames (``repaint()`` + event processing: draw, compose, show).

With ``background_render=True`` a worker thread renders 1024x768 viewports with ``method``
(default bicubic; ``resvr`` once weights exist) during the measurement, as the render service
does, and the result says how many background renders completed: does the GL pane hold its frame
rate while a learned render runs? Needs a display (Xvfb under CI); creates the QApplication if
none exists (call before creating one yourself, or after ``resvr.viewer.qtsetup.configure_qt``).
"""
from __future__ import annotations

import threading
import time

import numpy as np


def _synthetic_pano(w=2048, h=1024) -> np.ndarray:
    u = np.linspace(0, 2 * np.pi, w, endpoint=False)
    v = np.linspace(0, np.pi, h)
    U, V = np.meshgrid(u, v)
    img = np.stack([np.sin(5 * U) * np.cos(3 * V), np.sin(11 * U + V), np.cos(7 * V + 2 * U)], -1)
    return ((img + 1) * 127.5).astype(np.uint8)


def _background_method(method: str, weights, lr_path, pano):
    """measure_gl_fps's background method, prepared (weights loaded, LR decoded) on the calling
    thread, which first takes the viewer's render worker priority."""
    import tempfile
    from pathlib import Path

    from PIL import Image

    from resvr.core.methods import get_method

    from .render_service import background_priority

    background_priority()          # as the viewer's render worker runs

    m = get_method(method, device="cpu", weights=weights)
    path = lr_path
    if path is None:
        path = Path(tempfile.mkdtemp()) / "fps_pano.png"
        Image.fromarray(pano[::4, ::4].copy()).save(path)
    m.prepare(path)
    return m


def measure_gl_fps(width: int = 1024, height: int = 768, seconds: float = 2.0,
                   background_render: bool = False, method: str = "bicubic", lr_path=None, weights=None) -> dict:
    from PySide6.QtWidgets import QApplication

    from .qtsetup import configure_qt

    app = QApplication.instance()
    if app is None:
        configure_qt()
        app = QApplication([])
    from OpenGL import GL

    from .gl_widget import PanoramaGLWidget

    w = PanoramaGLWidget()
    w.camera.inertia_enabled = False
    w.resize(width, height)
    pano = _synthetic_pano()
    w.set_image(pano)
    w.show()
    t_end = time.monotonic() + 5
    while not w.isValid() and time.monotonic() < t_end:
        app.processEvents()
    w.grab_image()  # compile + upload outside the timing
    fbw, fbh = w.fb_size()

    stop = threading.Event()
    ready = threading.Event()  # the background method is prepared (weights loaded, LR decoded)
    renders = [0]
    bg_error = [None]

    def bg():
        try:
            from resvr.core.geometry import View

            m = _background_method(method, weights, lr_path, pano)
            ready.set()
            k = 0
            while not stop.is_set():
                m.render(View(k * 3.0, 0.0, 120.0, 90.0, 1024, 768))
                renders[0] += 1
                k += 1
        except Exception as e:  # noqa: BLE001
            bg_error[0] = f"{type(e).__name__}: {e}"
        finally:
            ready.set()

    th = None
    if background_render:
        th = threading.Thread(target=bg, daemon=True)
        th.start()
        ready.wait(120)
        time.sleep(0.2)  # the first render is under way

    half = max(0.2, seconds / 2)
    # 1) shader pass only
    w.makeCurrent()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < half:
        w.camera.set_view(yaw=w.camera.yaw + 0.5, emit=False)
        w.paintGL()
        GL.glFinish()
        n += 1
    draw_fps = n / (time.perf_counter() - t0)
    w.doneCurrent()
    # 2) whole widget frames
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < half:
        w.camera.set_view(yaw=w.camera.yaw + 0.5, emit=False)
        w.repaint()
        app.processEvents()
        n += 1
    present_fps = n / (time.perf_counter() - t0)
    stop.set()
    if th is not None:
        th.join(timeout=30)
    info = dict(w.gl_info)
    w.close()
    w.deleteLater()
    app.processEvents()
    out = {"width": fbw, "height": fbh, "draw_fps": round(draw_fps, 1), "present_fps": round(present_fps, 1),
           "renderer": info.get("renderer"), "gl_version": info.get("version"),
           "background_render": background_render}
    if background_render:
        out.update(background_method=method, background_renders=renders[0], background_error=bg_error[0],
                   background_seconds=round(2 * half, 2))
    return out


def bench_gl(sizes, seconds: float, timeout: float, background=None) -> dict:
    """``resvr bench``'s GL measurement (its ``gl_fps`` plug-in): fps at each (w, h) of ``sizes``;
    then, for each (w, h, method, weights) of ``background``, the same while a worker thread
    renders 1024x768 viewports with that method. Each in a fresh process."""
    import json
    import os
    import subprocess
    import sys

    res = {"status": "ok", "display": os.environ.get("DISPLAY"), "sizes": []}
    jobs = [(w, h, "") for (w, h) in sizes]
    jobs += [(w, h, f", background_render=True, method={m!r}, weights={None if wt is None else str(wt)!r}")
             for (w, h, m, wt) in background or []]
    for (w, h, extra) in jobs:
        secs = max(seconds, 8.0) if extra else seconds  # long enough for several learned renders
        code = ("import json,sys; from resvr.viewer.fps import measure_gl_fps; "
                f"print('@@'+json.dumps(measure_gl_fps({w}, {h}, {secs}{extra})))")
        try:
            p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            res["sizes"].append({"size": [w, h], "error": "timed out"})
            continue
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("@@")]
        if line:
            res["sizes"].append(dict(json.loads(line[-1][2:]), size=[w, h]))
        else:
            tail = (p.stderr or "").strip().splitlines()[-1:] or [f"exit {p.returncode}"]
            res["sizes"].append({"size": [w, h], "error": tail[0][:200]})
    return res


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(measure_gl_fps(background_render="--bg" in sys.argv), indent=1))
