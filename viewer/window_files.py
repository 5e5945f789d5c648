"""Opening files and bundles (dialogs, Recent), the HR reference, and the session kept in the
settings (window geometry, view mode, wipe pair, last file and view)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QEventLoop, Qt
from PySide6.QtWidgets import QFileDialog

from resvr.core.errors import BadInput

from .document import IMAGE_SUFFIXES
from .navigation import FOV_LIMITS
from .open_job import OpenJob


def sample_bundle_path() -> Path | None:
    """$RESVR_SAMPLE when it holds a bundle, else the sample shipped in the package
    (``core.resources``), or None when neither exists."""
    import os

    from resvr.core import resources

    own = os.environ.get("RESVR_SAMPLE")
    if own and (Path(own) / "bundle.yaml").is_file():
        return Path(own)
    return resources.sample_bundle_path()


class FilesMixin:
    """Open / Recent / session memory of :class:`~.main_window.MainWindow`."""

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
