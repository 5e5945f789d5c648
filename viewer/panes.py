"""One method's pane (header, badge, status, GL view and its overlays) and the two-method wipe.

A pane shows its own file live (bilinear in the shader) and, once the render service has rendered
the *current* view with the pane's method, that render instead (the overlay). Until then it
carries a badge ("preview — ResVR refining… 1.2 s", "half resolution — …") and its header hides
the metrics (they belong to a finished render of this view only). In the wipe the divider is
always drawn (by the shader) and both sides' metrics are shown above the view.
"""
from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout, QWidget

from resvr.core.imageio import to_uint8

from .document import PaneSpec
from .gl_widget import PanoramaGLWidget, views_match
from .navigation import Camera
from .overlays import HEAT_MAX, CompassOverlay, HeatBar, heat_map
from .render_service import RenderResult

LPIPS_NA_DEFAULT = "LPIPS could not be computed for this view"
ACCENT_PX = 5             # the width of a pane label's accent bar (its method's registry colour)


def format_bpp(bpp) -> str:
    return "bpp n/a" if bpp is None else f"{bpp:.3f} bpp"


def format_metrics(m: dict | None) -> str:
    """'PSNR 31.42 dB · SSIM 0.9123 · LPIPS 0.1234' (LPIPS n/a when it could not load; the reason is
    :func:`lpips_reason`, shown as the tooltip)."""
    if not m:
        return ""
    p = m.get("psnr")
    ps = "PSNR ∞ (identical)" if p is not None and math.isinf(p) else f"PSNR {p:.2f} dB"
    lp = m.get("lpips")
    ls = "LPIPS n/a" if lp is None else f"LPIPS {lp:.4f}"
    return f"{ps} · SSIM {m.get('ssim', float('nan')):.4f} · {ls}"


def accent_style(colour: str, side: str = "left") -> str:
    """A label's accent: a bar in ``colour`` on one ``side``. (Qt draws a one-sided border only
    once the label has a border of its own: hence ``border: none`` first.)"""
    return f"border: none; border-{side}: {ACCENT_PX}px solid {colour}; padding-{side}: 4px;"


def lpips_reason(m: dict | None) -> str | None:
    """Why LPIPS is n/a for these metrics (None when it has a value or there are no metrics)."""
    if not m or m.get("lpips") is not None:
        return None
    return m.get("lpips_note") or LPIPS_NA_DEFAULT


