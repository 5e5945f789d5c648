"""Drawn over a pane's GL view, never part of its pixels (exports stay clean): the difference heat
map and its colour bar, and the compass dial with the horizon line."""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from .gl_widget import PanoramaGLWidget, rgb_to_qimage

HEAT_MAX = 0.2            # |error| mapped to the top of the colour scale

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
