"""Exporting the current pane or the composite of the visible panes as PNG (with the export dialog)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from resvr.core.errors import BadInput, MethodUnavailable

from .export import compose, pane_meta, render_at, save_export
from .panes import format_metrics


class ExportMixin:
    """Export of :class:`~.main_window.MainWindow`."""

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
