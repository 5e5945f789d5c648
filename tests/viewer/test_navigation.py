"""Drag inertia with a fake clock (viewer/navigation.py): a flick coasts about v * tau in the drag
direction, the velocity decays, and ``settled`` follows once it has stopped.

The camera's clock is injected; the inertia timer is Qt's own. Each inertia tick that moves the
camera advances the fake clock by one fixed step, so the simulated motion does not depend on how
fast this machine runs the timer (no timing is asserted)."""
from __future__ import annotations

import math

import pytest

from resvr.viewer.navigation import INERTIA_TAU, Camera

PANE = (800, 600)
FOV = (120.0, 90.0)


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def _flick(cam, clock, dx, dy, moves=12, dt=0.01):
    """Drag by (dx, dy) pixels every dt fake seconds; returns the documented drag rate in deg/s."""
    cam.begin_drag()
    for _ in range(moves):
        clock.t += dt
        cam.drag_by(dx, dy, *PANE)
    # grab-the-scene: dragging right turns the camera left by dx * fov_h / width (module docstring)
    return -dx * FOV[0] / PANE[0] / dt, dy * FOV[1] / PANE[1] / dt


def _coast(qtbot, cam, clock, step=0.02, timeout_ms=4000):
    """Release and let the real inertia timer run; returns (yaw path unwrapped, pitch path, settle count)."""
    yaws, pitches, settled = [cam.yaw], [cam.pitch], []

    def moved():
        d = (cam.yaw - yaws[-1] + 180.0) % 360.0 - 180.0
        yaws.append(yaws[-1] + d)
        pitches.append(cam.pitch)
        clock.t += step

    cam.changed.connect(moved)
    cam.settled.connect(lambda: settled.append(cam.moving))
    cam.end_drag()
    qtbot.waitUntil(lambda: bool(settled), timeout=timeout_ms)
    return yaws, pitches, settled


def test_flick_coasts_about_v_tau_then_settles(qtbot):
    clock = FakeClock()
    cam = Camera(fov_h=FOV[0], fov_v=FOV[1], clock=clock)
    vy, vp = _flick(cam, clock, -10.0, 2.0)          # drag left and a little down: turn right, look up
    assert vy == pytest.approx(150.0) and vp == pytest.approx(30.0)
    start_yaw, start_pitch = cam.yaw, cam.pitch
    assert start_yaw == pytest.approx(12 * 1.5) and start_pitch == pytest.approx(12 * 0.3)
    yaws, pitches, settled = _coast(qtbot, cam, clock)
    assert settled == [False]                        # once, and only after the motion has stopped
    assert not cam.moving
    coast_yaw = yaws[-1] - start_yaw
    coast_pitch = pitches[-1] - start_pitch
    # exponential decay with time constant tau: the coast is the integral of v e^(-t/tau) = v tau,
    # less a few percent for the 20 ms steps and the stop below INERTIA_MIN_SPEED
    speed = math.hypot(vy, vp)
    assert 0.9 * speed * INERTIA_TAU < math.hypot(coast_yaw, coast_pitch) <= speed * INERTIA_TAU
    assert coast_yaw > 0 and coast_pitch > 0
    assert coast_pitch / coast_yaw == pytest.approx(vp / vy, rel=0.02)   # along the drag direction
    # the motion slows down: each step is no longer than the one before
    steps = [b - a for a, b in zip(yaws[1:], yaws[2:])]
    assert len(steps) > 10 and all(s2 <= s1 + 1e-12 for s1, s2 in zip(steps, steps[1:]))
    assert steps[0] > 10 * steps[-1]
    # and it stays put after settling
    qtbot.wait(60)
    assert cam.yaw == pytest.approx(wrap(yaws[-1]))


def wrap(a):
    return (a + 180.0) % 360.0 - 180.0


def test_release_after_a_pause_does_not_coast(qtbot):
    clock = FakeClock()
    cam = Camera(fov_h=FOV[0], fov_v=FOV[1], clock=clock)
    _flick(cam, clock, -10.0, 0.0)
    clock.t += 0.5                                   # the cursor rested before the button went up
    yaw = cam.yaw
    yaws, _, settled = _coast(qtbot, cam, clock)
    assert settled == [False] and yaws == [yaw] and cam.yaw == yaw


