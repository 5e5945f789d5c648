"""The main window: menus, open / drag-and-drop / recent files, status bar, export, dialogs."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QEventLoop, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QApplication, QFileDialog, QFrame, QHBoxLayout, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QProgressDialog, QPushButton, QToolButton, QVBoxLayout, QWidget)

from resvr.core.errors import BadInput, MethodUnavailable

from .compare_view import CompareView
from .document import IMAGE_SUFFIXES, Document
from .export import compose, pane_meta, render_at, save_export
from .navigation import FOV_LIMITS, Camera
from .open_job import OpenJob
from .panes import format_metrics
from .render_service import RenderService
from .settings import Settings

try:
    import qtawesome as qta
except Exception:  # noqa: BLE001 - icons are optional
    qta = None


def icon(name: str):
    from PySide6.QtGui import QIcon

    if qta is None:
        return QIcon()
    try:
        return qta.icon(name)
    except Exception:  # noqa: BLE001
        return QIcon()


def sample_bundle_path() -> Path | None:
    """$RESVR_SAMPLE when it holds a bundle, else the sample shipped in the package
    (``core.resources``), or None when neither exists."""
    import os

    from resvr.core import resources

    own = os.environ.get("RESVR_SAMPLE")
    if own and (Path(own) / "bundle.yaml").is_file():
        return Path(own)
    return resources.sample_bundle_path()


class MainWindow(QMainWindow):
    errorShown = Signal(str)

    def __init__(self, settings: Settings | None = None, service: RenderService | None = None, parent=None):
        super().__init__(parent)
        self.settings = settings or Settings.load()
        fh, fv = self.settings.default_fov
        self.camera = Camera(fov_h=fh, fov_v=fv, parent=self)
        self.camera.fov_mode = self.settings.fov_mode
        self.camera.auto_rotate_idle_s = self.settings.auto_rotate_idle_s
        self.service = service or RenderService(self)
        self.view = CompareView(self.camera, self.service, self)
        self.view.device = self.settings.device
        central = QWidget(self)
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        self.info_bar = self._build_info_bar()
        cl.addWidget(self.info_bar)
        cl.addWidget(self.view, 1)
        self.setCentralWidget(central)
        self.compare_job = None
        self.compare_dialog: QProgressDialog | None = None
        self.document: Document | None = None
        self.last_error: str | None = None
        self.opening: str | None = None      # the path an OpenJob is reading, if any
        self._error_box: QMessageBox | None = None
        self.gl_info: dict = {}
        self.setAcceptDrops(True)
        self.setWindowTitle("ResVR viewer")
        self.setWindowIcon(icon("mdi6.panorama-sphere-outline"))
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_statusbar()
        self.camera.changed.connect(self._update_view_label)
        self.camera.fullscreenRequested.connect(self.toggle_fullscreen)
        self.camera.escapePressed.connect(self.leave_fullscreen)
        self.view.renderInfo.connect(self.render_label.setText)
        self.view.notice.connect(self.show_notice)
        self.view.currentChanged.connect(self._current_changed)
        self.view.resultsUpdated.connect(self._update_view_label)
        self.service.busyChanged.connect(self._busy)
        self.service.message.connect(lambda m: self.statusBar().showMessage(m, 4000) if m else None)
        self.service.cancelled.connect(self._render_cancelled)
        self.service.started.connect(self._render_started)
        self.set_mode("grid", remember=False)
        self.set_projection(self.settings.projection, save=False)
        self.set_compass(self.settings.compass, save=False)
        self.set_auto_rotate(self.settings.auto_rotate, save=False)
        self._update_view_label()

    # ---------------------------------------------------------------- actions
    def _act(self, text, slot, shortcut=None, icon_name=None, checkable=False, tip=None):
        a = QAction(text, self)
        if icon_name:
            a.setIcon(icon(icon_name))
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
        a.setCheckable(checkable)
        if tip:
            a.setStatusTip(tip)
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _build_actions(self):
        self.act_open = self._act("&Open…", self.open_dialog, QKeySequence.StandardKey.Open, "fa5s.folder-open",
                                  tip="Open an equirectangular panorama file")
        self.act_open_bundle = self._act("Open &bundle folder…", self.open_bundle_dialog, "Ctrl+Shift+O",
                                         "fa5s.layer-group", tip="Open a comparison bundle folder")
        self.act_open_ref = self._act("Open &reference…", self.open_reference_dialog, None, "fa5s.image",
                                      tip="Open the HR original to measure PSNR / SSIM / LPIPS")
        self.act_export = self._act("&Export current pane…", self.export_current_dialog, "Ctrl+E", "fa5s.file-export")
        self.act_export_all = self._act("Export &composite…", self.export_composite_dialog, "Ctrl+Shift+E",
                                        "fa5s.th-large")
        self.act_quit = self._act("&Quit", self.close, QKeySequence.StandardKey.Quit, "fa5s.power-off")
        self.act_single = self._act("&Single view", lambda: self.set_mode("single"), "Ctrl+1", "fa5s.square", True)
        self.act_grid = self._act("&Comparison grid", lambda: self.set_mode("grid"), "Ctrl+2", "fa5s.th-large", True)
        self.act_wipe = self._act("&Wipe", lambda: self.set_mode("wipe"), "Ctrl+3", "fa5s.columns", True)
        g = QActionGroup(self)
        for a in (self.act_single, self.act_grid, self.act_wipe):
            g.addAction(a)
        self.act_heat = self._act("Difference &heat map", self.view.set_heat, "H", "fa5s.fire", True,
                                  tip="Show |pane − reference| as a heat map (needs a reference)")
        self.act_reset = self._act("&Reset view (R)", self.camera.reset, None, "fa5s.crosshairs")
        self.act_full = self._act("&Fullscreen", self.toggle_fullscreen, "F11", "fa5s.expand", True)
        self.act_fov_square = self._act("Square pixels (default: vertical FoV set, horizontal from the pane)",
                                        lambda: self._fov_mode("square"), checkable=True)
        self.act_fov_fixed = self._act("Paper FoV 120°×90° (fixed, pixels stretched to the pane)",
                                       lambda: self._fov_mode("fixed"), checkable=True)
        g2 = QActionGroup(self)
        for a in (self.act_fov_fixed, self.act_fov_square):
            g2.addAction(a)
        (self.act_fov_square if self.camera.fov_mode == "square" else self.act_fov_fixed).setChecked(True)
        self.act_proj = {}
        g3 = QActionGroup(self)
        for proj, text, key, ic in (("rectilinear", "&Rectilinear (perspective)", "Ctrl+4", "fa5s.vector-square"),
                                    ("stereographic", "&Little planet (stereographic)", "Ctrl+5", "fa5s.globe-americas"),
                                    ("fisheye", "F&isheye (equidistant)", "Ctrl+6", "fa5s.dot-circle")):
            a = self._act(text, lambda _=False, p=proj: self.set_projection(p), key, ic, checkable=True)
            g3.addAction(a)
            self.act_proj[proj] = a
        self.act_compass = self._act("&Compass and horizon", self.set_compass, "C", "fa5s.compass", True,
                                     tip="Show a compass dial and the horizon line over the panes")
        self.act_auto = self._act("&Auto-rotate when idle", self.set_auto_rotate, "Ctrl+R", "fa5s.sync-alt", True,
                                  tip="Turn slowly after some seconds without input; any drag, key or zoom stops it")
        self.act_esc = self._act("Leave fullscreen", self.leave_fullscreen, "Esc")
        self.act_compare = self._act("&Compare methods…", self.compare_methods, "Ctrl+M", "fa5s.balance-scale",
                                     tip="Encode this panorama with every method and open the 2×2 comparison")
        self.act_compare.setEnabled(False)
        self.act_shortcuts = self._act("&Keyboard shortcuts", self.show_shortcuts, "F1", "fa5s.keyboard")
        self.act_about = self._act("&About", self.show_about, None, "fa5s.info-circle")

    def _build_menus(self):
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addActions([self.act_open, self.act_open_bundle, self.act_open_ref, self.act_compare])
        self.recent_menu = m.addMenu(icon("fa5s.history"), "Open &recent")
        self._rebuild_recent()
        m.addSeparator()
        m.addActions([self.act_export, self.act_export_all])
        m.addSeparator()
        m.addAction(self.act_quit)
        v = mb.addMenu("&View")
        v.addActions([self.act_single, self.act_grid, self.act_wipe])
        v.addSeparator()
        v.addAction(self.act_heat)
        fm = v.addMenu("Field of view")
        fm.addActions([self.act_fov_square, self.act_fov_fixed])
        pm = v.addMenu("Projection")
        pm.addActions(list(self.act_proj.values()))
        v.addActions([self.act_compass, self.act_auto])
        v.addSeparator()
        v.addActions([self.act_reset, self.act_full])
        self.method_menu = mb.addMenu("&Method")
        self.method_group = QActionGroup(self)
        dm = mb.addMenu("&Device")
        self.device_group = QActionGroup(self)
        try:
            import torch

            has_cuda = torch.cuda.is_available()
        except Exception:  # noqa: BLE001
            has_cuda = False
        for dev, text in (("auto", "Automatic (CUDA when available)"), ("cpu", "CPU"), ("cuda", "CUDA GPU")):
            a = QAction(text, self, checkable=True)
            a.setData(dev)
            a.setEnabled(dev != "cuda" or has_cuda)
            a.setChecked(dev == self.settings.device)
            a.triggered.connect(lambda _=False, d=dev: self.set_device(d))
            self.device_group.addAction(a)
            dm.addAction(a)
        h = mb.addMenu("&Help")
        h.addActions([self.act_shortcuts, self.act_about])

    def _build_toolbar(self):
        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.addActions([self.act_open, self.act_open_bundle, self.act_open_ref])
        tb.addSeparator()
        tb.addActions([self.act_single, self.act_grid, self.act_wipe, self.act_heat])
        tb.addSeparator()
        tb.addActions([self.act_proj["stereographic"], self.act_compass, self.act_auto])
        tb.addSeparator()
        tb.addActions([self.act_reset, self.act_export, self.act_export_all])

    def _build_statusbar(self):
        sb = self.statusBar()
        self.view_label = QLabel()
        self.render_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(90)
        self.progress.setMaximumHeight(14)
        self.progress.setToolTip("Rendering…")
        self.progress.hide()
        self.work_label = QLabel()           # what the busy bar is doing, e.g. "Rendering ResVR 1024×768…"
        self.work_label.hide()
        self.doc_notice = QLabel()           # a warning about the open file (e.g. not 2:1); stays
        self.doc_notice.setObjectName("docNotice")
        self.doc_notice.setStyleSheet("color: #c80;")
        self.doc_notice.hide()
        self.device_label = QLabel()
        sb.addPermanentWidget(self.doc_notice)   # permanent: temporary messages do not hide it
        sb.addPermanentWidget(self.view_label)
        sb.addPermanentWidget(self.work_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.render_label)
        sb.addPermanentWidget(self.device_label)
        self._update_device_label()

    # ------------------------------------------------------------------ state
    def _build_info_bar(self) -> QFrame:
        bar = QFrame(self)
        bar.setObjectName("infoBar")
        bar.setStyleSheet("#infoBar { background: #2b3a4a; color: white; } QLabel { color: white; }")
        lay = QHBoxLayout(bar)
        lay.setContentsMargins(8, 4, 8, 4)
        self.info_text = QLabel(bar)
        self.info_text.setWordWrap(True)
        self.info_button = QPushButton("Compare methods…", bar)
        self.info_button.clicked.connect(self.compare_methods)
        close = QToolButton(bar)
        close.setText("✕")
        close.setToolTip("Hide this message")
        close.clicked.connect(bar.hide)
        lay.addWidget(self.info_text, 1)
        lay.addWidget(self.info_button)
        lay.addWidget(close)
        bar.hide()
        return bar

    def _explain_document(self, doc: Document | None) -> None:
        """The info bar: what a plain panorama or a plain LR JPEG is, and what the user can do."""
        kind = doc.kind if doc else None
        self.act_compare.setEnabled(kind == "panorama")
        if kind == "panorama":
            W, H = doc.panes[0].erp.shape[1], doc.panes[0].erp.shape[0]
            from resvr.core import registry

            names = ", ".join(registry.label(m) for m in registry.encode_ids())
            self.info_text.setText(
                f"{doc.title} is a plain panorama ({W}×{H}): the panes show Bilinear and Bicubic views of the same "
                f"file. Compare methods… encodes it with every method ({names}) at 0.3 bpp and opens the "
                "comparison grid against this image.")
            self.info_button.show()
            self.info_bar.show()
        elif kind == "lr-jpeg":
            rv = doc.xmp.get("resvr", {}) if doc.xmp else {}
            hr = f" of a {rv.get('HRWidth')}×{rv.get('HRHeight')} original" if rv.get("HRWidth") else ""
            W, H = doc.panes[0].erp.shape[1], doc.panes[0].erp.shape[0]
            self.info_text.setText(
                f"{doc.title} is a low-resolution JPEG ({W}×{H}{hr}), the bicubic + standard JPEG baseline: it carries "
                "no ResVR or other learned data, so the viewer can only upsample it (Bilinear, Bicubic). To see "
                "ResVR, open the HR original and use Compare methods…, or open a comparison bundle "
                "(resvr encode HR -o OUT --method all).")
            self.info_button.hide()
            self.info_bar.show()
        else:
            self.info_bar.hide()

    def set_mode(self, mode: str, remember: bool = True) -> None:
        self.view.set_mode(mode)
        {"single": self.act_single, "grid": self.act_grid, "wipe": self.act_wipe}[mode].setChecked(True)
        if remember:
            self.settings.view_mode = mode
        QTimer.singleShot(0, self._update_view_label)

    def set_projection(self, projection: str, save: bool = True) -> None:
        if projection != self.camera.projection:
            self.camera.set_projection(projection)
        self.act_proj[projection].setChecked(True)
        self.settings.projection = projection
        if save:
            self._save_settings()

    def set_compass(self, on: bool, save: bool = True) -> None:
        self.view.set_compass(on)
        self.act_compass.setChecked(bool(on))
        self.settings.compass = bool(on)
        if save:
            self._save_settings()

    def set_auto_rotate(self, on: bool, save: bool = True) -> None:
        self.camera.set_auto_rotate(on)
        self.act_auto.setChecked(bool(on))
        self.settings.auto_rotate = bool(on)
        if save:
            self._save_settings()

    def _render_cancelled(self, what: str) -> None:
        self.statusBar().showMessage(f"Cancelled a stale render ({what}): the view changed", 4000)

    def _render_started(self, item) -> None:
        from .compare_view import _label

        kind = "" if item.full is not False else " (half resolution)"
        self.work_label.setText(f"Rendering {_label(item.method)} {item.view.width}×{item.view.height}{kind}…")

    def _fov_mode(self, mode: str) -> None:
        self.camera.set_fov_mode(mode)
        self.settings.fov_mode = mode
        (self.act_fov_square if mode == "square" else self.act_fov_fixed).setChecked(True)
        self._update_view_label()
        self._save_settings()

    def set_device(self, device: str) -> None:
        self.settings.device = device
        self.view.set_device(device)
        self._update_device_label()
        self._save_settings()

    def _update_device_label(self) -> None:
        from resvr.core.device import pick_device

        dev = self.settings.device
        if dev == "auto":
            self.device_label.setText(f"Device: auto ({pick_device(dev).type})")
        else:
            self.device_label.setText(f"Device: {dev}")

    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.work_label.setVisible(busy)

    def rendered_view(self):
        """The view the current pane (or the wipe) renders now: its real fields of view."""
        if self.view.mode == "wipe" and self.view.panes:
            return self.view.wipe.gl.view()
        pane = self.view.current_pane()
        if pane is not None:
            return pane.gl.view()
        return self.camera.view(4, 3)

    def _update_view_label(self) -> None:
        c = self.camera
        v = self.rendered_view()
        mode = "square pixels" if c.fov_mode == "square" else "paper FoV"
        proj = {"rectilinear": "", "stereographic": "  little planet", "fisheye": "  fisheye"}[v.projection]
        txt = f"yaw {c.yaw:+.1f}°  pitch {c.pitch:+.1f}°  fov {v.fov_h:.1f}°×{v.fov_v:.1f}° ({mode}){proj}"
        if self.document is not None and self.document.heading is not None:
            txt += f"  heading {(self.document.heading + c.yaw) % 360:.0f}°"
        self.view_label.setText(txt)

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        QTimer.singleShot(0, self._update_view_label)

    def _current_changed(self, key: str) -> None:
        for a in self.method_group.actions():
            a.setChecked(a.data() == key)

    def _rebuild_methods(self) -> None:
        self.method_menu.clear()
        for a in self.method_group.actions():
            self.method_group.removeAction(a)
        for key, pane in self.view.panes.items():
            a = QAction(pane.spec.label, self, checkable=True)
            a.setData(key)
            a.setChecked(key == self.view.current_key)
            a.triggered.connect(lambda _=False, k=key: self.view.set_current(k))
            self.method_group.addAction(a)
            self.method_menu.addAction(a)

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.settings.recent:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, path=p: self.open_path(path))
        self.recent_menu.setEnabled(bool(self.settings.recent))

    def _save_settings(self) -> None:
        try:
            self.settings.save()
        except OSError as e:
            self.statusBar().showMessage(f"Could not save settings: {e}", 5000)

    # ------------------------------------------------------------------- open
    def open_path(self, path, remember: bool | None = None) -> bool:
        """Open a file or bundle; on failure show the error and keep the current panorama.
        ``remember`` (default: unless it is the bundled sample) adds it to Recent.

        The file is parsed and decoded on a worker thread (:class:`OpenJob`) while a local event
        loop keeps the window painting and answering input; returns once it is open (True) or has
        failed (False). If another open starts meanwhile, the later one wins and this returns False."""
        self._open_seq = getattr(self, "_open_seq", 0) + 1
        seq = self._open_seq
        job = OpenJob(path, self)
        got: dict = {}
        job.opened.connect(lambda d: got.setdefault("doc", d))
        job.failed.connect(lambda m: got.setdefault("error", m))
        loop = QEventLoop(self)
        job.finished.connect(loop.quit, Qt.ConnectionType.QueuedConnection)
        self.statusBar().showMessage(f"Opening {Path(path).name}…")
        self.opening = str(path)
        job.start()
        loop.exec()
        job.wait()
        job.deleteLater()
        if seq != self._open_seq:
            return False            # superseded by a later open
        self.opening = None
        self.statusBar().clearMessage()
        if "doc" not in got:
            self.show_error(got.get("error") or f"{path}: could not be opened")
            return False
        doc = got["doc"]
        self.set_document(doc)
        if remember is None:
            sample = sample_bundle_path()
            remember = sample is None or Path(path).resolve() not in (sample.resolve(), (sample / "bundle.yaml").resolve())
        if remember:
            self.settings.add_recent(path)
            self.settings.last_dir = str(Path(path).resolve().parent)
            self._rebuild_recent()
        self.settings.last_file = str(Path(path).resolve())
        self._save_settings()
        return True

    def open_reference(self, path) -> bool:
        if self.document is None:
            self.show_error("Open a panorama first, then its HR reference.")
            return False
        try:
            doc = self.document.with_reference(path)
        except BadInput as e:
            self.show_error(str(e))
            return False
        self.set_document(doc, keep_view=True)
        return True

    # ----------------------------------------------------------------- session
    def restore_session(self, open_last: bool = False) -> None:
        """Window geometry, view mode, wipe pair (and, with ``open_last``, the last file and view)
        from the settings."""
        st = self.settings
        if st.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(st.window_geometry.encode("ascii")))
        if open_last and st.last_file and Path(st.last_file).exists():
            if self.open_path(st.last_file, remember=False) and st.last_view:
                lv = st.last_view
                lo, hi = FOV_LIMITS[self.camera.projection]   # a hand-edited fov stays inside the limits

                def fov(v):
                    return None if v is None else min(hi, max(lo, v))

                self.camera.set_view(lv.get("yaw"), lv.get("pitch"), fov(lv.get("fov_h")), fov(lv.get("fov_v")))
        self.set_mode(st.view_mode)
        if len(st.wipe_pair) == 2:
            self.view.wipe.set_keys(*st.wipe_pair)

    def _remember_session(self) -> None:
        st = self.settings
        st.window_geometry = bytes(self.saveGeometry().toBase64()).decode("ascii")
        st.view_mode = self.view.mode
        a, b = self.view.wipe.keys()
        if a and b:
            st.wipe_pair = [a, b]
        c = self.camera
        st.last_view = {"yaw": c.yaw, "pitch": c.pitch, "fov_h": c.fov_h, "fov_v": c.fov_v}

    def set_document(self, doc: Document | None, keep_view: bool = False) -> None:
        self.document = doc
        if doc is not None and not keep_view:
            fh, fv = self.settings.default_fov
            iv = doc.initial_view
            if "fov_h" in iv:
                f = iv["fov_h"]
                fv = math.degrees(2 * math.atan(math.tan(math.radians(f) / 2) * math.tan(math.radians(fv) / 2)
                                                / math.tan(math.radians(fh) / 2)))
                fh = f
            self.camera.set_initial(iv.get("yaw", 0.0), iv.get("pitch", 0.0), fh, fv)
            if self.camera.projection != "rectilinear":   # keep the chosen projection's framing
                self.camera.set_projection(self.camera.projection)
        self.view.set_document(doc)
        self._rebuild_methods()
        # Qt appends " — ResVR viewer" (the application display name) itself
        self.setWindowTitle(doc.title if doc else "ResVR viewer")
        for n in (doc.notes if doc else []):
            self.show_notice(n)
        self._update_view_label()
        has_ref = bool(doc and doc.reference)
        self.act_heat.setEnabled(has_ref)
        self.doc_notice.setVisible(bool(doc and doc.notes))
        if doc and doc.notes:
            self.doc_notice.setText("⚠ " + doc.notes[0].split(": ", 1)[-1])
            self.doc_notice.setToolTip("\n".join(doc.notes))
        self._explain_document(doc)

    def _dialog_dir(self) -> str:
        d = self.settings.last_dir
        return d if d and Path(d).is_dir() else str(Path.home())

    def open_dialog(self) -> None:
        pats = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Open panorama", self._dialog_dir(),
                                              f"Panoramas ({pats});;Bundle (bundle.yaml);;All files (*)")
        if path:
            self.open_path(path)

    def open_bundle_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open comparison bundle folder", self._dialog_dir())
        if path:
            self.open_path(path)

    def open_reference_dialog(self) -> None:
        pats = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Open HR reference", self._dialog_dir(), f"Images ({pats})")
        if path:
            self.open_reference(path)

    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasUrls() and any(u.isLocalFile() for u in e.mimeData().urls()):
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        for u in e.mimeData().urls():
            if u.isLocalFile():
                self.open_path(u.toLocalFile())
                e.acceptProposedAction()
                return

    # -------------------------------------------------------------- messages
    def show_error(self, msg: str) -> None:
        """Report an error without blocking (a window-modal box; the event loop keeps running)."""
        self.last_error = msg
        self.statusBar().showMessage(msg, 10000)
        if self._error_box is not None:
            self._error_box.close()
        box = QMessageBox(QMessageBox.Icon.Critical, "ResVR viewer", msg, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("errorBox")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda *_: setattr(self, "_error_box", None))
        self._error_box = box
        box.open()
        self.errorShown.emit(msg)

    def show_notice(self, msg: str) -> None:
        self.statusBar().showMessage(msg, 10000)

    def show_shortcuts(self) -> None:
        from .dialogs import shortcuts_dialog

        d = shortcuts_dialog(self)
        d.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        d.open()

    def show_about(self) -> None:
        from .dialogs import about_text

        pane = self.view.current_pane()
        gl = pane.gl.gl_info if pane is not None else {}
        box = QMessageBox(QMessageBox.Icon.Information, "About ResVR viewer", about_text(gl, self.settings.device),
                          QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def keyPressEvent(self, e) -> None:
        if e.key() == Qt.Key.Key_Escape and self.isFullScreen():
            self.leave_fullscreen()
            e.accept()
            return
        super().keyPressEvent(e)

    def leave_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
            self.act_full.setChecked(False)

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()
        self.act_full.setChecked(self.isFullScreen())

    # ----------------------------------------------------------------- export
    def _pane_export(self, pane, size):
        """(image, metrics) for one pane: exactly what is drawn at screen size, else re-rendered."""
        if size is None:
            if pane.result is not None and pane.gl.overlay_visible() or pane.spec.method == "bilinear":
                return pane.shown_image(), dict(pane.metrics)
            view = pane.gl.view()
        else:
            view = pane.gl.view().resized(*size)
        ref = self.document.reference if self.document else None
        img, metrics = render_at(pane.spec, view, self.settings.device, ref)
        return img, metrics

    def export_current(self, path, size=None, overwrite=False) -> Path:
        pane = self.view.current_pane()
        if pane is None:
            raise BadInput("nothing to export: no panorama is open")
        img, metrics = self._pane_export(pane, size)
        view = pane.gl.view() if size is None else pane.gl.view().resized(*size)
        return save_export(path, img, view, [pane_meta(pane, metrics)], overwrite)

    def export_composite(self, path, size=None, overwrite=False) -> Path:
        panes = self.view.visible_panes() or list(self.view.panes.values())
        if not panes:
            raise BadInput("nothing to export: no panorama is open")
        images, labels, metas = [], [], []
        tile = size or panes[0].gl.fb_size()
        for p in panes:
            try:
                img, m = self._pane_export(p, size)
            except (MethodUnavailable, BadInput) as e:  # keep the grid: a dark tile that says why
                img, m = np.full((tile[1], tile[0], 3), 40, np.uint8), {}
                images.append(img)
                labels.append(f"{p.spec.label} unavailable: {e}")
                metas.append(dict(pane_meta(p, m), unavailable=str(e)))
                continue
            images.append(img)
            label = p.spec.label if p.key == "reference" else " · ".join(
                x for x in (p.spec.label, f"{p.spec.bpp:.3f} bpp" if p.spec.bpp else "", format_metrics(m)) if x)
            labels.append(label)
            metas.append(pane_meta(p, m))
        h, w = images[0].shape[:2]
        images = [i if i.shape[:2] == (h, w) else i[:h, :w] for i in images]
        comp = compose(images, labels, cols=1 if len(images) == 1 else 2)
        view = panes[0].gl.view() if size is None else panes[0].gl.view().resized(*size)
        return save_export(path, comp, view, metas, overwrite)

    def _ask_export(self, composite: bool) -> None:
        from .dialogs import ExportDialog

        pane = self.view.current_pane()
        if pane is None:
            self.show_error("Nothing to export: no panorama is open.")
            return
        d = ExportDialog(pane.gl.fb_size(), self.settings.export_size, composite, self)
        if d.exec() != d.DialogCode.Accepted:
            return
        size = d.size_choice()
        if size:
            self.settings.export_size = list(size)
        stem = self.document.title if self.document else "view"
        suffix = "compare" if composite else pane.key
        c = self.camera
        default = self.settings.export_folder() / f"{stem}_{suffix}_y{c.yaw:+.0f}_p{c.pitch:+.0f}.png"
        path, _ = QFileDialog.getSaveFileName(self, "Export PNG", str(default), "PNG (*.png)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if not path:
            return
        if not path.lower().endswith(".png"):
            path += ".png"
        overwrite = False
        if Path(path).exists():
            ans = QMessageBox.question(self, "Replace file?", f"{path} exists. Replace it?")
            if ans != QMessageBox.StandardButton.Yes:
                return
            overwrite = True
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            out = (self.export_composite if composite else self.export_current)(path, size, overwrite)
            self.settings.export_dir = str(Path(out).resolve().parent)
            self.statusBar().showMessage(f"Exported {out}", 6000)
        except (BadInput, MethodUnavailable) as e:
            self.show_error(str(e))
        except Exception as e:  # noqa: BLE001
            self.show_error(f"Export failed: {type(e).__name__}: {e}")
        finally:
            QApplication.restoreOverrideCursor()
        self._save_settings()

    def export_current_dialog(self) -> None:
        self._ask_export(False)

    def export_composite_dialog(self) -> None:
        self._ask_export(True)

    # ------------------------------------------------------------------ close
    def closeEvent(self, e) -> None:
        if self.compare_job is not None and self.compare_job.isRunning():
            self.compare_job.cancel()
            self.compare_job.wait(60000)
        self.service.stop()
        self._remember_session()
        self._save_settings()
        super().closeEvent(e)

    # --------------------------------------------------------- compare methods
    def compare_methods(self) -> bool:
        """Build (in the background) and open the comparison bundle of the open plain panorama."""
        from .compare_worker import CompareJob, bundle_dir_for

        doc = self.document
        if doc is None or doc.kind != "panorama":
            self.show_error("Compare methods… needs a plain HR panorama open (not a bundle or an LR file).")
            return False
        if self.compare_job is not None and self.compare_job.isRunning():
            return False
        out = bundle_dir_for(doc.source, self.settings.compare_output)
        job = CompareJob(doc.source, out, device="cpu" if self.settings.device == "auto" else self.settings.device,
                         parent=self)
        dlg = QProgressDialog(f"Encoding {doc.title} with every method…", "Cancel", 0, 100, self)
        dlg.setWindowTitle("Compare methods")
        dlg.setObjectName("compareProgress")
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        dlg.setMinimumDuration(0)
        dlg.setValue(0)
        dlg.canceled.connect(self.cancel_compare)
        job.progressed.connect(lambda pct, what: (dlg.setValue(pct), dlg.setLabelText(f"{what}… ({pct}%)")))
        job.succeeded.connect(self._compare_done)
        job.failed.connect(self._compare_failed)
        job.notice.connect(self.show_notice)
        job.cancelled.connect(self._compare_cancelled)
        job.finished.connect(dlg.close)
        self.compare_job, self.compare_dialog = job, dlg
        dlg.show()
        job.start(job.Priority.LowPriority)
        return True

    def cancel_compare(self) -> None:
        job = self.compare_job
        if job is not None and job.isRunning():
            job.cancel()
            self.statusBar().showMessage("Cancelling Compare methods… (the current step finishes, then its files "
                                         "are removed)", 10000)

    def _compare_done(self, folder: str) -> None:
        self.statusBar().showMessage(f"Comparison bundle: {folder}", 8000)
        if self.open_path(folder):
            self.set_mode("grid")

    def _compare_failed(self, msg: str) -> None:
        self.show_error(f"Compare methods failed: {msg}")

    def _compare_cancelled(self) -> None:
        self.statusBar().showMessage("Compare methods cancelled: nothing was written", 8000)
