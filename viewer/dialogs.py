"""About box, keyboard-shortcut help and the export options dialog."""
from __future__ import annotations

import platform

from PySide6.QtWidgets import (QButtonGroup, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout,
                               QLabel, QRadioButton, QSpinBox, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QHeaderView)

SHORTCUTS = [
    ("Drag (left button)", "Look around; the scene follows the cursor, with inertia on release"),
    ("Wheel / pinch", "Zoom in (wheel away) / out, within 10°–150° (wider in little planet / fisheye)"),
    ("← → or A D", "Turn left / right (yaw −/+), 10 % of the field of view"),
    ("↑ ↓ or W S", "Look up / down (pitch +/−)"),
    ("Shift + arrows", "Fine steps (2.5 %)"),
    ("+ / PgUp", "Zoom in"),
    ("− / PgDn", "Zoom out"),
    ("R", "Reset to the initial view (GPano initial view when present)"),
    ("F / F11 / double-click", "Toggle fullscreen"),
    ("Esc", "Leave fullscreen"),
    ("Ctrl+O", "Open a panorama file"),
    ("Ctrl+Shift+O", "Open a comparison bundle folder"),
    ("Ctrl+E", "Export the current pane"),
    ("Ctrl+Shift+E", "Export all panes as a labelled composite"),
    ("Ctrl+1 / Ctrl+2 / Ctrl+3", "Single view / comparison grid / wipe"),
    ("H", "Toggle the difference heat map (with its colour bar)"),
    ("Ctrl+4 / Ctrl+5 / Ctrl+6", "Rectilinear / little planet (stereographic) / fisheye projection"),
    ("C", "Toggle the compass and horizon overlay"),
    ("Ctrl+R", "Toggle auto-rotate (starts after some idle seconds; any input stops it)"),
    ("Ctrl+M", "Compare methods… (encode a plain panorama with every method)"),
    ("F1", "This list"),
    ("Ctrl+Q", "Quit"),
]


def shortcuts_dialog(parent=None) -> QDialog:
    d = QDialog(parent)
    d.setWindowTitle("Keyboard shortcuts")
    t = QTableWidget(len(SHORTCUTS), 2, d)
    t.setHorizontalHeaderLabels(["Keys", "Action"])
    t.verticalHeader().hide()
    for i, (k, a) in enumerate(SHORTCUTS):
        t.setItem(i, 0, QTableWidgetItem(k))
        t.setItem(i, 1, QTableWidgetItem(a))
    t.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
    t.resizeColumnToContents(0)
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=d)
    bb.rejected.connect(d.reject)
    lay = QVBoxLayout(d)
    lay.addWidget(t)
    lay.addWidget(bb)
    d.resize(620, 520)
    return d


def versions(gl_info: dict | None = None, device: str | None = None) -> list[tuple[str, str]]:
    from importlib.metadata import PackageNotFoundError, version

    import PySide6
    from PySide6.QtCore import qVersion

    def v(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    rows = [("resvr-viewer", v("resvr-viewer")), ("Python", platform.python_version()),
            ("Qt", qVersion()), ("PySide6", PySide6.__version__), ("PyOpenGL", v("PyOpenGL")),
            ("torch", v("torch")), ("numpy", v("numpy"))]
    try:
        import torch

        from .devices import device_text, resolve

        cuda = torch.cuda.get_device_name(0) if resolve("cuda") else "no CUDA device"
        rows.append(("Render device", f"{device_text(device or 'auto')} — {cuda}"))
    except Exception:  # noqa: BLE001
        pass
    if gl_info:
        rows.append(("OpenGL", f"{gl_info.get('renderer', '?')} — {gl_info.get('version', '?')}"))
        rows.append(("Max texture size", str(gl_info.get("max_texture_size", "?"))))
    rows.append(("OS", platform.platform()))
    return rows


def about_text(gl_info=None, device=None) -> str:
    rows = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in versions(gl_info, device))
    return ("<h3>ResVR viewer</h3><p>A 360° panorama viewer that renders viewports directly from "
            "learned-rescaled LR JPEGs (ResVR, ACM MM 2024), side by side with bilinear, "
            "HyperThumbnail + bicubic and the HR reference.</p>"
            f"<table cellspacing='4'>{rows}</table>")


class ExportDialog(QDialog):
    """Pick the export resolution: the pane's screen resolution or a chosen size."""

    def __init__(self, screen_size: tuple[int, int], default_size, composite: bool, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Export composite" if composite else "Export pane")
        self.screen = QRadioButton(f"Screen resolution ({screen_size[0]}×{screen_size[1]} per pane)")
        self.chosen = QRadioButton("Chosen size per pane:")
        g = QButtonGroup(self)
        g.addButton(self.screen)
        g.addButton(self.chosen)
        self.screen.setChecked(True)
        self.w = QSpinBox()
        self.h = QSpinBox()
        for sb, v in ((self.w, default_size[0]), (self.h, default_size[1])):
            sb.setRange(16, 16384)
            sb.setValue(int(v))
        row = QHBoxLayout()
        row.addWidget(self.chosen)
        row.addWidget(self.w)
        row.addWidget(QLabel("×"))
        row.addWidget(self.h)
        form = QFormLayout()
        form.addRow(self.screen)
        form.addRow(row)
        note = QLabel("At a chosen size every pane is re-rendered with its method for the same view;\n"
                      "view parameters and metrics are stored in the PNG's text chunks.")
        note.setWordWrap(True)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, parent=self)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(note)
        lay.addWidget(bb)

    def size_choice(self):
        return None if self.screen.isChecked() else (self.w.value(), self.h.value())