def test_inertia_disabled_and_a_new_drag_stop_the_coast(qtbot):
    clock = FakeClock()
    cam = Camera(fov_h=FOV[0], fov_v=FOV[1], clock=clock)
    cam.inertia_enabled = False
    _flick(cam, clock, 20.0, 0.0)
    yaw = cam.yaw
    assert yaw == pytest.approx(-12 * 3.0)
    yaws, _, settled = _coast(qtbot, cam, clock)
    assert yaws == [yaw] and settled == [False]
    # with inertia on, grabbing the view again stops the coast at once
    cam.inertia_enabled = True
    _flick(cam, clock, 20.0, 0.0)
    cam.end_drag()
    assert cam.moving
    qtbot.wait(50)
    cam.begin_drag()
    held = cam.yaw
    qtbot.wait(80)
    assert cam.yaw == held and cam.dragging
    cam.end_drag()


@pytest.mark.parametrize("projection", ["stereographic", "fisheye"])
def test_zooming_out_as_far_as_it_goes_stays_a_valid_view(projection):
    # the taller axis reaches the projection's limit; the View built from it must still be valid (< 360)
    from resvr.core.geometry import View
    from resvr.viewer.navigation import FOV_LIMITS, zoom_fov

    fh, fv = 80.0, 90.0
    for _ in range(40):
        fh, fv = zoom_fov(fh, fv, 1 / 0.9, projection)
    assert fv == pytest.approx(FOV_LIMITS[projection][1], abs=1e-6) and fh < fv
    View(yaw=0.0, pitch=0.0, fov_h=fh, fov_v=fv, width=64, height=72, projection=projection)


# ---- square pixels: fov_h follows the pane's aspect (the viewer's default "square" mode) --------
@pytest.mark.parametrize("size", [(1600, 600), (600, 800), (4000, 500)])
def test_square_pixel_mode_gives_equal_focal_lengths(size):
    """Rectilinear: fx = (w/2)/tan(fov_h/2) equals fy = (h/2)/tan(fov_v/2) (the geometry
    convention's focal lengths); the fixed mode keeps fov_h whatever the pane."""
    w, h = size
    cam = Camera(fov_h=100.0, fov_v=70.0)
    assert cam.view(w, h).fov_h == pytest.approx(100.0)
    cam.set_fov_mode("square")
    v = cam.view(w, h)
    fx = (w / 2) / math.tan(math.radians(v.fov_h) / 2)
    fy = (h / 2) / math.tan(math.radians(v.fov_v) / 2)
    assert (v.width, v.height, v.fov_v) == (w, h, 70.0)
    assert fx == pytest.approx(fy, rel=1e-9)


def test_square_pixel_mode_caps_a_very_wide_pane():
    cam = Camera(fov_h=100.0, fov_v=120.0)
    cam.set_fov_mode("square")
    assert cam.view(100000, 100).fov_h == pytest.approx(179.0)
    cam.set_projection("stereographic")
    cam.set_fov_mode("square")
    assert cam.view(100000, 100).fov_h == pytest.approx(359.0)


@pytest.mark.parametrize("projection", ["stereographic", "fisheye"])
def test_square_pixel_mode_in_the_wide_projections(projection):
    """Equal radial scale across and up: g(fov_h/2) / w = g(fov_v/2) / h, with the projection's
    radius g written out here (stereographic 2 tan(t/2), fisheye t)."""
    g = {"stereographic": lambda t: 2 * math.tan(t / 2), "fisheye": lambda t: t}[projection]
    cam = Camera()
    cam.set_projection(projection)
    cam.set_fov_mode("square")
    w, h = 900, 600
    v = cam.view(w, h)
    assert v.projection == projection
    assert g(math.radians(v.fov_h) / 2) / w == pytest.approx(g(math.radians(v.fov_v) / 2) / h, rel=1e-9)


