#!/usr/bin/env python3
"""Long mutation fuzz of the loaders (issue 12): seeded mutations of an LR JPEG, a PNG and a
bundle.yaml from the committed corpus, each through the project's own loader in this process
(``load_image`` + a small bilinear render, ``load_bundle``); nothing but the project's errors
(BadInput, MethodUnavailable) may escape. The CI test (tests/test_security.py) runs 260 cases of
the same mutations; this runs as many as asked and prints the figures.

    .venv/bin/python scripts/fuzz.py --seed 1 --cases 5000 [--json out.json]

Exit 0 when no unexpected exception escaped, 1 otherwise (each one listed with its seed and case).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus"


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random mutation of ``data``: flipped bytes, a truncation, a cut mid-stream ended with an
    EOI marker, inserted random bytes, a 16-bit field near the start overwritten, a chunk duplicated."""
    b = bytearray(data)
    kind = rng.integers(0, 6)
    n = len(b)
    if kind == 0:  # flip a few bytes
        for i in rng.integers(0, n, rng.integers(1, 8)):
            b[i] ^= int(rng.integers(1, 256))
    elif kind == 1:  # truncate
        b = b[:rng.integers(0, n)]
    elif kind == 2:  # cut mid-stream and end the file properly
        b = b[:rng.integers(0, n)] + b"\xff\xd9"
    elif kind == 3:  # insert random bytes
        i = int(rng.integers(0, n))
        b[i:i] = rng.integers(0, 256, rng.integers(1, 64), dtype=np.uint8).tobytes()
    elif kind == 4:  # overwrite a 16-bit field near the start (sizes, lengths)
        i = int(rng.integers(0, min(n - 2, 700)))
        b[i:i + 2] = int(rng.integers(0, 65536)).to_bytes(2, "big")
    else:  # duplicate a chunk
        i, j = sorted(int(x) for x in rng.integers(0, n, 2))
        b[j:j] = b[i:j][:4096]
    return bytes(b)


def run(seed: int, cases: int, work: Path) -> dict:
    from resvr.core.bundle import load_bundle
    from resvr.core.errors import BadInput, MethodUnavailable
    from resvr.core.geometry import View
    from resvr.core.methods import get_method

    seeds = {"jpg": (CORPUS / "images/good_lr.jpg").read_bytes(), "png": (CORPUS / "images/good.png").read_bytes()}
    text = (CORPUS / "bundles/good/bundle.yaml").read_bytes()
    rng = np.random.default_rng(seed)
    method = get_method("bilinear", device="cpu")
    view = View(30.0, -10.0, 90.0, 60.0, 24, 16)
    bundle = work / "b"
    bundle.mkdir()
    (bundle / "pano.jpeg.jpg").write_bytes(seeds["jpg"])
    counts = {"jpg": [0, 0], "png": [0, 0], "yaml": [0, 0]}   # accepted, refused
    unexpected, slowest = [], (0.0, None)
    t0 = time.perf_counter()
    for i in range(cases):
        kind = ("jpg", "png", "yaml")[i % 3]
        t = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if kind == "yaml":
                    (bundle / "bundle.yaml").write_bytes(mutate(text, rng))
                    load_bundle(bundle)
                else:
                    p = work / f"m.{kind}"
                    p.write_bytes(mutate(seeds[kind], rng))
                    method.prepare(p)
                    out = method.render(view)
                    if out.shape != (16, 24, 3) or not np.isfinite(out).all():
                        raise AssertionError(f"bad render {out.shape}")
            counts[kind][0] += 1
        except (BadInput, MethodUnavailable) as e:
            if "\n" in str(e):
                unexpected.append({"case": i, "kind": kind, "error": "multi-line message: " + repr(str(e))[:300]})
            counts[kind][1] += 1
        except Exception as e:  # noqa: BLE001 - what the fuzz looks for
            unexpected.append({"case": i, "kind": kind, "error": f"{type(e).__name__}: {e}"[:300],
                               "where": traceback.format_exc(limit=-1).strip().splitlines()[-3:]})
        dt = time.perf_counter() - t
        if dt > slowest[0]:
            slowest = (dt, i)
    return {"seed": seed, "cases": cases, "seconds": round(time.perf_counter() - t0, 1),
            "accepted_refused": {k: {"accepted": a, "refused": r} for k, (a, r) in counts.items()},
            "unexpected": unexpected, "slowest_case_s": round(slowest[0], 3), "slowest_case": slowest[1]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=5000)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="resvr-fuzz-") as d:
        r = run(a.seed, a.cases, Path(d))
    print(json.dumps(r, indent=1))
    if a.json:
        a.json.write_text(json.dumps(r, indent=1))
    return 1 if r["unexpected"] else 0


if __name__ == "__main__":
    sys.exit(main())
