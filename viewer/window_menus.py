"""The main window's menus, actions (with their shortcuts), toolbar and status bar, and the menus
rebuilt from the open document (Method) and the settings (Open recent)."""
from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QProgressBar

from resvr.core.device import DEVICE_CHOICES

from .devices import DEVICE_TEXT, resolve

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


class MenusMixin:
    """Builds and keeps the window's actions and menus (part of :class:`~.main_window.MainWindow`)."""

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
        for dev in DEVICE_CHOICES:
            a = QAction(DEVICE_TEXT.get(dev, dev), self, checkable=True)
            a.setData(dev)
            a.setEnabled(resolve(dev) is not None)     # CUDA only where the core resolver finds it
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