# ---- auto-rotate ---------------------------------------------------------------------------------
def _auto_cam(clock, idle_s):
    cam = Camera(fov_h=FOV[0], fov_v=FOV[1], clock=clock)
    cam.auto_rotate_idle_s = idle_s
    steps = []

    def moved():
        steps.append(cam.yaw)
        clock.t += 0.05          # each rotation tick: 50 ms of fake time

    cam.changed.connect(moved)
    return cam, steps


def test_auto_rotate_waits_for_idle_then_turns_right_at_its_speed(qtbot):
    clock = FakeClock()
    cam, steps = _auto_cam(clock, idle_s=1.0)
    cam.set_auto_rotate(True)
    qtbot.wait(300)                      # timers fire late under load, never early
    assert steps == [] and cam.yaw == 0.0
    qtbot.waitUntil(lambda: len(steps) >= 6, timeout=5000)
    d = [b - a for a, b in zip(steps[1:], steps[2:6])]
    # yaw grows by speed * dt each tick (dt = the fake 50 ms)
    assert d == pytest.approx([cam.auto_rotate_speed * 0.05] * len(d))


def test_user_input_stops_auto_rotate_and_the_idle_wait_starts_again(qtbot):
    clock = FakeClock()
    cam, steps = _auto_cam(clock, idle_s=0.3)
    settled = []
    cam.settled.connect(lambda: settled.append(True))
    cam.set_auto_rotate(True)
    qtbot.waitUntil(lambda: len(steps) >= 3, timeout=5000)
    cam.auto_rotate_idle_s = 60.0        # the next idle wait outlasts the test
    cam.user_activity()
    n = len(steps)
    qtbot.waitUntil(lambda: bool(settled), timeout=5000)   # stopping lets the view settle
    qtbot.wait(300)
    assert len(steps) == n
    # disabled: the idle wait is cancelled too, so it never starts again
    cam.auto_rotate_idle_s = 0.05
    cam.user_activity()                  # idle wait restarted at 50 ms ...
    cam.set_auto_rotate(False)           # ... and cancelled
    qtbot.wait(400)
    assert len(steps) == n and not cam.auto_rotate


def test_auto_rotate_never_starts_during_a_drag(qtbot):
    clock = FakeClock()
    cam, steps = _auto_cam(clock, idle_s=0.05)
    cam.inertia_enabled = False
    cam.begin_drag()
    cam.set_auto_rotate(True)
    qtbot.wait(400)
    assert steps == []


def test_auto_rotate_is_off_until_enabled(qtbot):
    """A new camera never turns by itself, whatever the input and however long it then waits."""
    clock = FakeClock()
    cam, steps = _auto_cam(clock, idle_s=0.05)
    cam.inertia_enabled = False
    assert not cam.auto_rotate
    cam.user_activity()
    cam.begin_drag()
    cam.drag_by(5, 0, *PANE)
    cam.end_drag()
    n = len(steps)
    qtbot.wait(400)
    assert len(steps) == n and not cam.auto_rotating


def _waits_then_turns(qtbot, cam, steps, ms):
    """After the input just given: no rotation for ``ms`` (timers fire late under load, never
    early), then the rotation starts."""
    n = len(steps)
    qtbot.wait(ms)
    assert len(steps) == n and not cam.auto_rotating
    qtbot.waitUntil(lambda: cam.auto_rotating, timeout=5000)


@pytest.mark.parametrize("how", ["key or zoom", "drag"])
def test_input_restarts_the_whole_idle_wait(qtbot, how):
    """After any input the rotation waits the whole ``auto_rotate_idle_s`` again (1 s here: not
    started 300 ms later), then starts."""
    clock = FakeClock()
    cam, steps = _auto_cam(clock, idle_s=1.0)
    cam.inertia_enabled = False
    cam.set_auto_rotate(True)
    if how == "drag":
        cam.begin_drag()
        cam.drag_by(5, 0, *PANE)
        cam.end_drag()
    else:
        cam.user_activity()
    _waits_then_turns(qtbot, cam, steps, 300)


