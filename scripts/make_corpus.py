#!/usr/bin/env python
"""Generate ``tests/corpus/``: small bad (and a few good) inputs with their expected outcomes.

    .venv/bin/python scripts/make_corpus.py [--out tests/corpus]

Every file is made here from a seed (no hand-made binary blobs), so running the script again gives
the same corpus. ``manifest.json`` lists each case: the ``resvr`` arguments that exercise it
(``{corpus}`` is this folder, ``{out}`` a fresh output folder), the loader that reads it directly
(``image``, ``bundle`` or ``weights``, with its target), and the expected outcome: ``refused``
with a substring of the one-line message, or ``accepted``. ``tests/test_security.py`` runs them.

The malicious weights file runs ``touch "$RESVR_PAYLOAD_MARKER"`` when unpickled by an unsafe
loader; the tests set that variable to a path of their own and check that the file never appears.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

TINY_RESVR = {"type": "resvr", "scale": 4, "shape": "ssr",
              "downsampler": {"channels": 8, "levels": 1, "qpm_hidden": 16, "init_quality": 95},
              "vr": {"enc_channels": 8, "enc_blocks": 1, "amp": 16, "hidden": 16, "mlp_layers": 1}}
VIEW = ["--yaw", "10", "--pitch", "5", "--fov", "90x60", "--size", "64x48"]
MARKER_ENV = "RESVR_PAYLOAD_MARKER"


def pano(h: int = 64, w: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth uint8 test panorama (compresses like a photograph, not like noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    img = np.stack([np.sin(2 * np.pi * (x * rng.integers(1, 4) + y * rng.uniform(0, 3)) + rng.uniform(0, 6))
                    for _ in range(3)], -1)
    return ((img * 0.5 + 0.5) * 200 + 25).astype(np.uint8)


def jpeg_bytes(a: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", **kw)
    return buf.getvalue()


def patch_sof(data: bytes, w: int, h: int, marker: int | None = None) -> bytes:
    i = data.index(b"\xff\xc0")
    out = bytearray(data)
    out[i + 5:i + 7] = h.to_bytes(2, "big")
    out[i + 7:i + 9] = w.to_bytes(2, "big")
    if marker is not None:
        out[i + 1] = marker
    return bytes(out)


class Payload:
    """Unpickled by an unsafe loader, this runs a shell command that creates the marker file."""

    def __reduce__(self):
        return (os.system, (f'touch "${MARKER_ENV}"',))


def make(out: Path) -> list[dict]:
    import torch

    from resvr.core.bundle import write_bundle_yaml
    from resvr.core.jpeg.container import encode_jpeg_pixels, insert_xmp
    from resvr.core.jpeg.xmp import build_xmp
    from resvr.core.models.pipelines import build_model
    from resvr.core.models.weights import FORMAT

    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    (out / "weights").mkdir()
    cases: list[dict] = []
    img = out / "images"

    def case(name, args, expect, message="", loader=None, target=None):
        cases.append({"name": name, "args": args, "expect": expect, "message": message,
                      "loader": loader, "target": target})

    def render_case(name, file, expect, message="", method="bilinear"):
        # the learned renderers read LR files: the loader case checks the file as an LR file
        loader = "image_lr" if method in ("resvr", "hyperthumbnail") else "image"
        case(name, ["render", "{corpus}/" + file, "-o", "{out}/view.png", "--method", method, *VIEW],
             expect, message, loader, file)

    # ---------------------------------------------------------------- images
    good = pano()
    Image.fromarray(good).save(img / "good.png")
    render_case("good_png", "images/good.png", "accepted")
    xmp = dict(width=128, height=64, method="jpeg", scale=4, hr_width=512, hr_height=256)
    lr = encode_jpeg_pixels(good, 90, xmp)
    (img / "good_lr.jpg").write_bytes(lr)
    render_case("good_lr_jpeg", "images/good_lr.jpg", "accepted")
    for w, h in ((1, 1), (3, 1), (8, 4), (16000, 8)):
        Image.fromarray(pano(h, w, seed=w) if h > 1 else np.full((h, w, 3), 99, np.uint8)).save(img / f"tiny_{w}x{h}.png")
        render_case(f"tiny_{w}x{h}", f"images/tiny_{w}x{h}.png", "refused", "below the minimum size")
    case("encode_1x1", ["encode", "{corpus}/images/tiny_1x1.png", "-o", "{out}/lr.jpg", "--method", "jpeg"],
         "refused", "below the minimum size", "image", "images/tiny_1x1.png")
    big = jpeg_bytes(np.random.default_rng(1).integers(0, 256, (256, 512, 3), dtype=np.uint8), quality=80)
    (img / "claims_23000x11500.jpg").write_bytes(patch_sof(big, 23000, 11500))
    render_case("claims_23000x11500", "images/claims_23000x11500.jpg", "refused", "cannot hold the 23000x11500")
    render_case("claims_23000x11500_resvr", "images/claims_23000x11500.jpg", "refused",
                "above the limit", method="resvr")
    (img / "lr_claims_6000x3000.jpg").write_bytes(patch_sof(lr, 6000, 3000))
    render_case("lr_above_lr_limit", "images/lr_claims_6000x3000.jpg", "refused", "LR file of 6000x3000")
    data = jpeg_bytes(pano(seed=2), quality=90)
    sos = data.index(b"\xff\xda")
    mid = (sos + len(data)) // 2
    (img / "cut_scan_eoi.jpg").write_bytes(data[:mid] + b"\xff\xd9")
    render_case("cut_scan_with_eoi", "images/cut_scan_eoi.jpg", "refused", "corrupt JPEG")
    (img / "truncated.jpg").write_bytes(data[:mid])
    render_case("truncated_jpeg", "images/truncated.jpg", "refused", "corrupt JPEG")
    flipped = bytearray(data)  # 32 bytes of the scan overwritten with one-bits (no Huffman code is all ones)
    flipped[mid:mid + 32] = b"\xff\x00" * 16
    (img / "flipped_scan.jpg").write_bytes(bytes(flipped))
    render_case("flipped_scan", "images/flipped_scan.jpg", "refused", "corrupt JPEG")
    (img / "arithmetic.jpg").write_bytes(patch_sof(data, 128, 64, marker=0xC9))
    render_case("arithmetic_jpeg", "images/arithmetic.jpg", "refused", "unsupported JPEG coding")
    (img / "image.eps").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 128 64\n"
                                    b"(%s) (w) file closefile showpage\n%%EOF\n")
    render_case("eps", "images/image.eps", "refused", "not an image file of an accepted format")
    Image.fromarray(good).save(img / "image.gif")
    render_case("gif", "images/image.gif", "refused", "not an image file of an accepted format")
    (img / "empty.jpg").write_bytes(b"")
    render_case("empty", "images/empty.jpg", "refused", "empty file")
    (img / "random.bin").write_bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    render_case("random_bytes", "images/random.bin", "refused", "not an image file")
    Image.fromarray(good).convert("CMYK").save(img / "cmyk.jpg", quality=90)
    render_case("cmyk_hyperthumbnail", "images/cmyk.jpg", "refused", "YCbCr JPEG, not CMYK", method="hyperthumbnail")
    Image.fromarray(np.zeros((2048, 4096), np.uint8)).convert("1").save(img / "flat_4096x2048.png")
    render_case("flat_png_expansion", "images/flat_4096x2048.png", "refused", "times its size")
    packet = build_xmp(**xmp, heading=0.0)
    bad_packet = packet.replace(b'InitialViewHeadingDegrees="0"', b'InitialViewHeadingDegrees="nan"')
    assert bad_packet != packet
    (img / "nan_heading.jpg").write_bytes(insert_xmp(lr, bad_packet))
    render_case("nan_heading", "images/nan_heading.jpg", "accepted")

    # ---------------------------------------------------------------- bundles
    def bundle(name, text=None, files=("pano.jpeg.jpg",), expect="refused", message=""):
        d = out / "bundles" / name
        d.mkdir(parents=True)
        for f in files:
            (d / f).write_bytes(lr)
        if text is None:
            write_bundle_yaml(d, "pano", (512, 256), 4, {"jpeg": "pano.jpeg.jpg"})
        else:
            (d / "bundle.yaml").write_text(text)
        case(f"bundle_{name}", ["render", "{corpus}/bundles/" + name, "-o", "{out}/view.png", "--method", "bilinear",
                                *VIEW], expect, message, "bundle", f"bundles/{name}")

    base = "stem: pano\nhr_width: 512\nhr_height: 256\nscale: 4\nentries:\n  jpeg: {file: %s, bpp: 0.3}\n"
    bundle("good", expect="accepted")
    bundle("escape_parent", base % "../../images/good.png", message="inside the bundle folder")
    bundle("escape_absolute", base % "/etc/hostname", message="inside the bundle folder")
    bundle("alias_bomb", "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nstem: *c\n", message="aliases")
    bundle("deep", "stem: " + "[" * 20000 + "]" * 20000 + "\n", message="YAML")
    bundle("inf_width", (base % "pano.jpeg.jpg").replace("hr_width: 512", "hr_width: .inf"),
           message="hr_width must be a whole number")
    bundle("zero_width", (base % "pano.jpeg.jpg").replace("hr_width: 512", "hr_width: 0"),
           message="hr_width must be a whole number")
    bundle("python_tag", (base % "pano.jpeg.jpg").replace(
        "stem: pano", f'stem: !!python/object/apply:os.system ["touch \\"${MARKER_ENV}\\""]'),
        message="not valid YAML")

    # ---------------------------------------------------------------- weights
    torch.manual_seed(0)
    model = build_model(TINY_RESVR)
    sd = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()
          if ".eb_y." not in k and ".eb_c." not in k}
    blob = {"format": FORMAT, "name": "tiny", "version": "1", "cfg": TINY_RESVR, "state_dict": sd, "meta": {}}
    wdir = out / "weights"

    def weights(name, obj, expect="refused", message="", raw: bytes | None = None):
        p = wdir / f"{name}.pt"
        if raw is not None:
            p.write_bytes(raw)
        else:
            torch.save(obj, p)
        case(f"weights_{name}", ["render", "{corpus}/images/good_lr.jpg", "-o", "{out}/view.png", "--method", "resvr",
                                 "--weights", f"{{corpus}}/weights/{name}.pt", *VIEW], expect, message, "weights",
             f"weights/{name}.pt")

    weights("good", blob, "accepted")
    weights("malicious_pickle", dict(blob, meta={"note": Payload()}), message="asks to run code")
    weights("config_string", dict(blob, cfg="resvr"), message="config is a str")
    huge = json.loads(json.dumps(TINY_RESVR))
    huge["vr"]["enc_channels"] = 10 ** 9
    weights("config_huge", dict(blob, cfg=huge), message="enc_channels must be a number")
    bad_shape = dict(sd)
    k = next(k for k, v in sd.items() if v.dim() == 4)
    bad_shape[k] = torch.zeros(sd[k].shape[0] + 1, *sd[k].shape[1:], dtype=sd[k].dtype)
    weights("shape_mismatch", dict(blob, state_dict=bad_shape), message="the model expects")
    nan = dict(sd)
    nan[k] = torch.full_like(sd[k], float("nan"))
    weights("nan_tensor", dict(blob, state_dict=nan), message="NaN")
    weights("missing_tensors", dict(blob, state_dict={kk: v for kk, v in sd.items() if kk != k}),
            message="does not match its config")
    weights("random_bytes", None, message="cannot read weights",
            raw=np.random.default_rng(4).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    full = io.BytesIO()
    torch.save(blob, full)
    weights("truncated", None, message="cannot read weights", raw=full.getvalue()[:len(full.getvalue()) // 2])

    manifest = {"about": "Generated by scripts/make_corpus.py; see tests/test_security.py.",
                "marker_env": MARKER_ENV, "cases": cases}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return cases


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "corpus")
    args = ap.parse_args(argv)
    cases = make(args.out)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{args.out}: {len(cases)} cases, {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
