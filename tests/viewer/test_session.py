"""Issue 14.2, 14.4, 14.5, 14.6: square pixels by default with the rendered fov reported, settings
that survive a restart, the sample kept out of Recent, exports in the user's folder, Esc leaves
fullscreen, auto-rotate and the compass/horizon overlay, and "Compare methods…" for a plain panorama."""
import math
import os

import numpy as np
import pytest
from PySide6.QtCore import Qt

from resvr.viewer.main_window import MainWindow
from resvr.viewer.settings import Settings

from viewer_helpers import make_bundle, make_pano, rand_lpips, save


def _win(qtbot, settings, size=(820, 560)):
    w = MainWindow(settings=settings)
    w.service.lpips_metric = rand_lpips()
    w.camera.inertia_enabled = False
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_square_pixels_by_default_and_the_reported_fov(qtbot, tmp_path):
    p = save(tmp_path / "plain.jpg", make_pano(512, 256), quality=90)
    assert Settings().fov_mode == "square"
    win = _win(qtbot, Settings(path=tmp_path / "s.yaml"), size=(1000, 500))
    try:
        assert win.open_path(p)
        pane = win.view.current_pane()
        # the status bar shows the fov of the view actually rendered: wait for the render of the
        # pane at its final size (the worker runs at background priority, slower on a busy machine)
        qtbot.waitUntil(lambda: f"fov {pane.gl.view().fov_h:.1f}°×90.0° (square pixels)" in win.view_label.text(),
                        timeout=30000)
        w, h = pane.gl.fb_size()
        v = pane.gl.view()
        # the vertical fov is set; the horizontal follows the pane: tan(fh/2) = tan(fv/2) * w/h
        assert v.fov_v == 90.0
        assert math.tan(math.radians(v.fov_h) / 2) == pytest.approx(math.tan(math.radians(45.0)) * w / h, rel=1e-9)
        assert v.fx == pytest.approx(v.fy)
        assert abs(v.fov_h - 120.0) > 1.0          # not the paper's fixed 120 at this aspect
        assert f"fov {v.fov_h:.1f}°×90.0° (square pixels)" in win.view_label.text()
        # the paper fov is opt-in, and the status bar then says 120×90
        win.act_fov_fixed.trigger()
        v2 = pane.gl.view()
        assert (v2.fov_h, v2.fov_v) == (120.0, 90.0)
        assert "fov 120.0°×90.0° (paper FoV)" in win.view_label.text()
        assert Settings.load(tmp_path / "s.yaml").fov_mode == "fixed"
    finally:
        win.service.stop()


def test_settings_round_trip_across_a_restart(qtbot, tmp_path, monkeypatch):
    sample, _, _ = make_bundle(tmp_path / "sample")
    monkeypatch.setenv("RESVR_SAMPLE", str(sample))
    folder, _, _ = make_bundle(tmp_path / "mine", seed=3)
    cfg = tmp_path / "config" / "settings.yaml"
    win = _win(qtbot, Settings.load(cfg), size=(900, 620))
    try:
        assert win.open_path(sample)                 # the sample: not pushed into Recent
        assert win.settings.recent == []
        assert win.open_path(folder)
        assert win.settings.recent == [str(folder.resolve())]
        win.set_mode("wipe")
        win.view.wipe.set_keys("hyperthumbnail", "reference")
        win.camera.set_view(yaw=-37.5, pitch=12.25, fov_v=70.0)
        win.set_projection("fisheye")
        win.set_compass(True)
        win.set_auto_rotate(True)
        win.settings.export_dir = str(tmp_path)
        size = (win.width(), win.height())
        yaw, pitch, fov_h, fov_v = win.camera.angles()
    finally:
        win.close()                                   # saves the session
    assert cfg.is_file()
    st = Settings.load(cfg)
    win2 = MainWindow(settings=st)
    qtbot.addWidget(win2)
    try:
        win2.restore_session(open_last=True)
        win2.show()
        qtbot.waitExposed(win2)
        assert (win2.width(), win2.height()) == size
        assert win2.document is not None and win2.document.source == folder.resolve()
        assert win2.view.mode == "wipe" and win2.act_wipe.isChecked()
        assert win2.view.wipe.keys() == ("hyperthumbnail", "reference")
        assert win2.camera.angles() == pytest.approx((yaw, pitch, fov_h, fov_v))
        assert win2.camera.projection == "fisheye" and win2.act_proj["fisheye"].isChecked()
        assert win2.view.compass_on and win2.act_compass.isChecked()
        assert win2.camera.auto_rotate and win2.act_auto.isChecked()
        assert win2.settings.export_folder() == tmp_path
        assert win2.settings.recent == [str(folder.resolve())]
    finally:
        win2.service.stop()


