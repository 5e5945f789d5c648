"""Camera state and navigation for the panorama panes (one camera shared by every pane).

The camera follows DESIGN.md's convention: ``yaw`` positive looks right (east, increasing
longitude), ``pitch`` positive looks up, no roll, angles in degrees.

Interaction semantics ("grab the scene", as in Google Street View, Pannellum, Marzipano):

* **Drag**: the point under the cursor follows the cursor. Dragging *right* pulls the scene to the
  right, so the camera turns *left*: yaw decreases by ``dx * fov_h / pane_width``. Dragging *down*
  pulls the scene down, so the camera looks *up*: pitch increases by ``dy * fov_v / pane_height``.
  On release the motion continues with inertia (exponential decay, time constant ``INERTIA_TAU``).
* **Keys**: Right / D -> yaw +, Left / A -> yaw -, Up / W -> pitch +, Down / S -> pitch -, each by
  10 % of the field of view (Shift: 2.5 %). ``+`` / ``=`` / PgUp zoom in, ``-`` / PgDn zoom out,
  ``R`` resets to the initial view (the GPano initial view when the file has one).
* **Zoom** (wheel, pinch, keys) scales ``tan(fov/2)`` of both axes by the same factor, so the pixel
  aspect of a (fov_h, fov_v) pair such as the paper's 120x90 is kept; both angles stay within
  [FOV_MIN, FOV_MAX]. Wheel up (away from the user) zooms in: one notch (120 units) = factor 0.9.
* **Field-of-view mode**: ``fixed`` (default) keeps (fov_h, fov_v) whatever the pane size, as in the
  paper's evaluation (120x90 at 2048x1536: non-square pixels); ``square`` derives fov_h from fov_v
  and the pane's aspect ratio (square pixels, what a casual viewer expects).
* Pitch is clamped to [-90, 90]; yaw is wrapped to [-180, 180).

``settled`` fires once the view has not changed for ``SETTLE_MS`` and no drag or inertia is active;
the render service renders at full resolution on it.
"""
from __future__ import annotations

import math
import time

from PySide6.QtCore import QObject, QTimer, Signal

from resvr.core.geometry import View

FOV_MIN = 10.0
FOV_MAX = 150.0
ZOOM_STEP = 0.9           # tan(fov/2) factor per wheel notch / key press (zoom in)
KEY_STEP = 0.10           # fraction of the field of view per arrow key press
INERTIA_TAU = 0.30        # seconds
INERTIA_MIN_SPEED = 2.0   # deg/s below which inertia stops
SETTLE_MS = 150


def wrap_yaw(yaw: float) -> float:
    return (yaw + 180.0) % 360.0 - 180.0


def clamp_pitch(pitch: float) -> float:
    return max(-90.0, min(90.0, pitch))


def zoom_fov(fov_h: float, fov_v: float, factor: float) -> tuple[float, float]:
    """Scale tan(fov/2) of both axes by ``factor`` (< 1 zooms in), clamped to the fov limits."""
    th, tv = math.tan(math.radians(fov_h) / 2), math.tan(math.radians(fov_v) / 2)
    t_min, t_max = math.tan(math.radians(FOV_MIN) / 2), math.tan(math.radians(FOV_MAX) / 2)
    lo = t_min / min(th, tv)
    hi = t_max / max(th, tv)
    if lo > hi:  # degenerate pair: keep it
        return fov_h, fov_v
    f = max(lo, min(hi, factor))
    return (math.degrees(2 * math.atan(th * f)), math.degrees(2 * math.atan(tv * f)))


