""""Compare methods…" in the main window: the info bar that explains a plain panorama or a plain
LR JPEG, and the background encode (:class:`~.compare_worker.CompareJob`) with its progress dialog,
cancel, done and failed."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressDialog, QPushButton, QToolButton

from resvr.core.jpeg.xmp import PREFIX as XMP_PREFIX

from .document import Document


class CompareMixin:
    """The info bar and Compare methods… of :class:`~.main_window.MainWindow`."""

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
            rv = doc.xmp.get(XMP_PREFIX, {}) if doc.xmp else {}
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

    def compare_methods(self) -> bool:
        """Build (in the background) and open the comparison bundle of the open plain panorama."""
        from .compare_worker import CompareJob

        doc = self.document
        if doc is None or doc.kind != "panorama":
            self.show_error("Compare methods… needs a plain HR panorama open (not a bundle or an LR file).")
            return False
        if self.compare_job is not None and self.compare_job.isRunning():
            return False
        job = CompareJob(doc.source, self.settings.compare_output, device=self.settings.device, parent=self)
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
