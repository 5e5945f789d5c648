"""The main window with a comparison bundle: shared view, metric labels, export, errors."""
import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QMessageBox

from resvr.core import metrics as M
from resvr.core.errors import BadInput
from resvr.core.imageio import to_uint8
from resvr.core.methods import get_method
from resvr.viewer.main_window import MainWindow
from resvr.viewer.settings import Settings

from viewer_helpers import make_bundle, make_pano, psnr, rand_lpips, save, torch_view

SETTLE_MS = 30000


@pytest.fixture
def bundle(tmp_path):
    return make_bundle(tmp_path / "bundle")


@pytest.fixture
def win(qtbot, tmp_path):
    w = MainWindow(settings=Settings(path=tmp_path / "settings.yaml"))
    w.service.lpips_metric = rand_lpips()
    w.camera.inertia_enabled = False
    qtbot.addWidget(w)
    w.resize(900, 700)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.service.stop()


def settle(qtbot, win):
    qtbot.waitUntil(lambda: not win.camera.moving and win.view.all_settled(), timeout=SETTLE_MS)


def test_empty_state_without_document(win):
    assert win.document is None
    assert win.view._stack.currentWidget() is win.view.empty
    assert "Open" in win.view.empty.text()


def test_compare_panes_share_the_view(qtbot, win, bundle):
    folder, hr, lr = bundle
    assert win.open_path(folder)
    keys = win.view.pane_keys()
    assert keys == ["bilinear", "hyperthumbnail", "resvr", "reference"]
    panes = list(win.view.panes.values())
    assert all(p.isVisible() for p in panes)
    gl = win.view.panes["bilinear"].gl
    qtbot.keyClick(gl, Qt.Key.Key_Right)
    qtbot.mousePress(gl, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(gl, QPoint(90, 120))
    qtbot.mouseRelease(gl, Qt.MouseButton.LeftButton, pos=QPoint(90, 120))
    views = [p.gl.view() for p in panes]
    angles = {(v.yaw, v.pitch, v.fov_v) for v in views}
    assert len(angles) == 1
    # square pixels (the default): each pane's horizontal fov follows its own aspect
    for v in views:
        assert v.fx == pytest.approx(v.fy, rel=1e-9)
    yaw, pitch, _ = angles.pop()
    assert yaw != 0.0 and pitch != 0.0
    # the shipped weights are found: ResVR renders like the others; HyperThumbnail refuses the
    # fixture's Pillow JPEG (4:2:0, not one of its own files) with a message in its pane
    settle(qtbot, win)
    rv = win.view.panes["resvr"]
    assert rv.unavailable is None and not rv.status.isVisible() and rv.result is not None
    assert np.array_equal(rv.shown_image(), to_uint8(rv.result.image))
    ht = win.view.panes["hyperthumbnail"]
    assert ht.status.isVisible() and "4:4:4" in ht.status.text() and ht.result is None
    # each pane draws the render of its method for exactly this view
    for k in ("bilinear", "reference"):
        p = win.view.panes[k]
        assert p.result is not None and p.gl.overlay_visible()
        assert np.array_equal(p.shown_image(), to_uint8(p.result.image))
    # and the live shader view of the bilinear pane (overlay off: the GPU samples the LR ERP) agrees
    # with the CPU bilinear render, and is told apart from the HR reference
    bil = win.view.panes["bilinear"]
    bil.gl.show_overlay = False
    try:
        live = bil.gl.grab_image()
    finally:
        bil.gl.show_overlay = True
    cpu = to_uint8(bil.result.image)
    assert live.shape == cpu.shape
    matched = psnr(live, cpu)
    assert matched >= 35.0
    assert psnr(live, torch_view(hr, bil.gl.view(), "bicubic")) < matched - 3   # the HR view


def test_preparing_line_ends_when_the_worker_is_done(qtbot, win):
    """The worker's "Preparing …" line goes as soon as it says so (its empty message), and that
    empty message does not wipe another line, such as an export notice."""
    bar = win.statusBar()
    win.service.message.emit("Preparing ResVR…")
    qtbot.waitUntil(lambda: bar.currentMessage() == "Preparing ResVR…", timeout=2000)
    win.service.message.emit("")
    qtbot.waitUntil(lambda: bar.currentMessage() == "", timeout=2000)
    bar.showMessage("Exported /tmp/view.jpg", 6000)
    win.service.message.emit("")
    qtbot.wait(50)
    assert bar.currentMessage() == "Exported /tmp/view.jpg"


def test_learned_panes_without_weights_say_so(qtbot, win, bundle, tmp_path, monkeypatch):
    import resvr.core.models.weights as weights

    monkeypatch.setattr(weights, "ASSETS", tmp_path / "no-assets")  # a build without shipped weights
    folder, hr, lr = bundle
    assert win.open_path(folder)
    settle(qtbot, win)
    for k in ("hyperthumbnail", "resvr"):
        p = win.view.panes[k]
        assert p.unavailable and "weights not found" in p.unavailable
        assert p.status.isVisible() and "unavailable" in p.status.text() and p.result is None
    for k in ("bilinear", "reference"):  # the others are unaffected
        p = win.view.panes[k]
        assert p.unavailable is None and p.result is not None and p.gl.overlay_visible()


def test_metric_labels_equal_independent_metrics(qtbot, win, bundle):
    folder, hr, lr = bundle
    win.open_path(folder)
    win.camera.set_view(yaw=33.0, pitch=-12.0)
    settle(qtbot, win)
    pane = win.view.panes["bilinear"]
    view = pane.gl.view()
    m_bil = get_method("bilinear", device="cpu")
    m_bil.prepare(folder / "pano.jpeg.jpg")
    m_ref = get_method("reference", device="cpu")
    m_ref.prepare(folder / "pano.png")
    img, ref = m_bil.render(view), m_ref.render(view)
    p, s = M.psnr(img, ref), M.ssim(img, ref)
    lp = win.service.lpips_metric(img, ref)
    assert pane.metrics["psnr"] == pytest.approx(p, abs=1e-9)
    assert pane.metrics["ssim"] == pytest.approx(s, abs=1e-9)
    assert pane.metrics["lpips"] == pytest.approx(lp, abs=1e-6)
    text = pane.header.text()
    assert f"PSNR {p:.2f} dB" in text and f"SSIM {s:.4f}" in text and f"LPIPS {lp:.4f}" in text
    bpp = (folder / "pano.jpeg.jpg").stat().st_size * 8 / (512 * 256)
    assert f"{bpp:.3f} bpp" in text
    # a new settled view updates the labels
    win.camera.set_view(yaw=-100.0)
    settle(qtbot, win)
    assert pane.metrics["psnr"] != pytest.approx(p, abs=1e-6)


def test_export_pane_matches_pixels_and_never_overwrites(qtbot, win, bundle, tmp_path):
    folder, hr, lr = bundle
    win.open_path(folder)
    win.view.set_current("bilinear")
    win.camera.set_view(yaw=120.0, pitch=10.0)
    settle(qtbot, win)
    pane = win.view.current_pane()
    out = tmp_path / "pane.png"
    win.export_current(out)
    with Image.open(out) as im:
        got = np.asarray(im.convert("RGB"))
        text = dict(im.text)
    assert np.array_equal(got, pane.shown_image())
    assert float(text["resvr:yaw"]) == pytest.approx(120.0)
    assert float(text["resvr:pitch"]) == pytest.approx(10.0)
    assert int(text["resvr:width"]) == got.shape[1]
    assert text["resvr:method"] == "bilinear"
    assert float(text["resvr:psnr"]) == pytest.approx(pane.metrics["psnr"])
    before = out.read_bytes()
    win.camera.set_view(yaw=0.0)
    with pytest.raises(BadInput):
        win.export_current(out)
    assert out.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    # a chosen size re-renders the pane's method for the same view
    out2 = tmp_path / "pane_320.png"
    win.export_current(out2, size=(320, 240))
    with Image.open(out2) as im:
        assert im.size == (320, 240)
        assert float(im.text["resvr:yaw"]) == pytest.approx(0.0)

    # the composite has one labelled tile per pane
    out3 = tmp_path / "all.png"
    win.export_composite(out3, size=(160, 120))
    with Image.open(out3) as im:
        assert im.size == (2 * 160, 2 * (120 + 28))
        assert im.text["resvr:pane0:method"] == "bilinear"


def test_corrupt_file_shows_error_and_keeps_previous(qtbot, win, tmp_path):
    good = save(tmp_path / "good.jpg", make_pano(256, 128), quality=90)
    assert win.open_path(good)
    doc = win.document
    shown = win.view.current_pane().gl.image().copy()
    data = good.read_bytes()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(data[: len(data) // 3])  # truncated JPEG
    assert not win.open_path(bad)
    assert win.last_error and "bad.jpg" in win.last_error
    box = win.findChild(QMessageBox, "errorBox")
    assert box is not None and box.isVisible()
    assert win.document is doc
    assert np.array_equal(win.view.current_pane().gl.image(), shown)
    assert win.view.current_pane().gl.grab_image().mean() > 5
    box.close()
    # not an image at all
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"hello")
    assert not win.open_path(junk)
    assert win.document is doc
    win.findChild(QMessageBox, "errorBox").close()


def test_open_reads_the_file_off_the_ui_thread(qtbot, win, bundle, tmp_path, monkeypatch):
    """bundle.yaml and the images are parsed on a worker thread: the UI thread keeps running its
    event loop (a timer fires) while the open is held, and a later open supersedes an earlier one."""
    import threading

    from resvr.viewer import document

    folder, hr, lr = bundle
    other = save(tmp_path / "other.jpg", make_pano(256, 128, seed=5), quality=90)
    real = document.open_document
    threads, gate = [], threading.Event()

    def held_open(path):
        threads.append(threading.current_thread())
        if path.name == folder.name:
            assert gate.wait(10), "the UI thread did not run while the bundle was being read"
        return real(path)

    monkeypatch.setattr(document, "open_document", held_open)
    ticks = []

    def tick():
        ticks.append(len(ticks))
        if len(ticks) == 3:
            assert win.opening == str(folder)
            assert win.open_path(other)        # a second open while the first is still reading
            gate.set()

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    assert not win.open_path(folder)           # superseded by the later open
    timer.stop()
    assert len(ticks) >= 3
    assert threads and all(t is not threading.main_thread() for t in threads)
    assert win.document is not None and win.document.source == other
    assert win.opening is None
    # with nothing else opening, the bundle opens normally
    assert win.open_path(folder) and win.document.source == folder


def test_recent_files_and_settings_persist(qtbot, win, tmp_path):
    a = save(tmp_path / "a.jpg", make_pano(128, 64), quality=90)
    win.open_path(a)
    s = Settings.load(tmp_path / "settings.yaml")
    assert s.recent[0] == str(a.resolve())
    assert s.last_dir == str(tmp_path.resolve())
    assert [x.text() for x in win.recent_menu.actions()] == [str(a.resolve())]
    win.set_device("cpu")
    assert Settings.load(tmp_path / "settings.yaml").device == "cpu"


def test_gpano_initial_view_is_honoured(qtbot, win, tmp_path):
    from resvr.core.jpeg.container import write_jpeg_pixels

    f = tmp_path / "gp.jpg"
    write_jpeg_pixels(f, make_pano(256, 128), 90, xmp=dict(width=256, height=128, method="jpeg", scale=4,
                                                           hr_width=1024, hr_height=512, heading=75.0,
                                                           pitch=-20.0, hfov=90.0))
    win.open_path(f)
    assert win.camera.yaw == pytest.approx(75.0)
    assert win.camera.pitch == pytest.approx(-20.0)
    assert win.camera.fov_h == pytest.approx(90.0)
    win.camera.set_view(yaw=0.0)
    win.camera.reset()
    assert win.camera.yaw == pytest.approx(75.0)


def test_wipe_and_heat_map(qtbot, win, bundle):
    folder, hr, lr = bundle
    win.open_path(folder)
    win.set_mode("wipe")
    win.view.wipe.set_keys("bilinear", "reference")
    win.view.request_full()
    settle(qtbot, win)
    wipe = win.view.wipe
    img = wipe.gl.grab_image()
    w = img.shape[1]
    a = to_uint8(wipe.results["A"].image)
    b = to_uint8(wipe.results["B"].image)
    assert np.array_equal(img[:, : w // 2 - 2], a[:, : w // 2 - 2])
    assert np.array_equal(img[:, w // 2 + 2:], b[:, w // 2 + 2:])
    win.set_mode("grid")
    settle(qtbot, win)
    pane = win.view.panes["bilinear"]
    plain = pane.shown_image()
    win.act_heat.trigger()
    heat = pane.shown_image()
    assert not np.array_equal(plain, heat)
    assert heat.mean() < plain.mean()  # small errors are dark
    win.act_heat.trigger()
    assert np.array_equal(pane.shown_image(), plain)


def test_drop_a_bundle_folder_opens_it(qtbot, win, bundle):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    folder, hr, lr = bundle
    remote = QMimeData()
    remote.setUrls([QUrl("https://example.com/pano.jpg")])
    enter = QDragEnterEvent(QPointF(50, 50), Qt.DropAction.CopyAction, remote, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, enter)
    assert not enter.isAccepted()  # only local files are offered a drop
    data = QMimeData()
    data.setUrls([QUrl("https://example.com/x.jpg"), QUrl.fromLocalFile(str(folder))])
    enter = QDragEnterEvent(QPointF(50, 50), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, drop)
    assert win.document is not None and win.document.source == folder
    assert win.windowTitle() == win.document.title  # the platform adds the application name once
    assert win.view.pane_keys() == ["bilinear", "hyperthumbnail", "resvr", "reference"]


def test_each_pane_label_carries_its_methods_registry_colour(qtbot, win, bundle):
    """The accent bar left of each pane's label (and of each wipe side's label, on its outer side)
    is drawn in the method's colour from core.registry, pixel for pixel."""
    from PySide6.QtGui import QColor

    from resvr.core import registry

    def bar(label, right=False):
        """The colours across the label's middle row: the ACCENT_PX outermost pixels on that side."""
        img = label.grab().toImage()
        n = round(5 * img.devicePixelRatio())
        xs = range(img.width() - n, img.width()) if right else range(n)
        return {img.pixelColor(x, img.height() // 2).name() for x in xs}, img.pixelColor(
            img.width() - n - 2 if right else n + 1, 1).name()

    folder, hr, lr = bundle
    assert win.open_path(folder)
    panes = list(win.view.panes.values())
    colours = [registry.get(p.spec.method).colour for p in panes]
    assert len(set(colours)) == len(panes) == 4          # four methods, four different accents
    for p, colour in zip(panes, colours):
        accent, inside = bar(p.header)
        assert accent == {colour} and inside != colour and colour in p.header.styleSheet()
    win.set_mode("wipe")
    win.view.wipe.set_keys("resvr", "hyperthumbnail")
    qtbot.wait(50)
    a, _ = bar(win.view.wipe.info_a)
    b, _ = bar(win.view.wipe.info_b, right=True)
    assert a == {registry.get("resvr").colour} and b == {registry.get("hyperthumbnail").colour}
