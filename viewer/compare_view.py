"""Panes under one camera: single view, the synchronised comparison grid, and a wipe.

Every pane is a :class:`PanoramaGLWidget` that shows its own file live (bilinear in the shader)
and, once the render service has rendered the *current* view with the pane's method, that render
instead (the overlay). All panes share one :class:`Camera`, so they always show the same view.

Each pane's header names the method, the bpp of its file and, when a reference (HR original) is
open, PSNR / SSIM / LPIPS of the pane's render against the reference viewport of the same view,
recomputed for every settled view.

Honest progressive rendering: until a pane shows its own full-resolution render of the *current*
view it carries a badge ("preview — ResVR refining… 1.2 s", "half resolution — …") and its header
hides the metrics (they belong to a finished render of this view only). Large panes get a
half-resolution learned pass first. In wipe mode the divider is always drawn and both sides'
metrics are shown above the view.
"""
from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QSizePolicy,
                               QSlider, QStackedWidget, QVBoxLayout, QWidget)

from resvr.core import registry
from resvr.core.imageio import to_uint8

from .document import PANE_ORDER, Document, PaneSpec
from .gl_widget import PanoramaGLWidget, rgb_to_qimage, views_match
from .navigation import Camera
from .render_service import RenderItem, RenderRequest, RenderResult, RenderService

HEAT_MAX = 0.2            # |error| mapped to the top of the colour scale
PREVIEW_BUDGET_S = 0.06   # per pane, while the camera moves
PREVIEW_MIN_SCALE = 0.15  # below this a preview is not worth it: the live bilinear view stays
HALF_RES_MIN_PX = 500_000  # learned panes this large get a half-resolution pass before the full one
LPIPS_NA_DEFAULT = "LPIPS could not be computed for this view"

# a perceptually ordered dark-to-bright scale (anchors of matplotlib's "inferno")
_HEAT_ANCHORS = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66],
                          [245, 125, 21], [250, 193, 39], [252, 255, 164]], np.float64)


def heat_map(img: np.ndarray, ref: np.ndarray, vmax: float = HEAT_MAX) -> np.ndarray:
    """Mean absolute RGB error per pixel, coloured (uint8 h x w x 3); 0 is black, >= vmax white-yellow."""
    a = np.asarray(img, np.float32)
    b = np.asarray(ref, np.float32)
    if a.dtype == np.uint8 or a.max() > 1.5:
        a = a / 255.0
    if b.max() > 1.5:
        b = b / 255.0
    t = np.clip(np.abs(a - b).mean(axis=2) / vmax, 0, 1) * (len(_HEAT_ANCHORS) - 1)
    i0 = np.floor(t).astype(int).clip(0, len(_HEAT_ANCHORS) - 2)
    f = (t - i0)[..., None]
    out = _HEAT_ANCHORS[i0] * (1 - f) + _HEAT_ANCHORS[i0 + 1] * f
    return np.round(out).astype(np.uint8)


def heat_colorbar(width: int, height: int, vmax: float = HEAT_MAX) -> np.ndarray:
    """The heat map's colour scale as an image (h x w x 3 uint8): column j is the colour of a mean
    absolute error of j/(w-1) * vmax (the left end is 0, the right end vmax and above)."""
    err = np.linspace(0.0, vmax, width, dtype=np.float64)
    ramp = np.broadcast_to(err[None, :, None], (height, width, 3))
    return heat_map(ramp, np.zeros_like(ramp), vmax)


class HeatBar(QWidget):
    """The heat map's colour bar with its scale (0 … vmax of the mean |RGB error|, colours 0–1)."""

    def __init__(self, vmax: float = HEAT_MAX, parent=None):
        super().__init__(parent)
        self.vmax = vmax
        self.bar = heat_colorbar(160, 10, vmax)
        self.setFixedSize(200, 40)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setToolTip(f"Heat map: mean absolute RGB error per pixel against the reference, colours in 0–1; "
                        f"black is 0, white-yellow is ≥ {vmax:g}")

    def paintEvent(self, e) -> None:
        qp = QPainter(self)
        qp.fillRect(self.rect(), QColor(0, 0, 0, 170))
        qp.drawImage(20, 6, rgb_to_qimage(self.bar))
        qp.setPen(QColor(255, 255, 255))
        f = QFont(self.font())
        f.setPointSizeF(7.5)
        qp.setFont(f)
        qp.drawText(20 - 4, 30, "0")
        qp.drawText(20 + 80 - 10, 30, f"{self.vmax / 2:g}")
        qp.drawText(20 + 160 - 14, 30, f"≥{self.vmax:g}")
        qp.end()


