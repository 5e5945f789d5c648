#!/usr/bin/env python
"""Build the validation folder for ``resvr eval`` from ../shared/data (core/train/configs/split.yaml).

* ``synth_val_NN.png``: synthetic cube-map ERPs (2:1, default 2048x1024) made *only* from the
  split's ``val_photos`` (never used for training), with fixed seeds (seed + NN), so the folder is
  reproducible: core/train/data.py ``synth_cubemap_erp``.
* copies of the split's ``val_panoramas`` that are at least ``--min-width`` pixels wide and 2:1
  (with the default 1024: the four blender_*.png captures at 1024x512).
* ``MANIFEST.yaml``: what each file is and how it was made.

    python scripts/make_val_set.py [--data ../shared/data] [-o out/val] [--count 4] [--height 1024]
                                   [--seed 0] [--min-width 1024] [--overwrite]
"""
from __future__ import annotations

import argparse
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def build(data: Path, out: Path, count: int = 4, height: int = 1024, seed: int = 0, min_width: int = 1024,
          photo_max_side: int = 2048, overwrite: bool = False, log=print) -> list[Path]:
    from resvr.core.train.data import list_images, load_rgb, load_split, synth_cubemap_erp

    split = load_split()
    photos_dir, pano_dir = data / "photos", data / "panoramas"
    if not photos_dir.is_dir() or not pano_dir.is_dir():
        raise SystemExit(f"make_val_set: {data} needs photos/ and panoramas/ folders")
    val_photos = list_images(photos_dir, include=split["val_photos"])
    missing = sorted(set(split["val_photos"]) - {p.name for p in val_photos})
    if missing:
        raise SystemExit(f"make_val_set: validation photos missing in {photos_dir}: {', '.join(missing)}")
    out.mkdir(parents=True, exist_ok=True)
    written, manifest = [], {"split": str(Path("core/train/configs/split.yaml")), "synthetic": [], "real": []}

    if count > 0:
        t0 = time.perf_counter()
        photos = [load_rgb(p, max_side=photo_max_side) for p in val_photos]
        log(f"loaded {len(photos)} validation photos in {time.perf_counter() - t0:.1f} s")
    for i in range(count):
        dst = out / f"synth_val_{i:02d}.png"
        s = seed + i
        manifest["synthetic"].append({"file": dst.name, "seed": s, "size": [2 * height, height],
                                      "photos": [p.name for p in val_photos], "photo_max_side": photo_max_side})
        if dst.exists() and not overwrite:
            log(f"{dst}: exists, kept (--overwrite rebuilds it)")
            written.append(dst)
            continue
        t0 = time.perf_counter()
        erp = synth_cubemap_erp(photos, height, random.Random(s))
        Image.fromarray(np.ascontiguousarray(erp.permute(1, 2, 0).numpy())).save(dst)
        log(f"{dst}: synthetic {2 * height}x{height} (seed {s}) in {time.perf_counter() - t0:.1f} s")
        written.append(dst)

    for name in split["val_panoramas"]:
        src = pano_dir / name
        if not src.exists():
            log(f"{src}: listed in the split but missing, skipped")
            continue
        with Image.open(src) as im:
            w, h = im.size
        if w < min_width or w != 2 * h:
            log(f"{name}: {w}x{h} skipped (needs 2:1 and width >= {min_width})")
            continue
        dst = out / name
        if dst.exists() and overwrite:
            dst.unlink()
        if not dst.exists():
            shutil.copyfile(src, dst)  # not copy2: the shared files are read-only
        manifest["real"].append({"file": name, "size": [w, h], "source": str(src)})
        log(f"{dst}: real {w}x{h}")
        written.append(dst)

    with open(out / "MANIFEST.yaml", "w") as f:
        yaml.safe_dump(manifest, f, sort_keys=False)
    log(f"{len(written)} validation panoramas in {out}")
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="default: ../shared/data")
    p.add_argument("-o", "--output", type=Path, default=REPO / "out" / "val", help="default: out/val")
    p.add_argument("--count", type=int, default=4, help="synthetic panoramas (default 4)")
    p.add_argument("--height", type=int, default=1024, help="synthetic ERP height; width is twice (default 1024)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first synthetic panorama (default 0)")
    p.add_argument("--min-width", type=int, default=1024, help="real panoramas narrower are skipped (default 1024)")
    p.add_argument("--overwrite", action="store_true", help="rebuild files that exist")
    a = p.parse_args(argv)
    build(a.data, a.output, a.count, a.height, a.seed, a.min_width, overwrite=a.overwrite)
    return 0


if __name__ == "__main__":
    sys.exit(main())