def test_exports_default_to_pictures_or_home(tmp_path, monkeypatch):
    from PySide6.QtCore import QStandardPaths

    s = Settings(path=tmp_path / "s.yaml")
    pics = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    want = pics if pics and os.path.isdir(pics) else os.path.expanduser("~")
    assert str(s.export_folder()) == want
    assert "assets" not in str(s.export_folder())
    s.export_dir = str(tmp_path / "gone")             # a vanished folder falls back too
    assert str(s.export_folder()) == want


def test_escape_leaves_fullscreen(qtbot, tmp_path):
    win = _win(qtbot, Settings(path=tmp_path / "s.yaml"))
    try:
        assert win.open_path(save(tmp_path / "p.png", make_pano(256, 128)))
        win.toggle_fullscreen()
        qtbot.waitUntil(win.isFullScreen, timeout=5000)
        qtbot.keyClick(win.view.current_pane().gl, Qt.Key.Key_Escape)
        qtbot.waitUntil(lambda: not win.isFullScreen(), timeout=5000)
        assert not win.act_full.isChecked()
        win.toggle_fullscreen()
        qtbot.waitUntil(win.isFullScreen, timeout=5000)
        qtbot.keyClick(win.view, Qt.Key.Key_Escape)   # from another widget of the window
        qtbot.waitUntil(lambda: not win.isFullScreen(), timeout=5000)
    finally:
        win.service.stop()


def test_auto_rotate_starts_when_idle_and_stops_on_input(qtbot):
    from resvr.viewer.navigation import Camera

    cam = Camera()
    cam.auto_rotate_idle_s = 0.05
    cam.set_auto_rotate(True)
    y0 = cam.yaw
    qtbot.waitUntil(lambda: cam.yaw > y0 + 0.5, timeout=5000)
    assert cam.auto_rotating and cam.moving
    cam.step_key(0, 1)                                 # any input stops it
    assert not cam.auto_rotating
    y1 = cam.yaw
    qtbot.waitUntil(lambda: cam.yaw > y1 + 0.5, timeout=5000)   # and it resumes after the idle time
    cam.set_auto_rotate(False)
    y2 = cam.yaw
    qtbot.wait(200)
    assert cam.yaw == y2 and not cam.moving


def test_compass_and_horizon_overlay(qtbot, tmp_path):
    win = _win(qtbot, Settings(path=tmp_path / "s.yaml"))
    try:
        assert win.open_path(save(tmp_path / "p.png", make_pano(256, 128)))
        pane = win.view.current_pane()
        assert not pane.compass.isVisible()
        assert win.act_compass.shortcut().toString() == "C"
        win.act_compass.trigger()
        assert pane.compass.isVisible() and win.act_compass.isChecked()
        win.camera.set_view(yaw=30.0, pitch=20.0)
        v = pane.gl.view()
        r = pane.gl.devicePixelRatioF()
        # rectilinear: the horizon is the row where tan(lat) = 0, i.e. h/2 + fy tan(pitch) (independent formula)
        want = (v.height / 2 + v.fy * math.tan(math.radians(20.0))) / r
        runs = pane.compass.horizon_points()
        ys = [y for run in runs for _, y in run]
        assert ys and max(abs(y - want) for y in ys) < 0.6
        assert pane.compass.compass_heading() == pytest.approx(30.0)
        # the overlay is not part of the pane's pixels (exports stay clean)
        assert np.array_equal(pane.gl.grab_image().shape[:2], (v.height, v.width))
        win.act_compass.trigger()
        assert not pane.compass.isVisible()
    finally:
        win.service.stop()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("RESVR_VIEWER_CACHE", str(d))
    return d