def test_late_input_restarts_the_idle_wait(qtbot):
    """Input 0.6 s into a 1 s wait: the rotation has not started 0.6 s later (it would have at 1 s
    without the restart; timers fire late under load, never early), then it does."""
    clock = FakeClock()
    cam, steps = _auto_cam(clock, idle_s=1.0)
    cam.set_auto_rotate(True)
    qtbot.wait(600)
    assert steps == []
    cam.user_activity()
    _waits_then_turns(qtbot, cam, steps, 600)


def test_a_long_drag_restarts_the_idle_wait_when_it_ends(qtbot):
    """A drag of 0.6 s into a 1 s wait: the wait starts again at the release, so the rotation has
    not started 0.6 s after it (it would have at 1 s from the press)."""
    clock = FakeClock()
    cam, steps = _auto_cam(clock, idle_s=1.0)
    cam.inertia_enabled = False
    cam.set_auto_rotate(True)
    cam.begin_drag()
    cam.drag_by(5, 0, *PANE)
    qtbot.wait(600)
    cam.end_drag()
    _waits_then_turns(qtbot, cam, steps, 600)


def test_disabling_stops_a_rotation_under_way(qtbot):
    clock = FakeClock()
    cam, steps = _auto_cam(clock, idle_s=0.05)
    cam.set_auto_rotate(True)
    qtbot.waitUntil(lambda: len(steps) >= 2, timeout=5000)
    cam.set_auto_rotate(False)
    n = len(steps)
    assert not cam.auto_rotating and not cam.auto_rotate
    qtbot.wait(300)
    assert len(steps) == n


def test_settled_fires_once_per_change(qtbot):
    """``settled`` (the viewer's cue for a full render) comes once after a change, not again and
    again while the view stays put."""
    cam = Camera(0.0, 0.0, *FOV)
    settled = []
    cam.settled.connect(lambda: settled.append(1))
    cam.set_view(yaw=20.0)
    qtbot.waitUntil(lambda: bool(settled), timeout=5000)
    qtbot.wait(700)
    assert settled == [1]


@pytest.mark.parametrize("pitch", [-200.0, -90.5, 90.5, 135.0])
def test_pitch_stops_at_the_poles(qtbot, pitch):
    cam = Camera(0.0, 0.0, *FOV)
    cam.set_view(pitch=pitch)
    assert cam.pitch == math.copysign(90.0, pitch)
    cam.rotate(0.0, -2 * pitch)
    assert cam.pitch == -math.copysign(90.0, pitch)


def test_two_moves_at_the_same_instant_do_not_divide_by_zero(qtbot):
    clock = FakeClock()
    cam = Camera(0.0, 0.0, *FOV, clock=clock)
    cam.begin_drag()
    cam.drag_by(4, 0, *PANE)
    cam.drag_by(4, 0, *PANE)           # the clock has not moved
    cam.end_drag()
    assert cam.yaw == pytest.approx(-8 * FOV[0] / PANE[0])
    assert all(math.isfinite(v) for v in cam._vel)


def test_arrow_keys_turn_the_documented_share_of_the_view(qtbot):
    """The shortcuts dialog says 10 % of the field of view per arrow and 2.5 % with Shift."""
    from resvr.viewer.dialogs import SHORTCUTS

    text = dict(SHORTCUTS)
    assert "10 % of the field of view" in text["← → or A D"] and "2.5 %" in text["Shift + arrows"]
    cam = Camera(0.0, 0.0, *FOV)
    cam.step_key(1, 0)
    assert cam.yaw == pytest.approx(0.10 * FOV[0])
    cam.step_key(0, 1, fine=True)
    assert cam.pitch == pytest.approx(0.025 * FOV[1])
    cam.step_key(-1, 0, fine=True)
    assert cam.yaw == pytest.approx(0.075 * FOV[0])


def test_set_initial_moves_there_unless_told_not_to(qtbot):
    """A new panorama's initial view: the camera goes there at once (the default), or only on
    ``reset()`` with ``reset=False``."""
    cam = Camera(10.0, 5.0, 120.0, 90.0)
    cam.set_initial(40.0, -12.0, 100.0, 75.0)
    assert cam.angles() == (40.0, -12.0, 100.0, 75.0)
    cam.set_initial(-170.0, 30.0, 90.0, 60.0, reset=False)
    assert cam.angles() == (40.0, -12.0, 100.0, 75.0)
    cam.reset()
    assert cam.angles() == (-170.0, 30.0, 90.0, 60.0)


