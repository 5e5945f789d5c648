"""Comparison bundle: one panorama encoded by every method, side by side.

A bundle is a folder with ``<stem>.resvr.jpg``, ``<stem>.ht.jpg``, ``<stem>.jpeg.jpg``, optionally
the HR reference ``<stem>.png``, and ``bundle.yaml``::

    format: resvr-bundle/1
    stem: harbour
    hr_width: 2048
    hr_height: 1024
    scale: 4
    reference: harbour.png        # optional (null when absent)
    entries:
      resvr:          {file: harbour.resvr.jpg, bpp: 0.2987}
      hyperthumbnail: {file: harbour.ht.jpg,    bpp: 0.3021}
      jpeg:           {file: harbour.jpeg.jpg,  bpp: 0.3005}

Entry keys are the encode methods (``resvr``, ``hyperthumbnail``, ``jpeg``); file names are
relative to the folder. A bundle may list a subset of the methods, but every file it lists must
exist (otherwise :class:`~resvr.core.errors.BadInput`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import BadInput
from .imageio import write_bytes_atomic

__all__ = ["BUNDLE_YAML", "FORMAT", "SUFFIX", "Bundle", "BundleEntry", "bundle_file_name",
           "is_bundle", "load_bundle", "write_bundle_yaml"]

BUNDLE_YAML = "bundle.yaml"
FORMAT = "resvr-bundle/1"
#: encode method -> file suffix after the stem
SUFFIX = {"resvr": ".resvr.jpg", "hyperthumbnail": ".ht.jpg", "jpeg": ".jpeg.jpg"}


def bundle_file_name(stem: str, method: str) -> str:
    if method not in SUFFIX:
        raise ValueError(f"unknown bundle method {method!r}; choose one of {', '.join(SUFFIX)}")
    return f"{stem}{SUFFIX[method]}"


@dataclass
class BundleEntry:
    method: str
    file: Path  # absolute (folder / name)
    bpp: float | None = None


@dataclass
class Bundle:
    folder: Path
    stem: str
    hr_width: int
    hr_height: int
    scale: float
    entries: dict[str, BundleEntry] = field(default_factory=dict)
    reference: Path | None = None

    @property
    def hr_size(self) -> tuple[int, int]:
        return self.hr_width, self.hr_height

    @property
    def baseline_entry(self) -> BundleEntry:
        """The LR file plain bilinear/bicubic upsampling shows: the JPEG baseline, else the first
        of ResVR's and HyperThumbnail's files the bundle has (a bundle lists at least one)."""
        return next(self.entries[m] for m in ("jpeg", "resvr", "hyperthumbnail") if m in self.entries)

    def source_for(self, render_method: str) -> Path:
        """The file a render method reads: ``bilinear``/``bicubic`` :attr:`baseline_entry`,
        ``hyperthumbnail``/``resvr`` their own files, ``reference`` the HR image. BadInput when the
        bundle lacks it."""
        if render_method in ("bilinear", "bicubic"):
            return self.baseline_entry.file
        return self.path(render_method)

    def path(self, method: str) -> Path:
        if method == "reference":
            if self.reference is None:
                raise BadInput(f"{self.folder}: bundle has no reference image")
            return self.reference
        if method not in self.entries:
            raise BadInput(f"{self.folder}: bundle has no {method!r} entry")
        return self.entries[method].file


def is_bundle(path) -> bool:
    p = Path(path)
    return (p.is_dir() and (p / BUNDLE_YAML).is_file()) or (p.is_file() and p.name == BUNDLE_YAML)


def load_bundle(folder_or_yaml) -> Bundle:
    """Load and validate a bundle from its folder or its ``bundle.yaml``."""
    p = Path(folder_or_yaml)
    y = p / BUNDLE_YAML if p.is_dir() else p
    if not y.is_file():
        raise BadInput(f"{y}: no such bundle file")
    try:
        doc = yaml.safe_load(y.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise BadInput(f"{y}: not valid YAML ({' '.join(str(e).split())[:160]})") from None
    if not isinstance(doc, dict):
        raise BadInput(f"{y}: expected a mapping at the top level")
    folder = y.parent
    try:
        stem = str(doc["stem"])
        hr_w, hr_h = int(doc["hr_width"]), int(doc["hr_height"])
        scale = float(doc.get("scale", 4))
        raw = doc["entries"]
    except (KeyError, TypeError, ValueError) as e:
        raise BadInput(f"{y}: missing or invalid field {e}") from None
    if not isinstance(raw, dict) or not raw:
        raise BadInput(f"{y}: 'entries' must map methods to files")
    entries = {}
    for method, ent in raw.items():
        if method not in SUFFIX:
            raise BadInput(f"{y}: unknown method {method!r} in entries")
        if isinstance(ent, str):
            ent = {"file": ent}
        if not isinstance(ent, dict) or "file" not in ent:
            raise BadInput(f"{y}: entry {method!r} needs a 'file'")
        f = folder / str(ent["file"])
        if not f.is_file():
            raise BadInput(f"{y}: file {ent['file']} listed for {method!r} is missing")
        b = ent.get("bpp")
        entries[method] = BundleEntry(method, f, None if b is None else float(b))
    ref = doc.get("reference")
    reference = None
    if ref:
        reference = folder / str(ref)
        if not reference.is_file():
            raise BadInput(f"{y}: reference image {ref} is missing")
    return Bundle(folder, stem, hr_w, hr_h, scale, entries, reference)


def write_bundle_yaml(folder, stem: str, hr_size: tuple[int, int], scale: float, entries: dict,
                      reference: str | None = None, overwrite: bool = False) -> Path:
    """Write ``folder/bundle.yaml`` atomically.

    ``entries``: method -> file name (relative to ``folder``) or ``{"file": name, "bpp": x}``; when
    bpp is missing it is measured from the file. Listed files must already exist.
    """
    from .metrics import bpp as measure_bpp

    folder = Path(folder)
    hr_w, hr_h = int(hr_size[0]), int(hr_size[1])
    out = {}
    for method, ent in entries.items():
        if method not in SUFFIX:
            raise ValueError(f"unknown bundle method {method!r}")
        if isinstance(ent, (str, Path)):
            ent = {"file": str(ent)}
        name = str(ent["file"])
        f = folder / name
        if not f.is_file():
            raise BadInput(f"{f}: bundle entry for {method!r} does not exist")
        b = ent.get("bpp")
        b = measure_bpp(f, hr_w, hr_h) if b is None else float(b)
        out[method] = {"file": name, "bpp": round(b, 6)}
    if reference is not None and not (folder / reference).is_file():
        raise BadInput(f"{folder / reference}: bundle reference does not exist")
    doc = {"format": FORMAT, "stem": stem, "hr_width": hr_w, "hr_height": hr_h,
           "scale": int(scale) if float(scale).is_integer() else float(scale),
           "reference": str(reference) if reference is not None else None, "entries": out}
    text = yaml.safe_dump(doc, sort_keys=False)
    return write_bytes_atomic(folder / BUNDLE_YAML, text.encode("utf-8"), overwrite)
