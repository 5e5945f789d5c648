"""What the viewer has open: a single panorama file or a comparison bundle, as a list of panes.

Pure Python (no Qt): opening reads every pane's image fully *before* anything on screen changes,
so a corrupt file raises :class:`BadInput` and the previous document stays as it was.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from resvr.core import registry
from resvr.core.errors import BadInput
from resvr.core.imageio import load_image
from resvr.core.jpeg.xmp import PREFIX as XMP_PREFIX

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")
#: pane order of the comparison grid (issue 5): Bilinear | HyperThumbnail + Bicubic | ResVR | Reference
PANE_ORDER = registry.render_ids()


@dataclass
class PaneSpec:
    key: str                       # unique in the document; equals the method name here
    method: str                    # resvr.core.methods name
    path: Path                     # the file the method prepares (LR file, or HR for reference)
    bpp: float | None = None       # bits per HR pixel of that file, when known
    erp: np.ndarray | None = None  # the image shown live by the GL pane (uint8 H x W x 3)

    @property
    def label(self) -> str:
        return registry.label(self.method)

    @property
    def colour(self) -> str:
        """The pane's accent colour: the registry's ``MethodInfo.colour`` of its method."""
        info = registry.BY_ID.get(self.method)
        return info.colour if info else registry.MethodInfo.colour


@dataclass
class Document:
    source: Path
    title: str
    panes: list[PaneSpec]
    hr_size: tuple[int, int] | None = None
    initial_view: dict = field(default_factory=dict)   # yaw / pitch / fov_h from GPano
    heading: float | None = None                       # GPano PoseHeadingDegrees (compass at lon 0)
    xmp: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: "bundle", "learned" (a ResVR / HyperThumbnail file), "lr-jpeg" (the project's bicubic + JPEG
    #: baseline, or any file whose XMP says it is an LR image) or "panorama" (a plain image)
    kind: str = "panorama"
    in_training: bool = False                          # bundle metadata: the image was trained on
    source_note: str = ""                              # bundle metadata: origin / licence

    def pane(self, key: str) -> PaneSpec | None:
        return next((p for p in self.panes if p.key == key), None)

    @property
    def reference(self) -> PaneSpec | None:
        return self.pane("reference")

    def with_reference(self, path) -> "Document":
        """A copy with ``path`` (an HR original) as the reference pane; raises BadInput."""
        path = Path(path)
        img, notes = _load(path)
        panes = [p for p in self.panes if p.key != "reference"]
        hr = self.hr_size or (img.shape[1], img.shape[0])
        panes.append(PaneSpec("reference", "reference", path, None, img))
        for p in panes:
            if p.bpp is None and p.key != "reference":
                p.bpp = _bpp(p.path, hr)
        return Document(self.source, self.title, panes, hr, dict(self.initial_view), self.heading,
                        dict(self.xmp), self.notes + notes, self.kind, self.in_training, self.source_note)


def _load(path: Path) -> tuple[np.ndarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = load_image(path)
    return img, [str(w.message) for w in caught]


def _bpp(path: Path, hr_size) -> float | None:
    if not hr_size:
        return None
    return os.path.getsize(path) * 8.0 / (hr_size[0] * hr_size[1])


def read_xmp(path: Path) -> dict:
    """GPano / resvr XMP of a JPEG; empty dicts when absent or unreadable (never raises)."""
    try:
        from resvr.core.jpeg.markers import read_xmp as _read

        return _read(path)
    except Exception:  # noqa: BLE001 - metadata is optional
        return {"GPano": {}, XMP_PREFIX: {}}


def initial_view_from_xmp(xmp: dict) -> tuple[dict, float | None]:
    """GPano initial view -> ({yaw, pitch, fov_h}, pose heading).

    GPano headings are compass degrees; the image centre (lon 0) faces PoseHeadingDegrees (0 when
    absent), so yaw = InitialViewHeadingDegrees - PoseHeadingDegrees.
    """
    g = xmp.get("GPano", {}) if xmp else {}
    pose = g.get("PoseHeadingDegrees")
    view = {}
    try:
        if "InitialViewHeadingDegrees" in g:
            view["yaw"] = float(g["InitialViewHeadingDegrees"]) - float(pose or 0.0)
        if "InitialViewPitchDegrees" in g:
            view["pitch"] = float(g["InitialViewPitchDegrees"])
        if "InitialHorizontalFOVDegrees" in g:
            f = float(g["InitialHorizontalFOVDegrees"])
            if 0 < f < 180:
                view["fov_h"] = f
    except (TypeError, ValueError):
        view = {}
    return view, (float(pose) if pose is not None else None)


def open_document(path) -> Document:
    """Open a panorama file, a bundle folder or a ``bundle.yaml``. Raises BadInput."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{path}: no such file or folder")
    from resvr.core.bundle import is_bundle, load_bundle

    if is_bundle(path):
        return _open_bundle(load_bundle(path))
    if path.is_dir():
        raise BadInput(f"{path}: folder is not a comparison bundle (no bundle.yaml)")
    return _open_file(path)


