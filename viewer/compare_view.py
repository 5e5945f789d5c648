"""Panes under one camera: single view, the synchronised comparison grid, and a wipe.

Every pane is a :class:`PanoramaGLWidget` that shows its own file live (bilinear in the shader)
and, once the render service has rendered the *current* view with the pane's method, that render
instead (the overlay). All panes share one :class:`Camera`, so they always show the same view.

Each pane's header names the method, the bpp of its file and, when a reference (HR original) is
open, PSNR / SSIM / LPIPS of the pane's render against the reference viewport of the same view,
recomputed for every settled view.

Honest progressive rendering (see :mod:`.panes`): a pane without its own render of the current
view says so in a badge and hides its metrics; large learned panes get a half-resolution pass
first. The pane and wipe widgets live in :mod:`.panes`, the overlays in :mod:`.overlays`.
"""
from __future__ import annotations

import math
import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from resvr.core import registry

from .document import PANE_ORDER, Document
from .gl_widget import views_match
from .navigation import Camera
from .panes import PaneWidget, WipeWidget
from .render_service import RenderItem, RenderRequest, RenderResult, RenderService

PREVIEW_BUDGET_S = 0.06   # per pane, while the camera moves
PREVIEW_MIN_SCALE = 0.15  # below this a preview is not worth it: the live bilinear view stays
HALF_RES_MIN_PX = 500_000  # learned panes this large get a half-resolution pass before the full one


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
        self._full_sig = None
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
        # the same request again with nothing submitted or cancelled since (the camera settling twice,
        # a resize back to the same size): it is in flight or done, and asking again would only
        # cancel it and serve it once more
        sig = (tuple(req.items), req.reference, req.metrics, req.device)
        if sig == self._full_sig and self._full_gen == self.service.latest_gen:
            return self._full_gen
        self._full_sig = sig
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
