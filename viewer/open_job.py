"""Opening a panorama or a bundle off the UI thread.

:func:`resvr.viewer.document.open_document` parses ``bundle.yaml`` and decodes every image of a
document. :class:`OpenJob` runs it on a worker thread so that the window keeps painting and
answering input while a large file opens; the result comes back to the UI thread as a signal.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QThread, Signal

from resvr.core.errors import BadInput

from . import document


class OpenJob(QThread):
    """Open one path on a worker thread; emits exactly one of ``opened(Document)`` or
    ``failed(str)`` (a one-line message) before ``finished``."""

    opened = Signal(object)
    failed = Signal(str)

    def __init__(self, path, parent=None):
        super().__init__(parent)
        self.path = Path(path)
        self.setObjectName(f"open:{self.path.name}")

    def run(self) -> None:
        try:
            doc = document.open_document(self.path)
        except BadInput as e:
            self.failed.emit(str(e))
        except MemoryError:
            self.failed.emit(f"{self.path}: not enough memory to open it")
        except Exception as e:  # noqa: BLE001 - a bad file never takes the window down
            self.failed.emit(f"{self.path}: {type(e).__name__}: {e}")
        else:
            self.opened.emit(doc)
