""""Compare methods…": build the comparison bundle of a plain HR panorama in the background.

:class:`CompareJob` (a QThread) calls the public encode API (``resvr.core.encode.encode_bundle``,
what ``resvr encode --method all`` runs) into a hidden temporary folder next to the destination and
renames it into place only when every file is written, so the destination appears complete or not
at all. ``cancel()`` stops the encode at the next step (the progress callback raises) and the
temporary folder is removed: cancelling leaves nothing behind. The device setting ("auto", "cpu",
"cuda") is resolved by ``core.device.pick_device`` when the job runs, as ``resvr encode`` does.

A bundle is reused only when it was made from the same files: :func:`bundle_key` identifies the HR
file and every weights file the encode reads (path, size, mtime; a missing weights file counts as
missing), so new weights, or weights that appear later, make a new bundle.

Destination (setting ``compare_output``): ``cache`` (default) — the user cache folder,
``bundles/<stem>-<bundle key>``; ``beside`` — ``<stem>.compare/`` next to the file, which records
its key in the file ``STAMP``: a bundle there is reused when its key matches, rebuilt and replaced
when its key differs, and left alone (an error) when it has no key (not made by Compare methods…).
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


def weights_files(weights: dict | None = None) -> dict[str, Path]:
    """The weights file each learned encode method of the registry encodes with: ``weights[m]``
    when given, else its shipped default (what ``encode_bundle`` loads)."""
    from resvr.core import registry
    from resvr.core.models.weights import default_weights_path

    weights = weights or {}
    return {m: Path(weights.get(m) or default_weights_path(m))
            for m in registry.encode_ids() if registry.get(m).learned}


def file_identity(path) -> str:
    """A file's resolved path, size and mtime (ns); "missing" in place of the last two when it is absent."""
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError:
        return f"{p}\0missing"
    return f"{p}\0{st.st_size}\0{st.st_mtime_ns}"


def bundle_key(hr_path, weights: dict | None = None) -> str:
    """12 hex digits naming what the comparison bundle of ``hr_path`` is made from: the HR file and
    every weights file (:func:`weights_files`) the encode reads."""
    parts = [file_identity(hr_path)] + [f"{m}\0{file_identity(f)}" for m, f in sorted(weights_files(weights).items())]
    return hashlib.sha1("\0\0".join(parts).encode()).hexdigest()[:12]


def bundle_dir_for(hr_path, where: str = "cache", weights: dict | None = None) -> Path:
    """Where the comparison bundle of ``hr_path`` goes (see the module docstring)."""
    p = Path(hr_path).resolve()
    stem = p.name.split(".")[0] or "panorama"
    if where == "beside":
        return p.parent / f"{stem}.compare"
    return cache_root() / "bundles" / f"{stem}-{bundle_key(p, weights)}"


#: the file in a "beside" bundle that holds the :func:`bundle_key` it was made for
STAMP = ".compare-key"


class CompareJob(QThread):
    """Build (or reuse) the comparison bundle of ``hr_path`` in ``bundle_dir_for(hr_path, where,
    weights)``; ``weights``: method -> weights file, the shipped weights for the others."""

    progressed = Signal(int, str)      # percent 0..100, what runs now
    notice = Signal(str)               # e.g. a method left out because its weights are missing
    succeeded = Signal(str)            # the bundle folder
    failed = Signal(str)               # one line
    cancelled = Signal()

    def __init__(self, hr_path, where: str = "cache", bpp: float = 0.3, device: str | None = None,
                 weights: dict | None = None, parent=None):
        super().__init__(parent)
        self.hr_path = Path(hr_path)
        self.where = where
        self.weights = dict(weights or {})
        self.key = bundle_key(self.hr_path, self.weights)
        self.out_dir = bundle_dir_for(self.hr_path, where, self.weights)
        self.bpp = bpp
        self.device = device              # a setting; resolved by the core resolver in run()
        self.resolved_device = None       # the torch.device the encode ran on
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

    def _stamp(self) -> str | None:
        """The key a "beside" bundle records (None without one); a cache bundle's name holds its key."""
        if self.where != "beside":
            return self.key
        try:
            return (self.out_dir / STAMP).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None

    def run(self) -> None:
        from resvr.core.bundle import is_bundle
        from resvr.core.device import pick_device
        from resvr.core.encode import encode_bundle

        stamp = self._stamp() if is_bundle(self.out_dir) else None
        if stamp == self.key:
            self.progressed.emit(100, "Done (already built)")
            self.succeeded.emit(str(self.out_dir))
            return
        tmp = None
        try:
            if self.out_dir.exists() and stamp is None:
                raise FileExistsError(f"{self.out_dir}: exists and is not a comparison bundle made by Compare "
                                      "methods…; move it away first")
            self.resolved_device = pick_device(self.device)
            self.out_dir.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.", suffix=".partial", dir=self.out_dir.parent))
            self.progressed.emit(0, "Loading the panorama")
            encode_bundle(self.hr_path, tmp, bpp=self.bpp, device=self.resolved_device, weights=self.weights,
                          reference=True, progress=self._progress, skip_unavailable=True, warn=self.notice.emit)
            if self.where == "beside":
                (tmp / STAMP).write_text(self.key + "\n", encoding="ascii")
            if self._cancel:
                raise Cancelled()
            self._put_in_place(tmp)
            tmp = None
            self.succeeded.emit(str(self.out_dir))
        except Cancelled:
            self.cancelled.emit()
        except Exception as e:  # noqa: BLE001 - reported in the UI, never a crash
            self.failed.emit(" ".join(str(e).split()) or type(e).__name__)
        finally:
            if tmp is not None and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _put_in_place(self, tmp: Path) -> None:
        """Rename the finished ``tmp`` to ``out_dir`` (atomic on one file system; fails if out_dir
        appeared meanwhile); an outdated bundle there (another key) is replaced, removed only after."""
        old = None
        if self.out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.", suffix=".old", dir=self.out_dir.parent))
            os.rename(self.out_dir, old / self.out_dir.name)
            self.notice.emit(f"Replacing {self.out_dir}: it was made from other files (weights or panorama)")
        try:
            os.rename(tmp, self.out_dir)
        except OSError:
            if old is not None:              # put the old bundle back
                os.rename(old / self.out_dir.name, self.out_dir)
                old.rmdir()
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