class Camera(QObject):
    """yaw / pitch / fov shared by the panes. Emits ``changed`` on every change, ``settled`` after."""

    changed = Signal()
    settled = Signal()
    fullscreenRequested = Signal()

    def __init__(self, yaw=0.0, pitch=0.0, fov_h=120.0, fov_v=90.0, parent=None, clock=time.monotonic):
        super().__init__(parent)
        self._clock = clock           # seconds; injectable so tests can drive drag velocity and inertia
        self.yaw, self.pitch = wrap_yaw(float(yaw)), clamp_pitch(float(pitch))
        self.fov_h, self.fov_v = float(fov_h), float(fov_v)
        self.fov_mode = "fixed"
        self.initial = (self.yaw, self.pitch, self.fov_h, self.fov_v)
        self.inertia_enabled = True
        self.dragging = False
        self._vel = (0.0, 0.0)        # deg/s (yaw, pitch)
        self._last_move_t = 0.0
        self._inertia = QTimer(self)
        self._inertia.setInterval(16)
        self._inertia.timeout.connect(self._inertia_step)
        self._inertia_t = 0.0
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self._maybe_settled)

    # ----------------------------------------------------------------- state
    def view(self, width: int, height: int) -> View:
        """The viewport for a pane of ``width`` x ``height`` framebuffer pixels."""
        fov_h = self.fov_h
        if self.fov_mode == "square":
            fov_h = math.degrees(2 * math.atan(math.tan(math.radians(self.fov_v) / 2) * width / max(1, height)))
            fov_h = min(fov_h, 179.0)
        return View(self.yaw, self.pitch, fov_h, self.fov_v, int(width), int(height))

    def angles(self) -> tuple[float, float, float, float]:
        return (self.yaw, self.pitch, self.fov_h, self.fov_v)

    @property
    def moving(self) -> bool:
        return self.dragging or self._inertia.isActive()

    def set_view(self, yaw=None, pitch=None, fov_h=None, fov_v=None, *, emit=True) -> None:
        if yaw is not None:
            self.yaw = wrap_yaw(float(yaw))
        if pitch is not None:
            self.pitch = clamp_pitch(float(pitch))
        if fov_h is not None:
            self.fov_h = float(fov_h)
        if fov_v is not None:
            self.fov_v = float(fov_v)
        if emit:
            self._emit()

    def set_initial(self, yaw, pitch, fov_h, fov_v, reset=True) -> None:
        self.initial = (wrap_yaw(float(yaw)), clamp_pitch(float(pitch)), float(fov_h), float(fov_v))
        if reset:
            self.reset()

    def set_fov_mode(self, mode: str) -> None:
        if mode not in ("fixed", "square"):
            raise ValueError(mode)
        self.fov_mode = mode
        self._emit()

    def reset(self) -> None:
        self.stop_inertia()
        self.set_view(*self.initial)

    def _emit(self) -> None:
        self.changed.emit()
        self._settle.start()

    def _maybe_settled(self) -> None:
        if self.moving:
            self._settle.start()
        else:
            self.settled.emit()

    # ------------------------------------------------------------ operations
    def rotate(self, dyaw: float, dpitch: float) -> None:
        self.set_view(self.yaw + dyaw, self.pitch + dpitch)

    def zoom(self, factor: float) -> None:
        fh, fv = zoom_fov(self.fov_h, self.fov_v, factor)
        if (fh, fv) != (self.fov_h, self.fov_v):
            self.set_view(fov_h=fh, fov_v=fv)

    def step_key(self, dx: int, dy: int, fine: bool = False) -> None:
        s = KEY_STEP / 4 if fine else KEY_STEP
        self.rotate(dx * s * self.fov_h, dy * s * self.fov_v)

    # ---------------------------------------------------------- drag/inertia
    def begin_drag(self) -> None:
        self.stop_inertia()
        self.dragging = True
        self._vel = (0.0, 0.0)
        self._last_move_t = self._clock()

    def drag_by(self, dx_px: float, dy_px: float, pane_w: int, pane_h: int) -> None:
        """Grab-the-scene drag by (dx, dy) pixels in a pane of the given size."""
        v = self.view(max(1, pane_w), max(1, pane_h))
        dyaw = -dx_px * v.fov_h / max(1, pane_w)
        dpitch = dy_px * v.fov_v / max(1, pane_h)
        now = self._clock()
        dt = max(1e-3, now - self._last_move_t)
        self._last_move_t = now
        a = 0.5  # smoothing of the release velocity
        self._vel = (a * dyaw / dt + (1 - a) * self._vel[0], a * dpitch / dt + (1 - a) * self._vel[1])
        self.rotate(dyaw, dpitch)

    def end_drag(self) -> None:
        self.dragging = False
        idle = self._clock() - self._last_move_t
        speed = math.hypot(*self._vel)
        if self.inertia_enabled and idle < 0.08 and speed > 4 * INERTIA_MIN_SPEED:
            self._vel = tuple(min(720.0, max(-720.0, c)) for c in self._vel)
            self._inertia_t = self._clock()
            self._inertia.start()
        else:
            self._vel = (0.0, 0.0)
            self._settle.start()

    def stop_inertia(self) -> None:
        if self._inertia.isActive():
            self._inertia.stop()
            self._settle.start()
        self._vel = (0.0, 0.0)

    def _inertia_step(self) -> None:
        now = self._clock()
        dt = min(0.1, now - self._inertia_t)
        self._inertia_t = now
        decay = math.exp(-dt / INERTIA_TAU)
        vy, vp = self._vel
        self._vel = (vy * decay, vp * decay)
        if math.hypot(*self._vel) < INERTIA_MIN_SPEED:
            self.stop_inertia()
            return
        self.rotate(self._vel[0] * dt, self._vel[1] * dt)
