""""Compare methods…": build the comparison bundle of a plain HR panorama in the background.

:class:`CompareJob` (a QThread) calls the public encode API (``resvr.core.encode.encode_bundle``,
what ``resvr encode --method all`` runs) into a hidden temporary folder next to the destination and
renames it into place only when every file is written, so the destination appears complete or not
at all. ``cancel()`` stops the encode at the next step (the progress callback raises) and the
temporary folder is removed: cancelling leaves nothing behind.

Destination (setting ``compare_output``): ``cache`` (default) — the user cache folder,
``bundles/<stem>-<hash of path, size, mtime>``; ``beside`` — ``<stem>.compare/`` next to the file.
An existing bundle there is reused.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import QThread, Signal

STEP_TEXT = {"reference": "Copying the HR reference", "bundle.yaml": "Writing bundle.yaml", "done": "Done"}


def step_text(step: str) -> str:
    from resvr.core import registry

    if step in STEP_TEXT:
        return STEP_TEXT[step]
    return f"Encoding {registry.label(step)}" if step in registry.BY_ID else step


class Cancelled(Exception):
    pass


def cache_root() -> Path:
    env = os.environ.get("RESVR_VIEWER_CACHE")
    if env:
        return Path(env)
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.CacheLocation)
    return Path(base or Path.home() / ".cache" / "resvr-viewer")


def bundle_dir_for(hr_path, where: str = "cache") -> Path:
    """Where the comparison bundle of ``hr_path`` goes (see the module docstring)."""
    p = Path(hr_path).resolve()
    stem = p.name.split(".")[0] or "panorama"
    if where == "beside":
        return p.parent / f"{stem}.compare"
    st = p.stat()
    key = hashlib.sha1(f"{p}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return cache_root() / "bundles" / f"{stem}-{key}"


class CompareJob(QThread):
    progressed = Signal(int, str)      # percent 0..100, what runs now
    notice = Signal(str)               # e.g. a method left out because its weights are missing
    succeeded = Signal(str)            # the bundle folder
    failed = Signal(str)               # one line
    cancelled = Signal()

    def __init__(self, hr_path, out_dir, bpp: float = 0.3, device: str = "cpu", parent=None):
        super().__init__(parent)
        self.hr_path = Path(hr_path)
        self.out_dir = Path(out_dir)
        self.bpp = bpp
        self.device = device
        self._cancel = False
        self.percent = 0

    def cancel(self) -> None:
        self._cancel = True

    @property
    def cancelling(self) -> bool:
        return self._cancel

    def _progress(self, done: int, total: int, what: str) -> None:
        if self._cancel:
            raise Cancelled()
        self.percent = int(round(100 * done / max(1, total)))
        self.progressed.emit(self.percent, step_text(what))

    def run(self) -> None:
        from resvr.core.bundle import is_bundle
        from resvr.core.encode import encode_bundle

        if is_bundle(self.out_dir):
            self.progressed.emit(100, "Done (already built)")
            self.succeeded.emit(str(self.out_dir))
            return
        tmp = None
        try:
            if self.out_dir.exists():
                raise FileExistsError(f"{self.out_dir}: exists and is not a comparison bundle; move it away first")
            self.out_dir.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.", suffix=".partial", dir=self.out_dir.parent))
            self.progressed.emit(0, "Loading the panorama")
            encode_bundle(self.hr_path, tmp, bpp=self.bpp, device=self.device, reference=True, progress=self._progress,
                          skip_unavailable=True, warn=self.notice.emit)
            if self._cancel:
                raise Cancelled()
            os.rename(tmp, self.out_dir)     # atomic on one file system; fails if out_dir appeared meanwhile
            tmp = None
            self.succeeded.emit(str(self.out_dir))
        except Cancelled:
            self.cancelled.emit()
        except Exception as e:  # noqa: BLE001 - reported in the UI, never a crash
            self.failed.emit(" ".join(str(e).split()) or type(e).__name__)
        finally:
            if tmp is not None and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