def _open_file(path: Path) -> Document:
    img, notes = _load(path)
    xmp = read_xmp(path)
    rv = xmp.get(XMP_PREFIX, {})
    hr = None
    if rv.get("HRWidth") and rv.get("HRHeight"):
        hr = (int(rv["HRWidth"]), int(rv["HRHeight"]))
    bpp = _bpp(path, hr)
    panes = [PaneSpec("bilinear", "bilinear", path, bpp, img)]
    method = rv.get("Method")
    if method in registry.learned_ids():
        panes.append(PaneSpec(method, method, path, bpp, img))
    else:
        panes.append(PaneSpec("bicubic", "bicubic", path, bpp, img))
    view, heading = initial_view_from_xmp(xmp)
    kind = "learned" if method in registry.learned_ids() else ("lr-jpeg" if method or hr else "panorama")
    return Document(path, path.name, panes, hr, view, heading, xmp, notes, kind)


def bundle_extras(folder: Path) -> tuple[dict, dict]:
    """The optional ``source`` (origin, licence, in_training_split) and ``initial_view`` (yaw,
    pitch, fov_h) mappings of a bundle.yaml; empty when absent or malformed."""
    import yaml

    try:
        doc = yaml.safe_load((Path(folder) / "bundle.yaml").read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return {}, {}
    doc = doc if isinstance(doc, dict) else {}
    src = doc.get("source") if isinstance(doc.get("source"), dict) else {}
    iv = doc.get("initial_view") if isinstance(doc.get("initial_view"), dict) else {}
    view = {}
    for k, lo, hi in (("yaw", -360.0, 360.0), ("pitch", -90.0, 90.0), ("fov_h", 1.0, 179.0)):
        try:
            v = float(iv[k])
        except (KeyError, TypeError, ValueError):
            continue
        if lo <= v <= hi:
            view[k] = v
    return src, view


def _open_bundle(b) -> Document:
    notes: list[str] = []
    entries = b.entries
    hr = (b.hr_width, b.hr_height)
    specs = []
    base = b.baseline_entry
    specs.append(("bilinear", "bilinear", base))
    specs += [(m, m, entries[m]) for m in registry.render_ids() if m in registry.learned_ids() and m in entries]
    cache: dict[Path, np.ndarray] = {}
    panes = []
    for key, method, ent in specs:
        if ent.file not in cache:
            img, n = _load(ent.file)
            cache[ent.file] = img
            notes += n
        bpp = ent.bpp if ent.bpp is not None else _bpp(ent.file, hr)
        panes.append(PaneSpec(key, method, ent.file, bpp, cache[ent.file]))
    if b.reference is not None:
        img, n = _load(b.reference)
        notes += n
        panes.append(PaneSpec("reference", "reference", b.reference, None, img))
    xmp = read_xmp(base.file)
    view, heading = initial_view_from_xmp(xmp)
    src, bview = bundle_extras(b.folder)
    view = view or bview
    note = " · ".join(str(src[k]) for k in ("origin", "licence") if src.get(k))
    return Document(b.folder, b.stem, panes, hr, view, heading, xmp, notes, "bundle",
                    src.get("in_training_split") is True, note)
