"""The main window: the panes, the view state (mode, projection, compass, auto-rotate, field of
view, device), the status bar's view line, messages, fullscreen and close.

Its other parts are mixins, one module each: menus, actions and shortcuts (:mod:`.window_menus`);
opening, Recent and the session memory (:mod:`.window_files`); the info bar and Compare methods…
(:mod:`.window_compare`); export (:mod:`.window_export`)."""
from __future__ import annotations

import math

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QMainWindow, QMessageBox, QProgressDialog, QVBoxLayout, QWidget

from .compare_view import CompareView
from .devices import device_text
from .document import Document
from .navigation import Camera
from .render_service import RenderService
from .settings import Settings
from .window_compare import CompareMixin
from .window_export import ExportMixin
from .window_files import FilesMixin, sample_bundle_path
from .window_menus import MenusMixin, icon

__all__ = ["MainWindow", "icon", "sample_bundle_path"]


class MainWindow(MenusMixin, FilesMixin, CompareMixin, ExportMixin, QMainWindow):
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
        self.service.message.connect(self._service_message)
        self.service.cancelled.connect(self._render_cancelled)
        self.service.started.connect(self._render_started)
        self.set_mode("grid", remember=False)
        self.set_projection(self.settings.projection, save=False)
        self.set_compass(self.settings.compass, save=False)
        self.set_auto_rotate(self.settings.auto_rotate, save=False)
        self._update_view_label()

    def _service_message(self, text: str) -> None:
        """The render worker's status line; its empty message ends a "Preparing …" line at once
        (not 4 s later, over panes already drawn) and leaves any other message alone."""
        bar = self.statusBar()
        if text:
            bar.showMessage(text, 4000)
        elif bar.currentMessage().startswith("Preparing "):
            bar.clearMessage()

    # ------------------------------------------------------------------ state
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
        self.device_label.setText(f"Device: {device_text(self.settings.device)}")

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

    # ------------------------------------------------------------------ close
    def closeEvent(self, e) -> None:
        if self.compare_job is not None and self.compare_job.isRunning():
            self.compare_job.cancel()
            self.compare_job.wait(60000)
        self.service.stop()
        self._remember_session()
        self._save_settings()
        super().closeEvent(e)

