#!/usr/bin/env python3
"""Regenerate the bundled sample comparison bundle (core/assets/sample/) from the shipped weights.

Source: the NASA/JPL Spirit rover panorama of Mars (public domain), as packaged by Debian's
stellarium-data (landscapes/mars) and placed in a full 2048x1024 ERP frame (the sky is empty).
Run it whenever core/assets/weights/ changes:

    .venv/bin/python scripts/make_sample.py [--hr ../shared/data/panoramas/stellarium_mars_spirit.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from resvr.core.encode import encode_bundle

ROOT = Path(__file__).resolve().parents[1]

SOURCE = """# Sample panorama

`mars_spirit.*`: the Mars Exploration Rover Spirit panorama (NASA/JPL, public domain), from
Debian's `stellarium-data` 0.22.2 (`landscapes/mars`), placed in a full 2048x1024 equirectangular
frame; the sky above the captured horizon is empty (black) in the source.

- `mars_spirit.png`: the HR reference (2048x1024).
- `mars_spirit.resvr.jpg`, `mars_spirit.ht.jpg`, `mars_spirit.jpeg.jpg`: 512x256 LR JPEGs at
  matched bpp (ResVR, HyperThumbnail, bicubic + standard JPEG), see `bundle.yaml`.

Regenerate with `scripts/make_sample.py` after the weights change.

Note: this panorama is in the training split (it is one of the two real full-resolution panoramas
the models saw), so the metrics the viewer shows for it are not validation results; see
docs/results.md for those.
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hr", default=str(ROOT.parent / "shared" / "data" / "panoramas" / "stellarium_mars_spirit.png"))
    ap.add_argument("--out", default=str(ROOT / "core" / "assets" / "sample"))
    ap.add_argument("--bpp", type=float, default=0.3)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    src = out / "mars_spirit.png"
    if Path(a.hr).resolve() != src.resolve():
        src.write_bytes(Path(a.hr).read_bytes())
    res = encode_bundle(src, out, bpp=a.bpp, reference=False, overwrite=True)
    from resvr.core.bundle import write_bundle_yaml

    write_bundle_yaml(out, "mars_spirit", (2048, 1024), 4, {m: {"file": Path(r["path"]).name, "bpp": r["bpp"]}
                                                            for m, r in res.items()}, reference="mars_spirit.png",
                      overwrite=True)
    (out / "SOURCE.md").write_text(SOURCE)
    for m, r in res.items():
        print(f"{m}: {r['path']} {r['bpp']:.4f} bpp")


if __name__ == "__main__":
    main()