class CompassOverlay(QWidget):
    """A compass (heading of the view centre; N is up on the dial) and the horizon line (lat 0,
    projected with resvr.core.geometry, so it is right in every projection). Mouse-transparent;
    drawn over the GL view, never part of its pixels or of an export."""

    def __init__(self, gl: PanoramaGLWidget, parent=None):
        super().__init__(parent)
        self.gl = gl
        self.heading: float | None = None     # GPano pose heading (compass degrees at lon 0)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)

    def horizon_points(self) -> list[list[tuple[float, float]]]:
        """Runs of visible horizon points in widget coordinates."""
        import torch

        from resvr.core.geometry import lonlat_to_view

        view = self.gl.view()
        r = self.gl.devicePixelRatioF()
        lon = torch.linspace(-math.pi, math.pi, 721, dtype=torch.float64)
        col, row, ok = lonlat_to_view(lon, torch.zeros_like(lon), view)
        runs, cur = [], []
        for c, rr, k in zip(col.tolist(), row.tolist(), ok.tolist()):
            if k:
                cur.append(((c + 0.5) / r, (rr + 0.5) / r))
            elif cur:
                runs.append(cur)
                cur = []
        if cur:
            runs.append(cur)
        return runs

    def compass_heading(self) -> float:
        """Compass degrees of the view centre (the yaw when the file has no pose heading)."""
        return ((self.heading or 0.0) + self.gl.camera.yaw) % 360.0

    def paintEvent(self, e) -> None:
        qp = QPainter(self)
        qp.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor(80, 220, 255, 200), 1.5, Qt.PenStyle.DashLine)
        qp.setPen(pen)
        # one polyline per visible run, built in one call: thousands of void calls (drawLine,
        # lineTo) in one paint crashed PySide6 6.12 ("deallocating None") under the screenshot script
        for run in self.horizon_points():
            pieces, cur = [], [run[0]]
            for a, b in zip(run, run[1:]):
                if abs(a[0] - b[0]) < self.width() / 2:
                    cur.append(b)
                else:
                    pieces.append(cur)
                    cur = [b]
            pieces.append(cur)
            for pc in pieces:
                if len(pc) > 1:
                    qp.drawPolyline(QPolygonF([QPointF(x, y) for x, y in pc]))
        # the dial: bottom-left, the needle points to north relative to the view direction
        R = 26
        cx, cy = R + 10, self.height() - R - 10
        qp.setPen(QPen(QColor(255, 255, 255, 220), 1.5))
        qp.setBrush(QColor(0, 0, 0, 140))
        qp.drawEllipse(QPointF(cx, cy), R, R)
        h = math.radians(self.compass_heading())
        tip = QPointF(cx - math.sin(h) * (R - 5), cy - math.cos(h) * (R - 5))
        qp.setPen(QPen(QColor(230, 60, 60), 3))
        qp.drawLine(QPointF(cx, cy), tip)
        qp.setPen(QColor(255, 255, 255))
        qp.drawText(QPointF(tip.x() - 4, tip.y() - 3), "N")
        qp.drawText(QPointF(cx + R + 5, cy + 4), f"{self.compass_heading():.0f}°")
        qp.end()


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
        colour = registry.get(self.spec.method).colour if self.spec.method in registry.BY_ID else "#9e9e9e"
        self.header.setStyleSheet(f"border-left: 5px solid {colour}; padding-left: 4px;")
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


