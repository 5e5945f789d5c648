"""What ``resvr eval`` compares: the codecs (ways to make an LR file) and the method rows (a codec
and how its views are rendered), both derived from ``core.registry``, plus ablation rows."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import registry
from ..errors import BadInput

IMAGE_EXTS = (".png", ".jpg", ".jpeg")


@dataclass
class Codec:
    """One way to make an LR file: a registry encode method (by its ``tag``: 'jpeg', 'ht', 'dinn',
    'resvr') or ``ABLATION_PREFIX`` + a slug (an ablation's weights of the primary method)."""

    tag: str
    kind: str                  # the registry id: jpeg | hyperthumbnail | dinn360 | resvr
    weights: Path | None = None
    sha1: str | None = None
    info: dict = field(default_factory=dict)
    _encoder: object = None

    def encoder(self, device):
        if self._encoder is None:
            from ..encode import make_encoder

            self._encoder = make_encoder(self.kind, self.weights, device)
        return self._encoder


@dataclass
class Row:
    key: str
    label: str
    codec: str                 # Codec.tag
    mode: str                  # how views are rendered: a render method id, or a sampling mode


def base_rows() -> tuple[Row, ...]:
    """The registry's evaluation rows, weakest first (the registry's order)."""
    return tuple(Row(key, label, m.tag, mode) for m in registry.METHODS for key, label, mode in m.eval_rows)


BASE_ROWS = base_rows()
ROW_KEYS = tuple(r.key for r in BASE_ROWS)
#: rows drawn in the rate-distortion plot (plus every ablation): the last row of each codec
RD_ROWS = tuple(m.eval_rows[-1][0] for m in registry.METHODS if m.eval_rows)
#: the row of the primary method (the project's own), of its rival (the paper's comparison) and of
#: the classic codec (bicubic down + JPEG): the rows the report's margins and bars compare
PRIMARY_ROW = registry.get(registry.PRIMARY).eval_rows[-1][0]
RIVAL_ROW = registry.get(registry.RIVAL).eval_rows[-1][0]
CLASSIC_ROW = next(m.eval_rows[-1][0] for m in registry.METHODS if m.eval_rows and not m.learned)
#: the codec tag (and row key) of an ablation row starts with this: "resvr-<slug>"
ABLATION_PREFIX = registry.get(registry.PRIMARY).tag + "-"


def slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return s or "ablation"


def parse_ablation(text: str) -> tuple[str, str]:
    """'NAME=PATH' -> (NAME, PATH)."""
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise ValueError(f"--ablation expects NAME=PATH, got {text!r}")
    return name.strip(), path.strip()


def file_sha1(path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_path(kind: str, given) -> Path:
    from ..models.weights import default_weights_path

    return Path(given) if given else default_weights_path(kind)


def list_panoramas(folder) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInput(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise BadInput(f"{folder}: no PNG or JPEG panoramas in it")
    return files
