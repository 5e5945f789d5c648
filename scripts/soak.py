#!/usr/bin/env python3
"""Soak of the viewer's render path (issue 12): many view changes through the render service's
request processing (the code its worker thread runs: method cache, prepare, render, metrics), on
one synthetic panorama, with the process's resident memory (RSS) sampled.

    OMP_NUM_THREADS=1 nice .venv/bin/python scripts/soak.py --changes 2000 --learned-every 100

Each change moves the camera (yaw, pitch, fov) and renders a bilinear pane at ``--size``; every
``--learned-every`` changes (from the first) a learned pane (ResVR, then HyperThumbnail, with the shipped weights) renders the same view at ``--learned-size``, with metrics against
the reference. Prints RSS every ``--sample`` changes and the growth after the warm-up as JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mib() -> float:
    """Resident set size of this process (Linux /proc; else the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def panorama(width: int, height: int) -> np.ndarray:
    """A smooth, seam-continuous uint8 ERP (sums of sinusoids, periodic in longitude)."""
    rng = np.random.default_rng(0)
    lon = (np.arange(width) + 0.5) / width * 2 * math.pi
    lat = (0.5 - (np.arange(height) + 0.5) / height) * math.pi
    L, T = np.meshgrid(lon, lat)
    out = np.zeros((height, width, 3))
    for c in range(3):
        for _ in range(6):
            out[..., c] += rng.uniform(0.3, 1) * np.sin(rng.integers(1, 9) * L + rng.uniform(0, 6)) * np.cos(
                rng.uniform(1, 6) * T + rng.uniform(0, 6))
    out = (out - out.min()) / (out.max() - out.min())
    return np.round(out * 235 + 10).astype(np.uint8)


def soak(changes: int, size=(320, 240), learned_every: int = 100, learned_size=(256, 192),
         learned=("resvr", "hyperthumbnail"), sample: int = 50, warmup: int = 40, work: Path | None = None) -> dict:
    from PIL import Image

    from resvr.core.geometry import View
    from resvr.viewer.render_service import RenderItem, RenderRequest, RenderService

    work = Path(work or tempfile.mkdtemp(prefix="resvr-soak-"))
    hr = panorama(1024, 512)
    Image.fromarray(hr).save(work / "hr.png")
    lr = np.asarray(Image.fromarray(hr).resize((256, 128), Image.BICUBIC))
    Image.fromarray(lr).save(work / "lr.jpg", quality=90, subsampling=0)
    service = RenderService()              # its worker thread is never started: _process runs here
    got = []
    service.resultReady.connect(lambda r: got.append((r.method, r.error)))
    errors, curve, n_learned = {}, [], 0
    t0 = time.perf_counter()
    base = None
    # the baseline is taken once every method has been created and prepared (weights, LPIPS)
    warm = max(warmup, learned_every * len(learned) + 1) if learned and learned_every else warmup
    for i in range(changes):
        yaw = (i * 7.3) % 360 - 180
        pitch = 60 * math.sin(i / 37)
        fov = 60 + 40 * (0.5 + 0.5 * math.sin(i / 23))
        v = View(yaw=yaw, pitch=pitch, fov_h=fov, fov_v=fov * size[1] / size[0], width=size[0], height=size[1])
        items = [RenderItem("bilinear", "bilinear", work / "lr.jpg", v)]
        metrics = False
        if learned and learned_every and i % learned_every == 0:
            m = learned[n_learned % len(learned)]
            n_learned += 1
            lv = View(yaw=yaw, pitch=pitch, fov_h=fov, fov_v=fov * learned_size[1] / learned_size[0],
                      width=learned_size[0], height=learned_size[1])
            items.append(RenderItem(m, m, work / "lr.jpg", lv))
            metrics = True
        got.clear()
        service._process(RenderRequest(items, reference=work / "hr.png", metrics=metrics, device="cpu",
                                        gen=service.latest_gen))
        for method, err in got:
            if err:
                errors[method] = err
        if i + 1 == warm:
            base = rss_mib()
        if (i + 1) % sample == 0 or i + 1 == changes:
            curve.append((i + 1, round(rss_mib(), 1)))
    end = rss_mib()
    return {"changes": changes, "size": list(size), "learned_views": n_learned, "learned": list(learned),
            "seconds": round(time.perf_counter() - t0, 1), "warmup_changes": warm,
            "rss_after_warmup_mib": round(base or end, 1),
            "rss_end_mib": round(end, 1), "growth_mib": round(end - (base or end), 1), "curve": curve,
            "errors": errors}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--changes", type=int, default=2000)
    ap.add_argument("--learned-every", type=int, default=100)
    ap.add_argument("--sample", type=int, default=100)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    r = soak(a.changes, learned_every=a.learned_every, sample=a.sample)
    print(json.dumps(r, indent=1))
    if a.json:
        a.json.write_text(json.dumps(r, indent=1))
    return 1 if r["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
