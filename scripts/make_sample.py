#!/usr/bin/env python3
"""Regenerate the bundled sample comparison bundle (core/assets/sample/) with the project's own
``resvr encode --method all``.

Source: the Apollo 17 landing-site panorama (NASA, public domain) as packaged by Debian's
``stellarium-data`` 0.22.2-1 (``usr/share/stellarium/landscapes/moon/apollo17.png``, a 2048x1024
grey + alpha equirectangular image; Stellarium "spherical" landscape). The alpha is composited
over black (the lunar sky is black; the transparent part is the sky). Why this image: see SOURCE.

    apt-get download stellarium-data        # any folder; ~250 MB
    dpkg-deb --fsys-tarfile stellarium-data_*.deb | tar -x ./usr/share/stellarium/landscapes/moon
    .venv/bin/python scripts/make_sample.py --moon ./usr/share/stellarium/landscapes/moon/apollo17.png

Run it again whenever core/assets/weights/ changes.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
STEM = "apollo17_moon"
BPP = 0.1   # 0.3 is not reachable for the JPEG baseline here (quality 100 gives 0.137 bpp)
#: the view the sample opens on: the rover tracks, boulders and the far massifs (the lunar module
#: shadow is at lon -35)
INITIAL_VIEW = {"yaw": 40.0, "pitch": -12.0}

SOURCE = f"""# Sample panorama

`{STEM}.*`: the Apollo 17 landing-site panorama (Taurus-Littrow valley, December 1972; NASA,
public domain: a work of the US federal government) as distributed in Debian's `stellarium-data`
0.22.2-1, file `usr/share/stellarium/landscapes/moon/apollo17.png` (Stellarium's "Moon" landscape,
author "NASA"; the package's debian/copyright lists its files under GPL-2+). The file is a
2048x1024 grey + alpha equirectangular (full-sphere) image; the alpha is composited over black.

- `{STEM}.png`: the HR reference (2048x1024, grey stored as RGB).
- `{STEM}.resvr.jpg`, `{STEM}.ht.jpg`, `{STEM}.dinn.jpg`, `{STEM}.jpeg.jpg`: 512x256 LR JPEGs at matched bpp
  ({BPP} bpp), built by `resvr encode {STEM}.png -o OUT --method all --bpp {BPP}`; see `bundle.yaml`.

Why this panorama (issue 14): the sample must be a real full-sphere panorama of at least
2048x1024 that is not in the training split (core/train/configs/split.yaml). The only real
2048x1024 panoramas in ../shared/data are training images (stellarium_mars_spirit,
stellarium_grossmugl) or excluded (xplanet_earth, a map). Held-out evaluation sets may not be used.
The other landscapes of `stellarium-data` are either tiled 512-1024 px side textures (garching,
guereins, hurricane, ocean), tiny planet maps (256 px) or fisheye (trees, 512 px); Apollo 17 is
the one real full-sphere equirectangular photograph there, and it is not in ../shared/data, so
no model saw it in training (`source.in_training_split: false` in bundle.yaml).

Its limits, said plainly: it is greyscale (the lunar surface), so colour fringes cannot show; the
top 45 % is the real black lunar sky and the bottom third below the captured rows is a flat grey
fill in the source, so only about 35 % of the sphere carries detail. It opens looking at the
ground and the massifs (yaw {INITIAL_VIEW['yaw']:g}, pitch {INITIAL_VIEW['pitch']:g}), where the detail is.
0.3 bpp (the project's usual rate) is not reachable for the JPEG baseline on this image (quality
100 gives 0.137 bpp), so the bundle is matched at {BPP} bpp.

Regenerate with `scripts/make_sample.py` after the weights change.
"""


def main():
    ap = argparse.ArgumentParser()
    src_arg = ap.add_mutually_exclusive_group(required=True)
    src_arg.add_argument("--moon", help="stellarium-data's landscapes/moon/apollo17.png")
    src_arg.add_argument("--hr", help="the sample's own HR reference (apollo17_moon.png, already composited): "
                                      "re-encode after new weights without the Debian package")
    ap.add_argument("--out", default=str(ROOT / "core" / "assets" / "sample"))
    a = ap.parse_args()
    if a.hr:
        src = np.asarray(Image.open(a.hr))
        if src.ndim != 3 or src.shape[:2] != (1024, 2048) or not (src[..., :1] == src[..., :3]).all():
            sys.exit(f"{a.hr}: expected the 2048x1024 grey-as-RGB {STEM}.png")
        grey = src[..., 0].copy()
    else:
        src = np.asarray(Image.open(a.moon))
        if src.ndim != 3 or src.shape[2] != 2 or src.shape[:2] != (1024, 2048):
            sys.exit(f"{a.moon}: expected the 2048x1024 grey + alpha apollo17.png")
        grey = np.round(src[..., 0].astype(np.float64) * src[..., 1] / 255.0).astype(np.uint8)
    out = Path(a.out)
    with tempfile.TemporaryDirectory() as tmp:
        hr = Path(tmp) / f"{STEM}.png"
        Image.fromarray(np.stack([grey] * 3, -1)).save(hr, optimize=True)
        built = Path(tmp) / "bundle"
        subprocess.run([str(ROOT / ".venv" / "bin" / "resvr"), "encode", str(hr), "-o", str(built),
                        "--method", "all", "--bpp", str(BPP)], check=True)
        doc = yaml.safe_load((built / "bundle.yaml").read_text())
        doc["initial_view"] = INITIAL_VIEW
        doc["source"] = {"origin": "Apollo 17 panorama, NASA (public domain), via Debian stellarium-data 0.22.2-1",
                         "licence": "public domain (NASA); package files GPL-2+", "in_training_split": False}
        (built / "bundle.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        (built / "SOURCE.md").write_text(SOURCE)
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(built, out)
    print((out / "bundle.yaml").read_text())


if __name__ == "__main__":
    main()