class PaneWidget(QFrame):
    """One method's pane: a header (method, bpp, metrics), a status line and the GL view."""

    activated = Signal(str)

    def __init__(self, spec: PaneSpec, camera: Camera, parent=None):
        super().__init__(parent)
        self.spec = spec
        self.key = spec.key
        self.result: RenderResult | None = None       # latest full-resolution result
        self.preview: RenderResult | None = None
        self.unavailable: str | None = None
        self.heat = False
        self.in_training = False          # the bundle says its image was used in training
        self.pending_since = time.monotonic()   # when the current view was asked for
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("pane")
        self.header = QLabel(self)
        self.header.setObjectName("paneLabel")
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        self.header.setStyleSheet(accent_style(spec.colour))
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status = QLabel(self)
        self.status.setObjectName("paneStatus")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #d33; font-weight: bold;")
        self.status.hide()
        self.gl = PanoramaGLWidget(camera, self)
        self.gl.activated.connect(lambda: self.activated.emit(self.key))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addWidget(self.header)
        lay.addWidget(self.status)
        lay.addWidget(self.gl, 1)
        self.badge = QLabel(self)
        self.badge.setObjectName("paneBadge")
        self.badge.setStyleSheet("background: rgba(20, 20, 20, 190); color: #ffd35a; padding: 2px 6px;"
                                 " border-radius: 3px; font-weight: bold;")
        self.badge.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.badge.hide()
        self.heatbar = HeatBar(HEAT_MAX, self)
        self.heatbar.hide()
        self.compass = CompassOverlay(self.gl, self)
        self.compass.hide()
        self.gl.set_image(spec.erp)
        self.update_label()

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        self._place_overlays()

    def _place_overlays(self) -> None:
        g = self.gl.geometry()
        self.badge.move(g.x() + 6, g.y() + 6)
        self.heatbar.move(g.right() - self.heatbar.width() - 6, g.bottom() - self.heatbar.height() - 6)
        self.compass.setGeometry(g)
        for w in (self.compass, self.badge, self.heatbar):
            w.raise_()

    @property
    def metrics(self) -> dict:
        """The metrics of this pane's finished render of the current view ({} while refining)."""
        return self.result.metrics if self.is_final() else {}

    def is_final(self) -> bool:
        """True when the pane shows its own full-resolution render of the camera's current view."""
        r = self.result
        return r is not None and r.image is not None and views_match(r.view, self.gl.view()) \
            and (r.view.width, r.view.height) == self.gl.fb_size()

    def badge_text(self) -> str:
        """'' when final (or unavailable); else what the pane shows and what it is waiting for."""
        if self.unavailable or self.spec.erp is None or self.is_final():
            return ""
        view = self.gl.view()
        p = self.preview
        if p is not None and p.image is not None and views_match(p.view, view):
            kind = "half resolution" if abs(p.view.width * 2 - view.width) <= 2 else "low-res preview"
        else:
            kind = "preview (live bilinear)" if self.spec.method != "bilinear" else "live view"
        verb = "refining" if self.spec.method != "bilinear" else "rendering"
        if self.gl.camera.moving:
            return f"{kind} — {self.spec.label} {verb} when the view stops"
        return f"{kind} — {self.spec.label} {verb}… {time.monotonic() - self.pending_since:.1f} s"

    def update_badge(self) -> None:
        t = self.badge_text()
        if t:
            self.badge.setText(t)
            self.badge.adjustSize()
            self._place_overlays()
        self.badge.setVisible(bool(t))

    def set_selected(self, on: bool) -> None:
        self.setStyleSheet("#pane { border: 2px solid #3a8ee6; }" if on else "")

    def label_text(self) -> str:
        parts = [self.spec.label]
        if self.spec.key == "reference":
            if self.spec.erp is not None:
                parts.append(f"HR {self.spec.erp.shape[1]}×{self.spec.erp.shape[0]}")
        else:
            parts.append(format_bpp(self.spec.bpp))
            m = format_metrics(self.metrics)
            if m:
                parts.append(m)
            elif self.result is not None and self.result.metrics and not self.unavailable:
                parts.append("metrics when refined")
        if self.in_training:
            parts.append("⚠ training image (metrics are not validation results)")
        return " · ".join(parts)

    def update_label(self) -> None:
        self.header.setText(self.label_text())
        tip = f"{self.spec.label}\n{self.spec.path}"
        why = lpips_reason(self.metrics)
        if why:
            tip += f"\nLPIPS n/a: {why}"
        if self.in_training:
            tip += "\nThis panorama was used to train the models (bundle metadata)."
        self.header.setToolTip(tip)

    def set_unavailable(self, reason: str | None) -> None:
        self.unavailable = reason
        if reason:
            self.status.setText(f"{self.spec.label} unavailable: {reason}")
            self.status.show()
            self.gl.set_image(None)
        else:
            self.status.hide()

    def set_result(self, res: RenderResult) -> None:
        if res.error:
            self.set_unavailable(res.error if res.unavailable else f"render failed: {res.error}")
            return
        if not views_match(res.view, self.gl.view()):
            return  # stale: rendered for a view the camera has left
        if self.unavailable:
            self.set_unavailable(None)
            self.gl.set_image(self.spec.erp)
        if res.full:
            self.result = res
        else:
            self.preview = res
        self.update_label()
        self.refresh_overlay()
        self.update_badge()

    def refresh_overlay(self) -> None:
        view = self.gl.view()
        res = self.result if self.result is not None and views_match(self.result.view, view) else self.preview
        if res is None or res.image is None or not views_match(res.view, view):
            self.heatbar.hide()
            self.gl.clear_overlay()
            return
        img = res.image
        heat = self.heat and res.reference is not None
        if heat:
            img = heat_map(res.image, res.reference)
        self.heatbar.setVisible(heat)
        self.gl.set_overlay(img, res.view)

    def shown_image(self) -> np.ndarray:
        """What the pane shows now, pixel for pixel (h, w, 3) uint8."""
        return self.gl.grab_image()