class CompareView(QWidget):
    """The central widget: modes 'single', 'grid' and 'wipe' over one camera and one render service."""

    currentChanged = Signal(str)
    renderInfo = Signal(str)          # e.g. "ResVR 1.21 s at 1024×768"
    notice = Signal(str)
    resultsUpdated = Signal()

    def __init__(self, camera: Camera | None = None, service: RenderService | None = None, parent=None):
        super().__init__(parent)
        self.camera = camera or Camera(parent=self)
        self.service = service or RenderService(self)
        self.service.resultReady.connect(self._on_result)
        self.document: Document | None = None
        self.panes: dict[str, PaneWidget] = {}
        self.current_key: str | None = None
        self.mode = "grid"
        self.heat = False
        self.device = "auto"
        self.previews_enabled = True
        self.half_res_min_px = HALF_RES_MIN_PX
        self.compass_on = False
        self._full_gen = 0
        self._stack = QStackedWidget(self)
        self._grid_host = QWidget()
        self._grid = QGridLayout(self._grid_host)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(4)
        self.empty = QLabel(
            "No panorama open.\n\nFile → Open… (Ctrl+O) an equirectangular image or a comparison bundle folder,\n"
            "or drop one here.", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setObjectName("emptyHint")
        self.wipe = WipeWidget(self.camera)
        self.wipe.changed.connect(self.schedule_full)
        self._stack.addWidget(self.empty)
        self._stack.addWidget(self._grid_host)
        self._stack.addWidget(self.wipe)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._stack)
        self._resize_timer = QTimer(self)
        self._resize_timer.setSingleShot(True)
        self._resize_timer.setInterval(200)
        self._resize_timer.timeout.connect(self.request_full)
        self.camera.changed.connect(self._on_camera_changed)
        self.camera.settled.connect(self.request_full)
        self._badge_timer = QTimer(self)       # ticks the "refining… 1.2 s" clocks
        self._badge_timer.setInterval(200)
        self._badge_timer.timeout.connect(self._tick_badges)

    # --------------------------------------------------------------- document
    def set_document(self, doc: Document | None) -> None:
        self.service.cancel()
        self.service.clear_cache()
        for p in self.panes.values():
            self._grid.removeWidget(p)
            p.deleteLater()
        self.panes = {}
        self.document = doc
        self.wipe.in_training = bool(doc and doc.in_training)
        if doc is None:
            self.current_key = None
            self.wipe.set_specs([])
            self._stack.setCurrentWidget(self.empty)
            return
        specs = sorted(doc.panes, key=lambda s: PANE_ORDER.index(s.method) if s.method in PANE_ORDER else 99)
        for spec in specs:
            pane = PaneWidget(spec, self.camera, self._grid_host)
            pane.hide()
            pane.activated.connect(self.set_current)
            pane.gl.notice.connect(self.notice)
            pane.in_training = bool(doc.in_training) and spec.key != "reference"
            pane.compass.heading = doc.heading
            pane.compass.setVisible(self.compass_on)
            pane.update_label()
            self.panes[spec.key] = pane
        self.wipe.set_specs(specs)
        keys = list(self.panes)
        learned = [k for k in keys if k in registry.learned_ids()]
        if len(keys) >= 2:   # the wipe: the first pane against the latest learned method
            self.wipe.set_keys(keys[0], learned[-1] if learned else keys[1])
        self.wipe.compass.heading = doc.heading
        self.current_key = None
        self.set_current(learned[-1] if learned else keys[0])
        self._layout_panes()
        self.schedule_full()

    def pane_keys(self) -> list[str]:
        return list(self.panes)

    def current_pane(self) -> PaneWidget | None:
        return self.panes.get(self.current_key) if self.current_key else None

    def set_current(self, key: str) -> None:
        if key not in self.panes or key == self.current_key:
            return
        self.current_key = key
        for k, p in self.panes.items():
            p.set_selected(k == key and self.mode == "grid" and len(self.panes) > 1)
        if self.mode == "single":
            self._layout_panes()
            self.schedule_full()
        self.currentChanged.emit(key)

    # ------------------------------------------------------------------ modes
    def set_mode(self, mode: str) -> None:
        if mode not in ("single", "grid", "wipe"):
            raise ValueError(mode)
        self.mode = mode
        self._layout_panes()
        for k, p in self.panes.items():
            p.set_selected(k == self.current_key and mode == "grid" and len(self.panes) > 1)
        self.schedule_full()

    def set_heat(self, on: bool) -> None:
        self.heat = bool(on)
        for p in self.panes.values():
            p.heat = self.heat and p.key != "reference"
            p.refresh_overlay()

    def set_compass(self, on: bool) -> None:
        self.compass_on = bool(on)
        for p in self.panes.values():
            p.compass.setVisible(self.compass_on)
            p._place_overlays()
        self.wipe.compass.setVisible(self.compass_on and bool(self.panes))
        self.wipe.compass.setGeometry(self.wipe.gl.geometry())

    def set_device(self, device: str) -> None:
        self.device = device
        self.service.clear_cache()
        self.schedule_full()

    def _layout_panes(self) -> None:
        if not self.panes:
            self._stack.setCurrentWidget(self.empty)
            return
        while self._grid.count():
            self._grid.takeAt(0)
        if self.mode == "wipe":
            for p in self.panes.values():
                p.hide()
            self.wipe.compose()
            self._stack.setCurrentWidget(self.wipe)
            return
        self._stack.setCurrentWidget(self._grid_host)
        visible = list(self.panes.values()) if self.mode == "grid" else [self.panes[self.current_key]]
        cols = 1 if len(visible) == 1 else 2
        for i, p in enumerate(visible):
            self._grid.addWidget(p, i // cols, i % cols)
        for p in self.panes.values():
            p.setVisible(p in visible)
        rows = (len(visible) + cols - 1) // cols
        for r in range(4):
            self._grid.setRowStretch(r, 1 if r < rows else 0)
        for c in range(2):
            self._grid.setColumnStretch(c, 1 if c < cols else 0)

    def visible_panes(self) -> list[PaneWidget]:
        if self.mode == "wipe":
            return []
        return [p for p in self.panes.values() if p.isVisibleTo(self._grid_host)]

    # ---------------------------------------------------------------- renders
    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        self._resize_timer.start()

    def schedule_full(self) -> None:
        self._resize_timer.start()

    def _items(self, scale: float = 1.0, skip_bilinear: bool = False) -> list[RenderItem]:
        items = []
        if self.mode == "wipe":
            a, b = self.wipe.keys()
            v = self.wipe.gl.view()
            for side, key in (("A", a), ("B", b)):
                spec = self.panes[key].spec if key in self.panes else None
                if spec is not None:
                    items.append(RenderItem(f"wipe:{side}", spec.method, spec.path, v))
            return items
        panes = sorted(self.visible_panes(), key=lambda p: p.key != "reference")  # reference first
        for p in panes:
            if skip_bilinear and (p.spec.method == "bilinear" or p.unavailable):
                continue
            v = p.gl.view()
            if scale != 1.0:
                v = v.resized(max(16, round(v.width * scale)), max(12, round(v.height * scale)))
            items.append(RenderItem(p.key, p.spec.method, p.spec.path, v))
        return items

    def _half_items(self, items: list[RenderItem]) -> list[RenderItem]:
        """Half-resolution passes of the large learned panes (shown while the full pass runs)."""
        out = []
        for it in items:
            if it.method in registry.learned_ids() and it.view.width * it.view.height >= self.half_res_min_px:
                v = it.view.resized(max(16, it.view.width // 2), max(12, it.view.height // 2))
                out.append(RenderItem(it.key, it.method, it.path, v, full=False))
        return out

    def request_full(self) -> int | None:
        """Render every visible pane at full resolution for the current view, with metrics; large
        learned panes get a half-resolution pass first."""
        if not self.panes or self.camera.moving:
            return None
        ref = self.document.reference if self.document else None
        items = self._items()
        req = RenderRequest(self._half_items(items) + items, reference=ref.path if ref else None,
                            metrics=ref is not None, full=True, device=self.device)
        if not req.items:
            return None
        self._full_gen = self.service.submit(req)
        self._tick_badges()
        self._badge_timer.start()
        return self._full_gen

    def _tick_badges(self) -> None:
        for p in self.panes.values():
            if p.isVisible():
                p.update_badge()
        if self.mode == "wipe":
            self.wipe.update_info()
        if self.all_settled() and not self.camera.moving:
            self._badge_timer.stop()

    def _on_camera_changed(self) -> None:
        now = time.monotonic()
        self.wipe.pending_since = now
        for p in self.panes.values():
            p.pending_since = now
            p.refresh_overlay()
            p.update_label()
            p.update_badge()
            if p.compass.isVisible():
                p.compass.update()
        self.wipe.compose()
        if self.wipe.compass.isVisible():
            self.wipe.compass.update()
        if self.camera.moving and self.previews_enabled:
            self._request_preview()

    def _request_preview(self) -> None:
        """Low-resolution renders while moving, sized so each pane takes about PREVIEW_BUDGET_S."""
        scales = []
        for p in self.visible_panes():
            if p.spec.method == "bilinear" or p.unavailable:
                continue
            w, h = p.gl.fb_size()
            est = self.service.estimate_seconds(p.spec.method, w * h)
            if est is None:
                return
            scales.append(min(1.0, math.sqrt(PREVIEW_BUDGET_S / max(est, 1e-6))))
        if not scales or min(scales) < PREVIEW_MIN_SCALE:
            return
        items = self._items(scale=min(scales), skip_bilinear=True)
        if items:
            self.service.submit(RenderRequest(items, full=False, device=self.device))

    def _on_result(self, res: RenderResult) -> None:
        if res.key.startswith("wipe:"):
            self.wipe.set_result(res.key[5:], res)
        else:
            pane = self.panes.get(res.key)
            if pane is None or pane.spec.method != res.method:
                return
            pane.set_result(res)
        if res.error is None:
            self.renderInfo.emit(f"{_label(res.method)} {res.seconds * 1000:.0f} ms at {res.view.width}×{res.view.height}"
                                 + ("" if res.full else " (preview)"))
        self.resultsUpdated.emit()

    def all_settled(self) -> bool:
        """True when every visible pane shows a full render of the current view (or is unavailable)."""
        if self.mode == "wipe":
            return self.wipe.side_final("A") and self.wipe.side_final("B")
        for p in self.visible_panes():
            if p.unavailable:
                continue
            if p.result is None or not views_match(p.result.view, p.gl.view()) \
                    or (p.result.view.width, p.result.view.height) != p.gl.fb_size():
                return False
        return bool(self.visible_panes())


def _label(method: str) -> str:
    return registry.label(method)
