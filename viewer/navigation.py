"""Camera state and navigation for the panorama panes (one camera shared by every pane).

The camera follows docs/design.md's convention: ``yaw`` positive looks right (east, increasing
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
* **Field-of-view mode**: ``square`` (the viewer's default setting) derives fov_h from fov_v and the pane's aspect ratio
  (square pixels, what a casual viewer expects); ``fixed`` (opt-in, "paper FoV") keeps (fov_h,
  fov_v) whatever the pane size, as in the paper's evaluation (120x90 at 2048x1536).
* **Projection**: ``rectilinear`` (default), ``stereographic`` (little planet: looking straight
  down with a wide field) and ``fisheye`` (equidistant); see ``resvr.core.geometry``. Zoom scales
  the projection's radius g(fov/2) instead of tan(fov/2), within that projection's fov limits.
* **Auto-rotate** (off by default, as in Photo Sphere Viewer): after ``auto_rotate_idle_s`` without
  user input the yaw turns at ``auto_rotate_speed`` deg/s; any drag, key or zoom stops it.
* Pitch is clamped to [-90, 90]; yaw is wrapped to [-180, 180).

``settled`` fires once the view has not changed for ``SETTLE_MS`` and no drag or inertia is active;
the render service renders at full resolution on it.
"""
from __future__ import annotations

import math
import time

from PySide6.QtCore import QObject, QTimer, Signal

from resvr.core.geometry import View, fov_for_aspect, projection_radius

FOV_MIN = 10.0
FOV_MAX = 150.0
ZOOM_STEP = 0.9           # tan(fov/2) factor per wheel notch / key press (zoom in)
KEY_STEP = 0.10           # fraction of the field of view per arrow key press
INERTIA_TAU = 0.30        # seconds
INERTIA_MIN_SPEED = 2.0   # deg/s below which inertia stops
SETTLE_MS = 150
#: fov limits (degrees) per projection; rectilinear keeps FOV_MIN..FOV_MAX
FOV_LIMITS = {"rectilinear": (FOV_MIN, FOV_MAX), "stereographic": (FOV_MIN, 330.0), "fisheye": (FOV_MIN, 359.0)}   # View needs < 360
#: (yaw, pitch, fov_v) a projection starts from when chosen (None: keep the current value)
PROJECTION_START = {"rectilinear": (None, 0.0, 90.0), "stereographic": (None, -90.0, 250.0),
                    "fisheye": (None, None, 180.0)}
AUTO_ROTATE_SPEED = 6.0   # deg/s
AUTO_ROTATE_IDLE_S = 10.0


def wrap_yaw(yaw: float) -> float:
    return (yaw + 180.0) % 360.0 - 180.0


def clamp_pitch(pitch: float) -> float:
    return max(-90.0, min(90.0, pitch))


def zoom_fov(fov_h: float, fov_v: float, factor: float, projection: str = "rectilinear") -> tuple[float, float]:
    """Scale tan(fov/2) of both axes by ``factor`` (< 1 zooms in), clamped to the fov limits.
    Other projections scale their own radius g(fov/2) the same way."""
    if projection != "rectilinear":
        return _zoom_curved(fov_h, fov_v, factor, projection)
    th, tv = math.tan(math.radians(fov_h) / 2), math.tan(math.radians(fov_v) / 2)
    t_min, t_max = math.tan(math.radians(FOV_MIN) / 2), math.tan(math.radians(FOV_MAX) / 2)
    lo = t_min / min(th, tv)
    hi = t_max / max(th, tv)
    if lo > hi:  # degenerate pair: keep it
        return fov_h, fov_v
    f = max(lo, min(hi, factor))
    return (math.degrees(2 * math.atan(th * f)), math.degrees(2 * math.atan(tv * f)))


def _zoom_curved(fov_h, fov_v, factor, projection):
    from resvr.core.geometry import _projection_angle

    lo_f, hi_f = FOV_LIMITS[projection]

    def g(f):
        return projection_radius(math.radians(f) / 2, projection)

    def inv(r):
        return math.degrees(2 * _projection_angle(r, projection))

    gh, gv = g(fov_h), g(fov_v)
    lo = g(lo_f) / min(gh, gv)
    hi = g(hi_f) / max(gh, gv)
    if lo > hi:
        return fov_h, fov_v
    f = max(lo, min(hi, factor))
    return inv(gh * f), inv(gv * f)