class WipeWidget(QWidget):
    """Two methods in one view, split by a slider: A on the left, B on the right."""

    changed = Signal()

    def __init__(self, camera: Camera, parent=None):
        super().__init__(parent)
        self.gl = PanoramaGLWidget(camera, self)
        self.combo_a = QComboBox(self)
        self.combo_b = QComboBox(self)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, 1000)
        self.slider.setValue(500)
        self.slider.setToolTip("Wipe position")
        top = QHBoxLayout()
        top.addWidget(QLabel("Left:"))
        top.addWidget(self.combo_a, 1)
        top.addWidget(QLabel("Right:"))
        top.addWidget(self.combo_b, 1)
        self.info_a = QLabel(self)
        self.info_b = QLabel(self)
        for lab in (self.info_a, self.info_b):
            lab.setObjectName("wipeMetrics")
            lab.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.info_b.setAlignment(Qt.AlignmentFlag.AlignRight)
        info = QHBoxLayout()
        info.addWidget(self.info_a, 1)
        info.addWidget(self.info_b, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(top)
        lay.addLayout(info)
        lay.addWidget(self.gl, 1)
        lay.addWidget(self.slider)
        self.specs: dict[str, PaneSpec] = {}
        self.results: dict[str, RenderResult] = {}
        self.pending_since = time.monotonic()
        self.in_training = False
        self.compass = CompassOverlay(self.gl, self)
        self.compass.hide()
        self.slider.valueChanged.connect(self.compose)
        self.combo_a.currentIndexChanged.connect(self._combo_changed)
        self.combo_b.currentIndexChanged.connect(self._combo_changed)

    def set_specs(self, specs: list[PaneSpec]) -> None:
        self.specs = {s.key: s for s in specs}
        for c in (self.combo_a, self.combo_b):
            c.blockSignals(True)
            c.clear()
            for s in specs:
                c.addItem(s.label, s.key)
            c.blockSignals(False)
        self.combo_a.setCurrentIndex(0)
        self.combo_b.setCurrentIndex(min(len(specs) - 1, 1) if specs else 0)
        self._combo_changed()

    def keys(self) -> tuple[str | None, str | None]:
        return self.combo_a.currentData(), self.combo_b.currentData()

    def set_keys(self, a: str, b: str) -> None:
        self.combo_a.setCurrentIndex(max(0, self.combo_a.findData(a)))
        self.combo_b.setCurrentIndex(max(0, self.combo_b.findData(b)))

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        self.compass.setGeometry(self.gl.geometry())
        self.compass.raise_()

    def _combo_changed(self) -> None:
        a, b = self.keys()
        self.results = {}
        self.gl.set_image(self.specs[a].erp if a in self.specs else None)
        self.gl.set_split(self.specs[b].erp if b in self.specs else None, self.slider.value() / 1000)
        for key, lab, side in ((a, self.info_a, "left"), (b, self.info_b, "right")):
            lab.setStyleSheet(accent_style(self.specs[key].colour, side) if key in self.specs else "")
        self.update_info()
        self.changed.emit()

    def set_result(self, side: str, res: RenderResult) -> None:
        if res.full and (res.image is not None or res.error):
            self.results[side] = res
        self.compose()

    def side_final(self, side: str) -> bool:
        """The side shows its own full render of this view (or its method is unavailable)."""
        r = self.results.get(side)
        return r is not None and views_match(r.view, self.gl.view()) and (
            r.error is not None or (r.view.width, r.view.height) == self.gl.fb_size())

    def side_text(self, side: str) -> str:
        """'ResVR · 0.298 bpp · PSNR …' for a finished side, else its refining badge."""
        key = self.keys()[0 if side == "A" else 1]
        spec = self.specs.get(key)
        if spec is None:
            return ""
        r = self.results.get(side)
        if r is not None and r.error:
            return f"{spec.label} unavailable: {r.error}"
        parts = [("◀ " if side == "A" else "") + spec.label]
        if spec.key != "reference":
            parts.append(format_bpp(spec.bpp))
        if self.side_final(side) and r.error is None:
            m = format_metrics(r.metrics)
            if m:
                parts.append(m)
        elif self.gl.camera.moving:
            parts.append("preview (live bilinear) — refining when the view stops")
        else:
            parts.append(f"preview (live bilinear) — refining… {time.monotonic() - self.pending_since:.1f} s")
        if self.in_training:
            parts.append("⚠ training image")
        return " · ".join(parts) + (" ▶" if side == "B" else "")

    def update_info(self) -> None:
        for side, lab in (("A", self.info_a), ("B", self.info_b)):
            lab.setText(self.side_text(side))
            r = self.results.get(side)
            why = lpips_reason(r.metrics) if r is not None and self.side_final(side) else None
            lab.setToolTip(f"LPIPS n/a: {why}" if why else "")

    def compose(self) -> None:
        view = self.gl.view()
        _, kb = self.keys()
        self.gl.set_split(self.specs[kb].erp if kb in self.specs else None, self.slider.value() / 1000)
        self.update_info()
        ra, rb = self.results.get("A"), self.results.get("B")
        if ra is None or rb is None or not (views_match(ra.view, view) and views_match(rb.view, view)) \
                or ra.image is None or rb.image is None or ra.image.shape != rb.image.shape:
            self.gl.clear_overlay()
            return
        a, b = to_uint8(ra.image), to_uint8(rb.image)
        x = int(round(self.slider.value() / 1000 * a.shape[1]))
        out = a.copy()
        out[:, x:] = b[:, x:]   # the divider itself is drawn by the shader at the same column
        self.gl.set_overlay(out, ra.view)
