"""Issue 14.1 and 14.7: honest progressive rendering (a badge and no metrics until a pane's own
render of the current view is done, a half-resolution pass first, visible cancelling, the wipe
divider and both sides' metrics) and the explanations (LPIPS n/a reason, heat colour bar,
non-2:1 warning, training image)."""
import sys
import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt

from resvr.core import metrics as M
from resvr.core.methods import get_method
from resvr.viewer.overlays import HEAT_MAX, heat_colorbar
from resvr.viewer.main_window import MainWindow
from resvr.viewer.render_service import RenderService
from resvr.viewer.settings import Settings

from viewer_helpers import make_bundle, make_pano, rand_lpips, save

SETTLE_MS = 30000


class GatedService(RenderService):
    """The real render service, except that ResVR renders wait for ``gate`` (so a test can look at
    the pane while it is refining)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.gate = threading.Event()

    def _render(self, name, path, view, device):
        if name == "resvr":
            self.gate.wait(20)
        return super()._render(name, path, view, device)


@pytest.fixture
def bundle(tmp_path):
    return make_bundle(tmp_path / "bundle")


def _win(qtbot, tmp_path, service=None, size=(760, 560)):
    w = MainWindow(settings=Settings(path=tmp_path / "settings.yaml"), service=service)
    w.service.lpips_metric = rand_lpips()
    w.camera.inertia_enabled = False
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def gated(qtbot, tmp_path):
    """A window whose ResVR renders wait for ``svc.gate``; the gate is opened and the worker
    stopped at the end whatever happens."""
    svc = GatedService()
    win = _win(qtbot, tmp_path, svc)
    yield win, svc
    svc.gate.set()
    win.service.stop()


def settle(qtbot, win):
    qtbot.waitUntil(lambda: not win.camera.moving and win.view.all_settled(), timeout=SETTLE_MS)


def test_badge_and_hidden_metrics_while_refining_then_the_finished_metrics(qtbot, gated, bundle):
    folder, hr, lr = bundle
    win, svc = gated
    assert win.open_path(folder)
    rv = win.view.panes["resvr"]
    # the other panes finish; ResVR is held back: it shows the live view with a badge and no metrics
    qtbot.waitUntil(lambda: win.view.panes["bilinear"].is_final(), timeout=SETTLE_MS)
    qtbot.waitUntil(rv.badge.isVisible, timeout=5000)
    t = rv.badge.text()
    assert t.startswith("preview") and "ResVR refining…" in t and t.endswith(" s")
    assert not rv.is_final() and rv.metrics == {}
    assert "PSNR" not in rv.header.text() and "SSIM" not in rv.header.text()
    # the status bar says what the busy bar is doing
    qtbot.waitUntil(lambda: win.work_label.isVisible() and "Rendering ResVR" in win.work_label.text(), timeout=SETTLE_MS)
    bil = win.view.panes["bilinear"]
    assert not bil.badge.isVisible() and "PSNR" in bil.header.text()
    svc.gate.set()
    settle(qtbot, win)
    # finished: no badge; the header carries the metrics of this very render, equal to an
    # independent computation against the reference view
    assert not rv.badge.isVisible() and rv.is_final()
    view = rv.gl.view()
    ref = get_method("reference", device="cpu")
    ref.prepare(folder / "pano.png")
    p = M.psnr(rv.result.image, ref.render(view))
    assert rv.metrics["psnr"] == pytest.approx(p, abs=1e-9)
    assert f"PSNR {p:.2f} dB" in rv.header.text()
    # the view moves on: the old view's metrics disappear at once, the badge comes back
    svc.gate.clear()
    qtbot.keyClick(rv.gl, Qt.Key.Key_Right)
    assert "PSNR" not in rv.header.text() and rv.metrics == {}
    assert rv.badge.isVisible() and "ResVR" in rv.badge.text()
    svc.gate.set()
    settle(qtbot, win)
    assert f"PSNR {rv.metrics['psnr']:.2f} dB" in rv.header.text() and not rv.badge.isVisible()


def test_half_resolution_pass_comes_first(qtbot, tmp_path, bundle):
    folder, hr, lr = bundle
    win = _win(qtbot, tmp_path)
    try:
        win.view.half_res_min_px = 1          # every learned pane counts as large here
        seen = []

        def on_result(res):
            if res.key == "resvr" and res.error is None:
                seen.append((res.full, res.view.width, res.view.height, win.view.panes["resvr"].badge_text()))

        win.service.resultReady.connect(on_result)
        assert win.open_path(folder)
        settle(qtbot, win)
        w, h = win.view.panes["resvr"].gl.fb_size()
        assert seen[0][:3] == (False, w // 2, h // 2)
        assert seen[0][3].startswith("half resolution — ResVR refining")
        # the full pass follows (a loaded machine may settle the camera twice, and the second
        # request's half pass then arrives after it; the pane keeps the full result)
        first_full = next(i for i, s in enumerate(seen) if s[0])
        assert first_full > 0 and seen[first_full][:3] == (True, w, h) and seen[first_full][3] == ""
        pane = win.view.panes["resvr"]
        assert pane.result.full and (pane.result.view.width, pane.result.view.height) == (w, h)
        assert pane.badge_text() == ""
    finally:
        win.service.stop()


def test_the_same_view_settling_again_does_not_ask_again(qtbot, gated, bundle):
    """A second settle of an unchanged view (a loaded machine) or a resize back to the same size
    neither cancels the render in flight nor submits it again; a changed view does."""
    folder, hr, lr = bundle
    win, svc = gated
    msgs = []
    svc.cancelled.connect(msgs.append)
    assert win.open_path(folder)
    qtbot.waitUntil(lambda: "ResVR" in win.work_label.text(), timeout=SETTLE_MS)
    gen0 = win.view.request_full()        # (a no-op too, unless a pane's size changed meanwhile)
    n = len(msgs)
    win.camera.settled.emit()
    assert win.view.request_full() == gen0
    assert svc.latest_gen == gen0 and len(msgs) == n
    qtbot.keyClick(win.view.panes["resvr"].gl, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: svc.latest_gen > gen0, timeout=10000)
    gen1 = svc.latest_gen
    svc.gate.set()
    settle(qtbot, win)
    assert svc.latest_gen == gen1
    pane = win.view.panes["resvr"]
    assert pane.result.full and pane.result.view == pane.gl.view()


def test_cancelling_a_stale_render_is_shown(qtbot, gated, bundle):
    folder, hr, lr = bundle
    win, svc = gated
    msgs, shown = [], []
    svc.cancelled.connect(msgs.append)
    win.statusBar().messageChanged.connect(shown.append)
    assert win.open_path(folder)
    qtbot.waitUntil(lambda: "ResVR" in win.work_label.text(), timeout=SETTLE_MS)
    gen0 = svc.latest_gen
    qtbot.keyClick(win.view.panes["resvr"].gl, Qt.Key.Key_Left)   # the view changes mid-render
    qtbot.waitUntil(lambda: svc.latest_gen > gen0, timeout=10000)   # settles: a new request
    svc.gate.set()
    qtbot.waitUntil(lambda: bool(msgs), timeout=SETTLE_MS)
    assert "ResVR" in msgs[0]
    qtbot.waitUntil(lambda: any("Cancelled a stale render" in m and "ResVR" in m for m in shown), timeout=5000)
    settle(qtbot, win)


def test_wipe_divider_always_drawn_and_both_sides_metrics(qtbot, gated, bundle):
    folder, hr, lr = bundle
    win, svc = gated
    assert win.open_path(folder)
    win.set_mode("wipe")
    win.view.wipe.set_keys("bilinear", "resvr")
    gl = win.view.wipe.gl
    qtbot.wait(300)
    # ResVR is still refining: the live view, split, with the divider
    assert not win.view.wipe.side_final("B")
    x = gl.split_x()
    live = gl.grab_image()
    assert (live[:, x - 1:x + 1] == 255).all()
    assert "refining" in win.view.wipe.info_b.text()
    svc.gate.set()
    settle(qtbot, win)
    img = gl.grab_image()
    assert (img[:, x - 1:x + 1] == 255).all() and gl.overlay_visible()
    for side, lab in (("A", win.view.wipe.info_a), ("B", win.view.wipe.info_b)):
        m = win.view.wipe.results[side].metrics
        assert f"PSNR {m['psnr']:.2f} dB" in lab.text()
    # the divider follows the slider
    win.view.wipe.slider.setValue(250)
    x2 = gl.split_x()
    assert x2 != x and (gl.grab_image()[:, x2 - 1:x2 + 1] == 255).all()


def test_lpips_na_has_its_reason_in_the_tooltip(qtbot, tmp_path, bundle, monkeypatch):
    from resvr.core.metrics import LPIPSMetric

    folder, hr, lr = bundle
    win = _win(qtbot, tmp_path)
    try:
        monkeypatch.setitem(sys.modules, "lpips", None)     # the lpips package cannot be imported
        win.service.lpips_metric = LPIPSMetric()
        assert win.open_path(folder)
        settle(qtbot, win)
        pane = win.view.panes["bilinear"]
        assert "LPIPS n/a" in pane.header.text()
        tip = pane.header.toolTip()
        assert "LPIPS n/a: LPIPS unavailable: could not load" in tip and "import of lpips halted" in tip
    finally:
        win.service.stop()


def test_heat_map_has_a_colour_bar_with_its_scale(qtbot, tmp_path, bundle):
    bar = heat_colorbar(161, 4)
    assert bar[0, 0].tolist() == [0, 0, 4]                   # error 0: the darkest anchor
    assert bar[0, -1].tolist() == [252, 255, 164]            # error >= HEAT_MAX: the brightest
    assert np.all(np.diff(bar[0].astype(int).sum(1)) >= -2)  # brighter to the right
    folder, hr, lr = bundle
    win = _win(qtbot, tmp_path)
    try:
        assert win.open_path(folder)
        settle(qtbot, win)
        win.act_heat.trigger()
        pane = win.view.panes["bilinear"]
        assert pane.heatbar.isVisible() and f"{HEAT_MAX:g}" in pane.heatbar.toolTip()
        assert not win.view.panes["reference"].heatbar.isVisible()
        shot = pane.heatbar.grab().toImage()
        from resvr.viewer.gl_widget import qimage_to_rgb

        px = qimage_to_rgb(shot)
        # the bar is drawn: its first and last columns hold the scale's end colours
        row = px[8]
        assert [0, 0, 4] in row.tolist() and [252, 255, 164] in row.tolist()
        win.act_heat.trigger()
        assert not pane.heatbar.isVisible()
    finally:
        win.service.stop()


def test_non_2to1_warning_in_the_status_bar(qtbot, tmp_path):
    p = save(tmp_path / "wide.png", make_pano(300, 200))
    win = _win(qtbot, tmp_path)
    try:
        assert win.open_path(p)
        assert win.doc_notice.isVisible() and "not 2:1" in win.doc_notice.text()
        win.statusBar().showMessage("something else", 100)      # other messages do not hide it
        assert win.doc_notice.isVisible()
    finally:
        win.service.stop()


def test_training_image_is_said_in_pane_titles(qtbot, tmp_path, bundle):
    folder, hr, lr = bundle
    y = folder / "bundle.yaml"
    y.write_text(y.read_text() + "source:\n  in_training_split: true\n  licence: CC0\n")
    win = _win(qtbot, tmp_path)
    try:
        assert win.open_path(folder)
        for k in ("bilinear", "hyperthumbnail", "resvr"):
            assert "training image" in win.view.panes[k].header.text()
        assert "training image" not in win.view.panes["reference"].header.text()
        y.write_text(y.read_text().replace("in_training_split: true", "in_training_split: false"))
        assert win.open_path(folder)
        assert all("training" not in p.header.text() for p in win.view.panes.values())
    finally:
        win.service.stop()
