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

``bundle.yaml`` comes from anyone, so :func:`load_bundle` trusts none of it:

* at most ``MAX_YAML_BYTES`` (1 MiB), read before parsing; parsed with the C safe loader
  (``yaml.CSafeLoader`` where PyYAML has it) and no aliases at all (an alias bomb is refused by the
  event scan before anything is built), at most ``MAX_DEPTH`` levels of nesting;
* every value a plain scalar of its type: ``stem`` and file names strings, ``hr_width`` and
  ``hr_height`` whole numbers in 1..1,048,576 (their product within the HR pixel limit), ``scale``
  and ``bpp`` finite positive numbers;
* every file name relative, one plain name (no folder part), and resolving (symbolic links
  followed) to a regular file inside the bundle folder.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import registry
from .errors import BadInput
from .imageio import MAX_PIXELS, write_bytes_atomic

__all__ = ["BUNDLE_YAML", "FORMAT", "SUFFIX", "Bundle", "BundleEntry", "bundle_file_name",
           "is_bundle", "load_bundle", "write_bundle_yaml"]

BUNDLE_YAML = "bundle.yaml"
FORMAT = "resvr-bundle/1"
#: encode method -> file suffix after the stem (``core.registry``)
SUFFIX = {m: registry.get(m).suffix for m in registry.encode_ids()}
#: Largest bundle.yaml read (bytes); ours are under 1 KB.
MAX_YAML_BYTES = 1 << 20
#: Deepest nesting of collections accepted in bundle.yaml (ours: 3).
MAX_DEPTH = 8
_MAX_SIDE = 1 << 20
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
        return next(self.entries[m] for m in registry.baseline_order() if m in self.entries)

    def source_for(self, render_method: str) -> Path:
        """The file a render method reads: ``bilinear``/``bicubic`` :attr:`baseline_entry`,
        ``hyperthumbnail``/``resvr`` their own files, ``reference`` the HR image. BadInput when the
        bundle lacks it (``registry.MethodInfo.reads``)."""
        reads = registry.get(render_method).reads
        if reads == "baseline":
            return self.baseline_entry.file
        return self.path(reads)

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


def _parse_yaml(y: Path):
    """The document of a small, alias-free, shallow YAML file (BadInput otherwise)."""
    try:
        size = y.stat().st_size
        if size > MAX_YAML_BYTES:
            raise BadInput(f"{y}: {size} bytes is above the limit of {MAX_YAML_BYTES} bytes for bundle.yaml")
        with open(y, "rb") as f:
            data = f.read(MAX_YAML_BYTES + 1)
        if len(data) > MAX_YAML_BYTES:
            raise BadInput(f"{y}: above the limit of {MAX_YAML_BYTES} bytes for bundle.yaml")
        text = data.decode("utf-8")
        depth = 0
        for ev in yaml.parse(text, Loader=_SafeLoader):  # events only: nothing is built yet
            if isinstance(ev, yaml.AliasEvent) or getattr(ev, "anchor", None):
                raise BadInput(f"{y}: YAML anchors and aliases are not allowed in bundle.yaml")
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise BadInput(f"{y}: nested deeper than {MAX_DEPTH} levels")
            elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
        return yaml.load(text, Loader=_SafeLoader)
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as e:
        raise BadInput(f"{y}: not valid YAML ({' '.join(str(e).split())[:160]})") from None
    except OSError as e:
        raise BadInput(f"{y}: cannot read ({e.strerror or type(e).__name__})") from None


def _string(y: Path, what: str, v) -> str:
    if not isinstance(v, str) or not v.strip():
        raise BadInput(f"{y}: {what} must be a non-empty string, got {type(v).__name__}")
    if len(v) > 255 or any(ord(c) < 32 for c in v):
        raise BadInput(f"{y}: {what} must be a short one-line name")
    return v


def _whole(y: Path, what: str, v, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise BadInput(f"{y}: {what} must be a whole number in {lo}..{hi}, got {v!r}"[:300])
    return v


def _positive(y: Path, what: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0 or v > 1e6:
        raise BadInput(f"{y}: {what} must be a finite positive number, got {v!r}"[:300])
    return float(v)


def _inside(y: Path, what: str, name) -> Path:
    """``folder / name`` for a plain file name that resolves to a regular file inside the folder."""
    name = _string(y, what, name)
    folder = y.parent
    if Path(name).is_absolute() or Path(name).name != name or name in (".", ".."):
        raise BadInput(f"{y}: {what} {name!r} must be a file name inside the bundle folder")
    f = folder / name
    try:
        inside = f.resolve(strict=True).parent == folder.resolve(strict=True)
    except (OSError, RuntimeError):
        raise BadInput(f"{y}: {what} {name} is missing") from None
    if not inside:
        raise BadInput(f"{y}: {what} {name!r} points outside the bundle folder")
    if not f.is_file():
        raise BadInput(f"{y}: {what} {name} is missing or not a file")
    return f


def load_bundle(folder_or_yaml) -> Bundle:
    """Load and validate a bundle from its folder or its ``bundle.yaml`` (see the module docstring
    for what is checked)."""
    p = Path(folder_or_yaml)
    y = p / BUNDLE_YAML if p.is_dir() else p
    if not y.is_file():
        raise BadInput(f"{y}: no such bundle file")
    doc = _parse_yaml(y)
    if not isinstance(doc, dict):
        raise BadInput(f"{y}: expected a mapping at the top level")
    for key in ("stem", "hr_width", "hr_height", "entries"):
        if key not in doc:
            raise BadInput(f"{y}: missing or invalid field {key!r}")
    stem = _string(y, "stem", doc["stem"])
    hr_w = _whole(y, "hr_width", doc["hr_width"], 1, _MAX_SIDE)
    hr_h = _whole(y, "hr_height", doc["hr_height"], 1, _MAX_SIDE)
    if hr_w * hr_h > MAX_PIXELS:
        raise BadInput(f"{y}: HR size {hr_w}x{hr_h} is above the limit of {MAX_PIXELS} pixels")
    scale = _positive(y, "scale", doc.get("scale", 4))
    raw = doc["entries"]
    if not isinstance(raw, dict) or not raw:
        raise BadInput(f"{y}: 'entries' must map methods to files")
    entries = {}
    for method, ent in raw.items():
        if method not in SUFFIX:
            raise BadInput(f"{y}: unknown method {str(method)[:40]!r} in entries")
        if isinstance(ent, str):
            ent = {"file": ent}
        if not isinstance(ent, dict) or "file" not in ent:
            raise BadInput(f"{y}: entry {method!r} needs a 'file'")
        f = _inside(y, f"file listed for {method!r}", ent["file"])
        b = ent.get("bpp")
        entries[method] = BundleEntry(method, f, None if b is None else _positive(y, f"bpp of {method!r}", b))
    ref = doc.get("reference")
    reference = None if ref is None or ref == "" else _inside(y, "reference image", ref)
    return Bundle(y.parent, stem, hr_w, hr_h, scale, entries, reference)


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