class Camera(QObject):
    """yaw / pitch / fov shared by the panes. Emits ``changed`` on every change, ``settled`` after."""

    changed = Signal()
    settled = Signal()
    fullscreenRequested = Signal()
    escapePressed = Signal()

    def __init__(self, yaw=0.0, pitch=0.0, fov_h=120.0, fov_v=90.0, parent=None, clock=time.monotonic):
        super().__init__(parent)
        self._clock = clock           # seconds; injectable so tests can drive drag velocity and inertia
        self.yaw, self.pitch = wrap_yaw(float(yaw)), clamp_pitch(float(pitch))
        self.fov_h, self.fov_v = float(fov_h), float(fov_v)
        self.fov_mode = "fixed"         # the viewer sets its setting (default "square") on its camera
        self.projection = "rectilinear"
        self.initial = (self.yaw, self.pitch, self.fov_h, self.fov_v)
        self.auto_rotate_speed = AUTO_ROTATE_SPEED
        self.auto_rotate_idle_s = AUTO_ROTATE_IDLE_S
        self._auto_enabled = False
        self._auto = QTimer(self)         # the rotation ticks
        self._auto.setInterval(33)
        self._auto.timeout.connect(self._auto_step)
        self._auto_t = 0.0
        self._idle = QTimer(self)         # idle time before the rotation starts
        self._idle.setSingleShot(True)
        self._idle.timeout.connect(self._auto_start)
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
        if self.projection != "rectilinear":
            if self.fov_mode == "square":
                fov_h = fov_for_aspect(self.fov_v, width / max(1, height), self.projection)
            fov_h = min(fov_h, 359.0)
            return View(self.yaw, self.pitch, fov_h, self.fov_v, int(width), int(height), self.projection)
        if self.fov_mode == "square":
            fov_h = math.degrees(2 * math.atan(math.tan(math.radians(self.fov_v) / 2) * width / max(1, height)))
            fov_h = min(fov_h, 179.0)
        return View(self.yaw, self.pitch, fov_h, self.fov_v, int(width), int(height))

    def angles(self) -> tuple[float, float, float, float]:
        return (self.yaw, self.pitch, self.fov_h, self.fov_v)

    @property
    def moving(self) -> bool:
        return self.dragging or self._inertia.isActive() or self._auto.isActive()

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

    def set_projection(self, projection: str) -> None:
        """Switch projection; the view starts from that projection's usual framing (little planet:
        straight down, 250 degrees; fisheye: 180 degrees; rectilinear: the horizon, 90 degrees).
        In the fixed-fov mode fov_h keeps the fov_h : fov_v ratio of the projection's radius."""
        if projection not in FOV_LIMITS:
            raise ValueError(projection)
        g_old = projection_radius(math.radians(self.fov_h) / 2, self.projection) / \
            projection_radius(math.radians(self.fov_v) / 2, self.projection)
        yaw, pitch, fov_v = PROJECTION_START[projection]
        self.projection = projection
        fv = fov_v if fov_v is not None else self.fov_v
        fh = fov_for_aspect(fv, g_old, projection)
        lim = FOV_LIMITS[projection][1]
        self.stop_inertia()
        self.set_view(yaw, pitch, min(fh, lim - 1e-6 if projection != "rectilinear" else 179.0), fv)

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

    # ----------------------------------------------------------- auto-rotate
    @property
    def auto_rotate(self) -> bool:
        return self._auto_enabled

    @property
    def auto_rotating(self) -> bool:
        return self._auto.isActive()

    def set_auto_rotate(self, on: bool) -> None:
        """Enable auto-rotation: it starts after ``auto_rotate_idle_s`` without user input."""
        self._auto_enabled = bool(on)
        if on:
            self._idle.start(max(0, int(self.auto_rotate_idle_s * 1000)))
        else:
            self._idle.stop()
            if self._auto.isActive():
                self._auto.stop()
                self._settle.start()

    def user_activity(self) -> None:
        """Any drag, key or zoom: stop the auto-rotation and restart the idle wait."""
        if self._auto.isActive():
            self._auto.stop()
            self._settle.start()
        if self._auto_enabled:
            self._idle.start(max(0, int(self.auto_rotate_idle_s * 1000)))

    def _auto_start(self) -> None:
        if self._auto_enabled and not self.dragging and not self._inertia.isActive():
            self._auto_t = self._clock()
            self._auto.start()

    def _auto_step(self) -> None:
        now = self._clock()
        dt = min(0.1, now - self._auto_t)
        self._auto_t = now
        self.set_view(self.yaw + self.auto_rotate_speed * dt)

    # ------------------------------------------------------------ operations
    def rotate(self, dyaw: float, dpitch: float) -> None:
        self.set_view(self.yaw + dyaw, self.pitch + dpitch)

    def zoom(self, factor: float) -> None:
        self.user_activity()
        fh, fv = zoom_fov(self.fov_h, self.fov_v, factor, self.projection)
        if (fh, fv) != (self.fov_h, self.fov_v):
            self.set_view(fov_h=fh, fov_v=fv)

    def step_key(self, dx: int, dy: int, fine: bool = False) -> None:
        self.user_activity()
        s = KEY_STEP / 4 if fine else KEY_STEP
        self.rotate(dx * s * self.fov_h, dy * s * self.fov_v)

    # ---------------------------------------------------------- drag/inertia
    def begin_drag(self) -> None:
        self.user_activity()
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
        if self._auto_enabled:
            self._idle.start(max(0, int(self.auto_rotate_idle_s * 1000)))
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
