"""Export what the viewer shows: the current pane, or every pane as one labelled composite.

* At screen resolution the pane's pixels are exported exactly as drawn (``grabFramebuffer``).
* At a chosen size (e.g. 2048x1536) each pane is re-rendered with its method for the same view
  direction and fields of view at that size (and re-measured against the reference).
* The view parameters, method, file, bpp and metrics go into PNG tEXt chunks (keys ``resvr:*``,
  plus ``resvr:json`` with everything as one JSON document).
* Files are written atomically (:func:`resvr.core.imageio.save_png`) and never replace an existing
  file unless ``overwrite=True`` (the UI asks first).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from resvr.core.geometry import View
from resvr.core.imageio import save_png, to_uint8

LABEL_BAR = 28


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("resvr-viewer")
    except Exception:  # noqa: BLE001
        return "dev"


def png_text(view: View, panes: list[dict]) -> dict:
    """tEXt chunks for an export; ``panes``: [{method, label, file, bpp, metrics}] in order."""
    text = {"Software": f"resvr-viewer {_version()}"}
    for k, v in view.as_dict().items():
        text[f"resvr:{k}"] = repr(float(v)) if isinstance(v, float) else str(v)
    for i, p in enumerate(panes):
        pre = "resvr:" if len(panes) == 1 else f"resvr:pane{i}:"
        text[pre + "method"] = str(p.get("method"))
        text[pre + "label"] = str(p.get("label"))
        text[pre + "file"] = str(p.get("file"))
        if p.get("bpp") is not None:
            text[pre + "bpp"] = f"{p['bpp']:.6f}"
        for m, v in (p.get("metrics") or {}).items():
            if v is not None and m in ("psnr", "ssim", "lpips"):
                text[pre + m] = repr(float(v))
    text["resvr:json"] = json.dumps({"view": view.as_dict(), "panes": [
        {k: (str(v) if isinstance(v, Path) else v) for k, v in p.items()} for p in panes]})
    return text


def save_export(path, image, view: View, panes: list[dict], overwrite: bool = False) -> Path:
    """Write ``image`` (h, w, 3) as PNG with the view/metrics text chunks; atomic, no silent overwrite."""
    return save_png(path, to_uint8(image), text=png_text(view, panes), overwrite=overwrite)


def pane_meta(pane, metrics: dict | None = None) -> dict:
    spec = pane.spec
    return {"method": spec.method, "label": spec.label, "file": str(spec.path), "bpp": spec.bpp,
            "metrics": dict(metrics if metrics is not None else pane.metrics)}


def render_at(spec, view: View, device: str = "auto", reference=None) -> tuple[np.ndarray, dict]:
    """Render ``spec``'s method at ``view`` synchronously -> (uint8 image, metrics vs reference)."""
    from resvr.core.methods import get_method

    from .render_service import compute_metrics

    m = get_method(spec.method, device=device)
    m.prepare(spec.path)
    img = m.render(view)
    metrics = {}
    if reference is not None and spec.method != "reference":
        r = get_method("reference", device=device)
        r.prepare(reference.path)
        metrics = compute_metrics(img, r.render(view))
    return to_uint8(img), metrics


def compose(images: list[np.ndarray], labels: list[str], cols: int = 2, bar: int = LABEL_BAR) -> np.ndarray:
    """Tile same-size images in a grid, each with a label bar on top (needs a Qt GUI application)."""
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QColor, QFont, QPainter

    from .gl_widget import qimage_to_rgb, rgb_to_qimage

    h, w = images[0].shape[:2]
    cols = max(1, min(cols, len(images)))
    rows = (len(images) + cols - 1) // cols
    canvas = np.zeros((rows * (h + bar), cols * w, 3), np.uint8)
    canvas[:] = 24
    qimg = rgb_to_qimage(canvas)
    p = QPainter(qimg)
    font = QFont()
    font.setPixelSize(max(10, int(bar * 0.55)))
    p.setFont(font)
    for i, (img, label) in enumerate(zip(images, labels)):
        r, c = divmod(i, cols)
        x, y = c * w, r * (h + bar)
        p.drawImage(x, y + bar, rgb_to_qimage(img if img.shape[:2] == (h, w) else _fit(img, w, h)))
        p.setPen(QColor(235, 235, 235))
        p.drawText(QRect(x + 6, y, w - 12, bar), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, label)
    p.end()
    return qimage_to_rgb(qimg)


def _fit(img, w, h):
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.BICUBIC))