def test_compare_methods_builds_and_opens_the_bundle(qtbot, tmp_path, cache):
    p = save(tmp_path / "room.png", make_pano(512, 256, seed=5))
    win = _win(qtbot, Settings(path=tmp_path / "s.yaml"))
    try:
        assert win.open_path(p)
        assert win.document.kind == "panorama"
        assert win.info_bar.isVisible() and win.info_button.isVisible() and win.act_compare.isEnabled()
        assert "plain panorama" in win.info_text.text()
        pct = []
        assert win.compare_methods()
        win.compare_job.progressed.connect(lambda v, _: pct.append(v))
        qtbot.waitUntil(lambda: win.document.kind == "bundle", timeout=180000)
        assert pct and pct[-1] == 100 and pct == sorted(pct)
        from resvr.core import registry
        from resvr.core.bundle import bundle_file_name

        from resvr.core.models.weights import default_weights_path

        # every learned method whose weights ship (a method without them is left out, and said so)
        learned = [m for m in registry.render_ids() if m in registry.learned_ids() and default_weights_path(m).is_file()]
        assert win.view.pane_keys() == ["bilinear", *learned, "reference"]
        assert win.view.mode == "grid" and not win.info_bar.isVisible()
        made = list((cache / "bundles").iterdir())
        assert len(made) == 1 and made[0].name.startswith("room-")
        assert sorted(f.name for f in made[0].iterdir()) == sorted(
            [bundle_file_name("room", m) for m in registry.encode_ids() if m in learned or not registry.get(m).learned]
            + ["bundle.yaml", "room.png"])
        assert win.document.source == made[0]
        # the learned panes render (ResVR and HyperThumbnail read their own files)
        qtbot.waitUntil(lambda: not win.camera.moving and win.view.all_settled(), timeout=60000)
        assert all(win.view.panes[m].unavailable is None for m in learned)
    finally:
        win.service.stop()


def test_compare_methods_cancel_leaves_nothing(qtbot, tmp_path, cache):
    p = save(tmp_path / "hall.png", make_pano(512, 256, seed=6))
    win = _win(qtbot, Settings(path=tmp_path / "s.yaml"))
    try:
        assert win.open_path(p)
        before = sorted(os.listdir(tmp_path))
        assert win.compare_methods()
        job = win.compare_job
        done, partial = [], []
        job.cancelled.connect(lambda: done.append("cancelled"))

        def after_resvr(v, _):   # on the worker thread: cancel once ResVR's file is written
            if v > 0 and not partial:   # (no widget is touched here: only the job's thread-safe flag)
                partial.extend(str(f) for f in (cache / "bundles").glob(".*.partial/*"))
                job.cancel()

        job.progressed.connect(after_resvr, Qt.ConnectionType.DirectConnection)
        job.progressed.connect(lambda v, _: v > 0 and win.cancel_compare())   # the menu's path, on the GUI thread
        qtbot.waitUntil(lambda: job.isFinished(), timeout=180000)
        assert any(f.endswith(".jpg") for f in partial)   # the first method's file was written, then removed
        qtbot.waitUntil(lambda: bool(done), timeout=5000)
        assert win.document.kind == "panorama" and win.document.source == p
        assert not (cache / "bundles").exists() or os.listdir(cache / "bundles") == []
        assert sorted(n for n in os.listdir(tmp_path) if n != "cache") == before
        assert "nothing was written" in win.statusBar().currentMessage()
    finally:
        win.service.stop()


def test_a_plain_lr_jpeg_is_explained(qtbot, tmp_path):
    from resvr.core.encode import encode_jpeg

    hr = save(tmp_path / "hr.png", make_pano(512, 256))
    lr = tmp_path / "lr.jpg"
    encode_jpeg(hr, lr, scale=4, quality=85)
    win = _win(qtbot, Settings(path=tmp_path / "s.yaml"))
    try:
        assert win.open_path(lr)
        assert win.document.kind == "lr-jpeg"
        t = win.info_text.text()
        assert win.info_bar.isVisible() and "low-resolution JPEG (128×64 of a 512×256 original)" in t
        assert "no ResVR" in t and "Compare methods" in t
        assert not win.info_button.isVisible() and not win.act_compare.isEnabled()
    finally:
        win.service.stop()


def test_a_hand_edited_settings_file_cannot_break_the_start(qtbot, tmp_path, monkeypatch):
    # an fov outside every limit and a non-ASCII geometry string: the window starts, the view stays valid
    sample, _, _ = make_bundle(tmp_path / "sample")
    monkeypatch.setenv("RESVR_SAMPLE", str(sample))
    folder, _, _ = make_bundle(tmp_path / "mine", seed=3)
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(f"last_file: {folder}\nwindow_geometry: 'géométrie'\n"
                   "last_view: {yaw: 10, pitch: 5, fov_h: 500, fov_v: 400}\n", encoding="utf-8")
    st = Settings.load(cfg)
    assert st.window_geometry == ""
    win = MainWindow(settings=st)
    qtbot.addWidget(win)
    try:
        win.restore_session(open_last=True)
        win.show()
        qtbot.waitExposed(win)
        assert win.document is not None and win.document.source == folder.resolve()
        yaw, pitch, fh, fv = win.camera.angles()
        assert (yaw, pitch) == pytest.approx((10.0, 5.0)) and fh <= 150.0 and fv <= 150.0
        win.camera.view(320, 240)   # a valid View
    finally:
        win.service.stop()