@pytest.mark.parametrize("pane", [(800, 0), (0, 600), (0, 0), (1, 1)])
def test_a_collapsed_pane_still_drags(qtbot, pane):
    """A pane squeezed to no width or height (a splitter dragged shut) turns the camera by a finite
    amount and never divides by zero."""
    cam = Camera(0.0, 0.0, *FOV)
    cam.fov_mode = "square"
    cam.begin_drag()
    cam.drag_by(3, 2, *pane)
    cam.end_drag()
    assert math.isfinite(cam.yaw) and -90.0 <= cam.pitch <= 90.0


# the projections' image-plane radius of a ray theta off the axis (degrees in, plane units out),
# written out here rather than taken from core.geometry
_RADIUS = {"rectilinear": lambda t: math.tan(math.radians(t)),
           "stereographic": lambda t: 2 * math.tan(math.radians(t) / 2),
           "fisheye": lambda t: math.radians(t)}


def _fov_with_ratio(ratio, fov_v, projection, hi):
    """The fov_h (degrees) whose radius is ``ratio`` times fov_v's, by bisection below ``hi``."""
    g, target = _RADIUS[projection], ratio * _RADIUS[projection](fov_v / 2)
    lo = 0.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if g(mid / 2) < target else (lo, mid)
    return lo


@pytest.mark.parametrize("start, ratio_capped", [((33.0, 20.0, 100.0, 75.0), False), ((-120.0, -10.0, 170.0, 40.0), True)])
def test_each_projection_starts_from_its_framing_and_keeps_the_fixed_aspect(qtbot, start, ratio_capped):
    """Switching projection keeps the yaw, starts from that projection's framing (little planet:
    straight down at 250 degrees; fisheye: the current pitch at 180; rectilinear: the horizon at 90)
    and, in the fixed mode, a fov_h whose radius keeps the old fov_h : fov_v radius ratio, capped
    below each projection's limit (330 and 359 degrees; rectilinear 179)."""
    cam = Camera(*start)
    cam.fov_mode = "fixed"
    ratio = math.tan(math.radians(start[2]) / 2) / math.tan(math.radians(start[3]) / 2)
    pitch, capped = start[1], []
    for projection, want_pitch, fov_v, cap in (("stereographic", -90.0, 250.0, 330.0), ("fisheye", None, 180.0, 359.0),
                                               ("rectilinear", 0.0, 90.0, 179.0)):
        with qtbot.waitSignal(cam.changed, timeout=1000):
            cam.set_projection(projection)
        pitch = pitch if want_pitch is None else want_pitch
        assert cam.projection == projection
        assert cam.yaw == pytest.approx(start[0]) and cam.pitch == pytest.approx(pitch) and cam.fov_v == fov_v
        want = _fov_with_ratio(ratio, fov_v, projection, cap)
        if want > cap - 1e-3:
            capped.append(projection)
            assert cam.fov_h == pytest.approx(cap, abs=1e-3)
        else:
            assert cam.fov_h == pytest.approx(want, abs=1e-6)
        # the next switch keeps the ratio of what is shown now
        ratio = _RADIUS[projection](cam.fov_h / 2) / _RADIUS[projection](fov_v / 2)
        view = cam.view(800, 600)
        assert view.projection == projection and view.fov_h == pytest.approx(min(cam.fov_h, 359.0))
    assert bool(capped) == ratio_capped, capped
    # a very wide fisheye (359 x 2 degrees) back to rectilinear: tan(fov_h / 2) = 179.5 tan(45 deg), capped
    cam.set_projection("fisheye")
    cam.set_view(fov_h=359.0, fov_v=2.0)
    cam.set_projection("rectilinear")
    assert (cam.pitch, cam.fov_v, cam.fov_h) == (0.0, 90.0, 179.0)
