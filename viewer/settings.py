"""User settings in a small YAML file.

Location: ``$RESVR_VIEWER_SETTINGS`` when set (tests use it), else
``QStandardPaths.AppConfigLocation/settings.yaml`` (e.g. ``~/.config/resvr-viewer/settings.yaml``
on Linux), falling back to ``$XDG_CONFIG_HOME/resvr-viewer/settings.yaml``. A missing or broken
file gives the defaults (a broken one is kept aside as ``settings.yaml.bad``); saving is atomic.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from resvr.core.device import DEVICE_CHOICES

APP_NAME = "resvr-viewer"
MAX_RECENT = 10


@dataclass
class Settings:
    last_dir: str = ""
    device: str = "auto"                         # auto | cpu | cuda
    default_fov: list = field(default_factory=lambda: [120.0, 90.0])   # fov_h, fov_v (degrees)
    fov_mode: str = "square"                     # square (default) | fixed (the paper's 120x90)
    export_size: list = field(default_factory=lambda: [2048, 1536])
    recent: list = field(default_factory=list)
    # session memory
    window_geometry: str = ""                    # QMainWindow.saveGeometry(), base64
    window_state: str = ""                       # QMainWindow.saveState(), base64
    view_mode: str = "grid"                      # single | grid | wipe
    wipe_pair: list = field(default_factory=list)   # [left key, right key]
    last_file: str = ""
    last_view: dict = field(default_factory=dict)   # yaw, pitch, fov_h, fov_v
    export_dir: str = ""                         # "" : the user's Pictures folder (else home)
    projection: str = "rectilinear"              # rectilinear | stereographic | fisheye
    compass: bool = False
    auto_rotate: bool = False
    auto_rotate_idle_s: float = 10.0
    compare_output: str = "cache"                # cache | beside: where "Compare methods…" writes
    path: Path | None = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------ io
    @staticmethod
    def default_path() -> Path:
        env = os.environ.get("RESVR_VIEWER_SETTINGS")
        if env:
            return Path(env)
        try:
            from PySide6.QtCore import QCoreApplication, QStandardPaths

            if QCoreApplication.instance() is not None:
                base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppConfigLocation)
                if base:
                    return Path(base) / "settings.yaml"
        except ImportError:
            pass
        xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(xdg) / APP_NAME / "settings.yaml"

    @classmethod
    def load(cls, path=None) -> "Settings":
        path = Path(path) if path else cls.default_path()
        s = cls(path=path)
        if not path.is_file():
            return s
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(doc, dict):
                raise ValueError("not a mapping")
        except (OSError, ValueError, yaml.YAMLError):
            try:
                path.replace(path.with_name(path.name + ".bad"))
            except OSError:
                pass
            return s
        for f in fields(cls):
            if f.name != "path" and f.name in doc:
                setattr(s, f.name, doc[f.name])
        s._validate()
        return s

    def _validate(self) -> None:
        d = Settings()
        if self.device not in DEVICE_CHOICES:
            self.device = d.device
        if self.fov_mode not in ("fixed", "square"):
            self.fov_mode = d.fov_mode
        try:
            fh, fv = (float(x) for x in self.default_fov)
            if not (0 < fh < 180 and 0 < fv < 180):
                raise ValueError
            self.default_fov = [fh, fv]
        except (TypeError, ValueError):
            self.default_fov = d.default_fov
        try:
            w, h = (int(x) for x in self.export_size)
            if not (16 <= w <= 16384 and 16 <= h <= 16384):
                raise ValueError
            self.export_size = [w, h]
        except (TypeError, ValueError):
            self.export_size = d.export_size
        self.recent = [str(r) for r in (self.recent or []) if isinstance(r, (str, Path))][:MAX_RECENT]
        self.last_dir = str(self.last_dir or "")
        for name in ("window_geometry", "window_state", "last_file", "export_dir"):
            v = getattr(self, name)
            setattr(self, name, v if isinstance(v, str) else "")
        for name in ("window_geometry", "window_state"):   # base64 of Qt's state: ASCII or nothing
            if not getattr(self, name).isascii():
                setattr(self, name, "")
        if self.view_mode not in ("single", "grid", "wipe"):
            self.view_mode = d.view_mode
        if not (isinstance(self.wipe_pair, list) and len(self.wipe_pair) == 2
                and all(isinstance(k, str) for k in self.wipe_pair)):
            self.wipe_pair = []
        lv = self.last_view if isinstance(self.last_view, dict) else {}
        try:
            self.last_view = {k: float(lv[k]) for k in ("yaw", "pitch", "fov_h", "fov_v") if k in lv}
            if not all(math.isfinite(v) for v in self.last_view.values()):
                raise ValueError
        except (TypeError, ValueError):
            self.last_view = {}
        if self.projection not in ("rectilinear", "stereographic", "fisheye"):
            self.projection = d.projection
        self.compass = self.compass is True
        self.auto_rotate = self.auto_rotate is True
        try:
            self.auto_rotate_idle_s = min(600.0, max(0.0, float(self.auto_rotate_idle_s)))
        except (TypeError, ValueError):
            self.auto_rotate_idle_s = d.auto_rotate_idle_s
        if self.compare_output not in ("cache", "beside"):
            self.compare_output = d.compare_output

    def save(self) -> None:
        path = self.path or self.default_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {k: v for k, v in asdict(self).items() if k != "path"}
        fd, tmp = tempfile.mkstemp(prefix=".settings.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                yaml.safe_dump(doc, f, sort_keys=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def export_folder(self) -> Path:
        """Where exports start: the last export folder, else the user's Pictures folder, else home."""
        if self.export_dir and Path(self.export_dir).is_dir():
            return Path(self.export_dir)
        try:
            from PySide6.QtCore import QStandardPaths

            pics = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
            if pics and Path(pics).is_dir():
                return Path(pics)
        except ImportError:
            pass
        return Path.home()

    def add_recent(self, p) -> None:
        p = str(Path(p).resolve())
        self.recent = [p] + [r for r in self.recent if r != p]
        self.recent = self.recent[:MAX_RECENT]
