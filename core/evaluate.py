"""``resvr eval``: rendered-viewport quality in the ResVR paper's Table 1 layout.

For every HR panorama (PNG/JPEG) in a folder:

1. encode it with every codec at the target bpp (real file size over the HR pixel count):
   the Bicubic & JPEG baseline (cli.encode_jpeg), HyperThumbnail, ResVR and any ablation weights
   (core.encode.LearnedEncoder). Files go to ``OUT/files/`` with a JSON sidecar (HR file identity,
   weights SHA-1, target); a re-run whose sidecar matches reuses the file instead of encoding.
2. render fixed view directions (:func:`view_directions`) with every method row and with the
   ground truth, the ``reference`` method (bicubic viewport from the HR ERP);
3. measure, per view, PSNR, SSIM and LPIPS (or "n/a") of the uint8-quantised viewport (what
   ``resvr render`` writes as PNG) against the uint8-quantised ground truth; per image the real
   bpp and the WS-PSNR of the HR ERP where the method produces one (see ``WS_PSNR_NOTE``).

Outputs in ``OUT``: ``report.md`` (Table 1 layout, margins, per view direction, per image,
rate-distortion), ``results.csv`` (one row per image x method x view), ``rd.csv``,
``summary.json``, ``psnr_per_view.png``, ``rd_curve.png`` and ``compare.png``.

Rows (the paper's "Down & Compression & Up & Render"), weakest first as in the paper:
Bicubic & JPEG & Bilinear, Bicubic & JPEG & Bicubic, HyperThumbnail & Bilinear,
HyperThumbnail & Bicubic, ResVR, then one "ResVR (NAME)" row per ablation weight file.

The rate-distortion curve re-encodes at several targets and, to bound the time, measures only
PSNR on the first ``rd_views`` view directions (equator, seam, 60 degrees up by default) of the
first ``rd_images`` panoramas; the point at the main target reuses the main measurements.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import BadInput, MethodUnavailable

IMAGE_EXTS = (".png", ".jpg", ".jpeg")

#: The 10 fixed view directions (yaw, pitch) in degrees, ordered so that every prefix is spread
#: out: the equator, the +-180 degree seam, then high latitudes (60 and 80 degrees, the last with
#: the pole inside a 90 degree vertical field of view), then the rest.
VIEW_DIRECTIONS = (
    (0.0, 0.0),       # equator, front
    (180.0, 0.0),     # seam (lon +-180 in the middle of the view)
    (90.0, 60.0),     # high latitude
    (-90.0, -60.0),   # high latitude
    (45.0, 80.0),     # near the north pole (pole inside the view)
    (-135.0, -80.0),  # near the south pole
    (-90.0, 0.0),     # equator
    (90.0, -30.0),    # mid latitude
    (-45.0, 30.0),    # mid latitude
    (180.0, 45.0),    # seam, mid latitude
)
HIGH_LAT = 60.0  # |pitch| >= this: a high-latitude view

PAPER = {  # ResVR paper Table 1, PSNR in dB (ODI-SR; SUN360)
    "resvr_vs_ht": (0.39, 0.41),
    "ht_vs_jpeg": (3.02, 4.48),
}
WS_PSNR_NOTE = ("measured on the HR ERP against the HR original: HyperThumbnail rows use its decoded HR ERP; "
                "Bicubic & JPEG rows use a bicubic 4x upsample of the LR JPEG (wrapping in longitude) - "
                "the paper writes N/A there, since that pipeline renders from the LR image directly; "
                "ResVR never produces an HR ERP (N/A). Both rows of one codec share the value.")


# ----------------------------------------------------------------------------- views
def view_directions(n: int = 10) -> list[tuple[float, float]]:
    """The first ``n`` of :data:`VIEW_DIRECTIONS`; beyond 10, Fibonacci-sphere directions."""
    if n < 1:
        raise ValueError(f"need at least one view direction, got {n}")
    dirs = list(VIEW_DIRECTIONS[:n])
    extra = n - len(dirs)
    golden = math.pi * (3.0 - math.sqrt(5.0))
    for k in range(extra):
        z = 1.0 - 2.0 * (k + 0.5) / extra
        lat = math.degrees(math.asin(z))
        lon = math.degrees(((k * golden + math.pi) % (2 * math.pi)) - math.pi)
        dirs.append((round(lon, 2), round(lat, 2)))
    return dirs


def view_groups(yaw: float, pitch: float) -> dict:
    """high_lat: |pitch| >= 60; seam: the view is centred on lon +-180 (yaw 180)."""
    w = (yaw + 180.0) % 360.0 - 180.0
    return {"high_lat": abs(pitch) >= HIGH_LAT, "seam": abs(abs(w) - 180.0) < 1e-6}


def view_name(i: int, yaw: float, pitch: float) -> str:
    g = view_groups(yaw, pitch)
    tag = " seam" if g["seam"] else (" high" if g["high_lat"] else "")
    return f"v{i} ({yaw:g},{pitch:g}){tag}"


# ----------------------------------------------------------------------------- rows and codecs
@dataclass
class Codec:
    """One way to make an LR file: 'jpeg', 'ht', 'resvr' or 'resvr-<slug>' (an ablation)."""

    tag: str
    kind: str                  # jpeg | hyperthumbnail | resvr
    weights: Path | None = None
    sha1: str | None = None
    info: dict = field(default_factory=dict)
    _encoder: object = None

    def encoder(self, device):
        if self._encoder is None:
            from .encode import LearnedEncoder

            self._encoder = LearnedEncoder(self.kind, self.weights, device)
        return self._encoder


@dataclass
class Row:
    key: str
    label: str
    codec: str                 # Codec.tag
    mode: str                  # bilinear | bicubic | resvr


BASE_ROWS = (
    Row("bic-jpeg-bil", "Bicubic & JPEG & Bilinear", "jpeg", "bilinear"),
    Row("bic-jpeg-bic", "Bicubic & JPEG & Bicubic", "jpeg", "bicubic"),
    Row("ht-bil", "HyperThumbnail & Bilinear", "ht", "bilinear"),
    Row("ht-bic", "HyperThumbnail & Bicubic", "ht", "bicubic"),
    Row("resvr", "ResVR", "resvr", "resvr"),
)
ROW_KEYS = tuple(r.key for r in BASE_ROWS)
#: rows drawn in the rate-distortion plot (plus every ablation)
RD_ROWS = ("bic-jpeg-bic", "ht-bic", "resvr")


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


def _weights_path(kind: str, given) -> Path:
    from .models.weights import default_weights_path

    return Path(given) if given else default_weights_path(kind)


def list_panoramas(folder) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInput(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise BadInput(f"{folder}: no PNG or JPEG panoramas in it")
    return files


# ----------------------------------------------------------------------------- measuring helpers
def to_u8(img) -> np.ndarray:
    """float [0, 1] (h, w, 3) -> uint8, rounding to nearest (as ``resvr render`` saves PNGs)."""
    from .imageio import to_uint8

    return to_uint8(img)


def psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB, peak 255) of two uint8 images; inf when equal."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def ws_psnr_u8(a: torch.Tensor, b: torch.Tensor, band: int = 256) -> float:
    """WS-PSNR (dB) of two uint8 (3, H, W) ERPs, accumulated in row bands (no full float copy).
    Equals :func:`resvr.core.metrics.ws_psnr` on the same images."""
    from .metrics import erp_row_weights

    H, W = a.shape[-2:]
    w = erp_row_weights(H)
    num = 0.0
    for r0 in range(0, H, band):
        r1 = min(H, r0 + band)
        d = a[:, r0:r1].double() - b[:, r0:r1].double().to(a.device)
        num += float(((d / 255.0) ** 2).sum(dim=(0, 2)).cpu() @ w[r0:r1])
    wmse = num / (float(w.sum()) * a.shape[0] * W)
    return math.inf if wmse == 0 else 10.0 * math.log10(1.0 / wmse)


def bicubic_upsample_erp(lr_u8: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (h, w, 3) LR ERP -> uint8 (3, H, W) by bicubic interpolation (a=-0.75,
    align_corners=False), padded circularly in longitude when the scale is an integer."""
    import torch.nn.functional as F

    H, W = size
    h, w = lr_u8.shape[:2]
    t = torch.from_numpy(np.ascontiguousarray(lr_u8)).permute(2, 0, 1)[None].float() / 255.0
    if W % w == 0 and H % h == 0 and W // w == H // h:
        s, p = W // w, 4
        t = torch.cat((t[..., -p:], t, t[..., :p]), -1)
        y = F.interpolate(t, size=(H, W + 2 * p * s), mode="bicubic", align_corners=False)[..., p * s:p * s + W]
    else:
        y = F.interpolate(t, size=(H, W), mode="bicubic", align_corners=False)
    return (y[0].clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)


def _fmt(v, nd=2, na="n/a"):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return na
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.{nd}f}"


def _mean(vals):
    vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else None


# ----------------------------------------------------------------------------- the evaluation
class _Log:
    def __init__(self, progress: bool, log):
        self.progress, self._log = progress, log

    def __call__(self, msg: str):
        if self._log is not None:
            self._log(msg)
        elif self.progress:
            from tqdm import tqdm

            tqdm.write(msg, file=sys.stderr)


def evaluate(folder, out_dir, bpp: float = 0.3, fov=(120.0, 90.0), size=(1024, 768), n_views: int = 10,
             resvr_weights=None, ht_weights=None, ablations=None, methods=None, device=None,
             rd_bpps=(0.2, 0.3, 0.4, 0.5), rd_views: int = 3, rd_images: int | None = None,
             max_images: int | None = None, lpips=True, reencode: bool = False, overwrite: bool = False,
             progress: bool = True, log=None, command: str | None = None) -> dict:
    """Run the evaluation and write the report; returns the summary dict (also summary.json).

    ablations: {NAME: weights path} -> rows "ResVR (NAME)" (own encoder and VR module).
    methods: row keys to run (default all of :data:`ROW_KEYS`; ablation rows always run).
    lpips: True (load lazily; "n/a" with the reason when it cannot), False (skip: "n/a"), or a
    ready :class:`resvr.core.metrics.LPIPSMetric`.
    rd_bpps: targets of the rate-distortion curve (empty: no curve).
    """
    from tqdm import tqdm

    from .geometry import View
    from .imageio import load_image
    from .device import pick_device
    from .methods import HyperThumbnailMethod, ResVRMethod, get_method
    from .metrics import LPIPSMetric, ssim

    t_start = time.perf_counter()
    say = _Log(progress, log)
    folder, out_dir = Path(folder), Path(out_dir)
    images = list_panoramas(folder)
    if max_images:
        images = images[:max_images]
    report = out_dir / "report.md"
    if report.exists() and not overwrite:
        raise BadInput(f"{report}: exists; pass --overwrite to replace the report "
                       f"(encoded files in {out_dir / 'files'} are reused either way)")
    dev = pick_device(device)
    dev_name = str(dev)  # the methods take a device name
    fov_h, fov_v = map(float, fov)
    vw, vh = map(int, size)
    dirs = view_directions(n_views)
    views = [View(y, p, fov_h, fov_v, vw, vh) for y, p in dirs]
    rd_bpps = sorted({round(float(b), 4) for b in (rd_bpps or ())} | ({round(float(bpp), 4)} if rd_bpps else set()))
    rd_nv = max(1, min(int(rd_views), len(views)))
    rd_ni = len(images) if not rd_images else min(int(rd_images), len(images))

    # -- rows and codecs
    wanted = list(methods) if methods else list(ROW_KEYS)
    bad = [m for m in wanted if m not in ROW_KEYS]
    if bad:
        raise ValueError(f"unknown method row(s) {', '.join(bad)}; choose from {', '.join(ROW_KEYS)}")
    rows = [r for r in BASE_ROWS if r.key in wanted]
    notes: list[str] = []
    codecs: dict[str, Codec] = {}
    renderers: dict[str, object] = {}
    explicit = {"ht": ht_weights, "resvr": resvr_weights}
    for tag, kind in (("jpeg", "jpeg"), ("ht", "hyperthumbnail"), ("resvr", "resvr")):
        if not any(r.codec == tag for r in rows):
            continue
        if kind == "jpeg":
            codecs[tag] = Codec(tag, kind)
            continue
        wp = _weights_path(kind, explicit[tag])
        try:
            meth = (HyperThumbnailMethod if kind == "hyperthumbnail" else ResVRMethod)(device=dev_name, weights=wp)
        except MethodUnavailable as e:
            if explicit[tag]:
                raise
            msg = f"{kind} rows skipped: {e}"
            warnings.warn(msg)
            notes.append(msg)
            rows = [r for r in rows if r.codec != tag]
            continue
        codecs[tag] = Codec(tag, kind, wp, file_sha1(wp), dict(meth.winfo))
        renderers[tag] = meth
    for name, path in (ablations or {}).items():
        tag = f"resvr-{slug(name)}"
        if tag in codecs:
            raise ValueError(f"two ablations named like {name!r}")
        meth = ResVRMethod(device=dev_name, weights=path)
        codecs[tag] = Codec(tag, "resvr", Path(path), file_sha1(path), dict(meth.winfo))
        renderers[tag] = meth
        rows.append(Row(tag, f"ResVR ({name})", tag, "resvr"))
    if not rows:
        raise MethodUnavailable("no method rows left to evaluate")
    for tag in ("jpeg",):
        if tag in codecs:
            renderers["jpeg:bicubic"] = get_method("bicubic", device=dev_name)
            renderers["jpeg:bilinear"] = get_method("bilinear", device=dev_name)
    reference = get_method("reference", device=dev_name)

    if lpips is True:
        lp = LPIPSMetric(device=dev)
        if not lp.available:
            say(lp.reason)
            notes.append(lp.reason)
            lp = None
    elif lpips is False or lpips is None:
        lp = None
        notes.append("LPIPS not computed (--no-lpips)")
    else:
        lp = lpips if lpips.available else None
        if lp is None:
            notes.append(lpips.reason or "LPIPS unavailable")

    files_dir = out_dir / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    say(f"resvr eval: {len(images)} panoramas x {len(views)} views ({fov_h:g}x{fov_v:g} deg, {vw}x{vh}) x "
        f"{len(rows)} methods at {bpp:g} bpp on {dev}, {torch.get_num_threads()} threads; " +
        (f"RD at {', '.join(f'{b:g}' for b in rd_bpps)} bpp over {rd_ni} panoramas x {rd_nv} views"
         if rd_bpps else "no RD curve"))

    results: list[dict] = []      # one per image x row x view
    rd_results: list[dict] = []   # one per image x RD row x RD target x RD view
    per_image: list[dict] = []
    compare = None
    rd_keys = [r.key for r in rows if r.key in RD_ROWS or r.codec.startswith("resvr-")]

    def encode(codec: Codec, hr_path: Path, target: float, hr_wh):
        """-> (file path, real bpp, was_cached, seconds)."""
        base = f"{hr_path.name}.{codec.tag}.bpp{target:.3f}"  # full name: a.png and a.jpg do not collide
        out, side = files_dir / f"{base}.jpg", files_dir / f"{base}.json"
        st = hr_path.stat()
        key = {"hr": hr_path.name, "hr_bytes": st.st_size, "hr_mtime_ns": st.st_mtime_ns, "codec": codec.tag,
               "kind": codec.kind, "weights_sha1": codec.sha1, "target_bpp": target, "scale": 4}
        if not reencode and out.exists() and side.exists():
            try:
                meta = json.loads(side.read_text())
                if meta.get("key") == key and meta.get("bytes") == out.stat().st_size:
                    return out, out.stat().st_size * 8.0 / (hr_wh[0] * hr_wh[1]), True, 0.0
            except (OSError, ValueError):
                pass
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if codec.kind == "jpeg":
                from .cli import encode_jpeg

                res = encode_jpeg(hr_path, out, scale=4, bpp=target, overwrite=True, warn=warnings.warn)
            else:
                res = codec.encoder(dev_name).encode(hr_path, out, bpp=target, overwrite=True)
        for w in caught:
            if "not reachable" in str(w.message) or "resized" in str(w.message):
                say(f"warning: {' '.join(str(w.message).split())}")
        dt = time.perf_counter() - t0
        info = {k: v for k, v in res.items() if isinstance(v, (int, float, str, list, tuple))}
        side.write_text(json.dumps({"key": key, "bytes": out.stat().st_size, "encode_s": round(dt, 3),
                                    "result": info}, indent=1))
        return out, out.stat().st_size * 8.0 / (hr_wh[0] * hr_wh[1]), False, dt

    def prepare(tag: str, path: Path):
        if tag == "jpeg":
            renderers["jpeg:bicubic"].prepare(path)
            renderers["jpeg:bilinear"].prepare(path)
        else:
            renderers[tag].prepare(path)

    def render(row: Row, view):
        if row.codec == "jpeg":
            return renderers[f"jpeg:{row.mode}"].render(view)
        m = renderers[row.codec]
        if row.codec == "ht":
            m.mode = row.mode
        return m.render(view)

    def hr_erp_of(tag: str, hr_t: torch.Tensor):
        """The HR ERP a codec's pipeline produces (uint8 (3, H, W)), or None (ResVR)."""
        H, W = hr_t.shape[-2:]
        if tag == "jpeg":
            from .imageio import load_image as _li

            return bicubic_upsample_erp(_li(renderers["jpeg:bicubic"].path), (H, W))
        if tag == "ht":
            dec = renderers["ht"].hr.cpu()
            if tuple(dec.shape[-2:]) != (H, W):
                import torch.nn.functional as F

                x = F.interpolate(dec[None].float(), size=(H, W), mode="bicubic", align_corners=False)[0]
                dec = (x.clamp(0, 255) + 0.5).to(torch.uint8)
                note = "HT: the codec resized the HR to a multiple of its block size; WS-PSNR resizes back (bicubic)"
                if note not in notes:
                    notes.append(note)
            return dec
        return None

    tty = sys.stderr.isatty()
    bar = dict(disable=not progress, file=sys.stderr, mininterval=0.5 if tty else 30.0)
    outer = tqdm(images, desc="panoramas", unit="img", **bar)
    for ii, hr_path in enumerate(outer):
        t_img = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hr = load_image(hr_path)
        H, W = hr.shape[:2]
        hr_t = torch.from_numpy(hr).permute(2, 0, 1).contiguous()
        reference.prepare(hr_path)
        gts = {}
        timing = {"encode": 0.0, "prepare": 0.0, "render": {}, "metrics": 0.0}
        img_rec = {"image": hr_path.name, "width": W, "height": H, "bpp": {}, "ws_psnr": {}, "cached": []}
        targets = [bpp] + ([b for b in rd_bpps if abs(b - bpp) > 1e-9] if ii < rd_ni else [])
        n_tasks = len(rows) * len(views) + (len(targets) - 1) * len(rd_keys) * rd_nv
        inner = tqdm(total=n_tasks, desc=hr_path.stem[:24], unit="view", leave=False,  # not in a log file
                     **dict(bar, disable=not (progress and tty)))

        def gt(vi):
            if vi not in gts:
                gts[vi] = to_u8(reference.render(views[vi]))
            return gts[vi]

        for target in targets:
            main = abs(target - bpp) < 1e-9
            tags = [t for t in codecs if main or any(r.codec == t and r.key in rd_keys for r in rows)]
            got = {}
            for tag in tags:
                path, real, cached, dt = encode(codecs[tag], hr_path, target, (W, H))
                timing["encode"] += dt
                if cached:
                    img_rec["cached"].append(path.name)
                got[tag] = (path, real)
            for tag in tags:
                t0 = time.perf_counter()
                prepare(tag, got[tag][0])
                timing["prepare"] += time.perf_counter() - t0
                if main:
                    img_rec["bpp"][tag] = got[tag][1]
                    erp = hr_erp_of(tag, hr_t)
                    img_rec["ws_psnr"][tag] = None if erp is None else ws_psnr_u8(erp, hr_t)
                for row in (r for r in rows if r.codec == tag and (main or r.key in rd_keys)):
                    for vi in range(len(views) if main else rd_nv):
                        v = views[vi]
                        t0 = time.perf_counter()
                        out = to_u8(render(row, v))
                        timing["render"][row.key] = timing["render"].get(row.key, 0.0) + time.perf_counter() - t0
                        t0 = time.perf_counter()
                        g = gt(vi)
                        p = psnr_u8(out, g)
                        rec = {"image": hr_path.name, "method": row.key, "label": row.label,
                               "file": got[tag][0].name, "target_bpp": target, "bpp": got[tag][1], "view": vi,
                               "yaw": v.yaw, "pitch": v.pitch, **view_groups(v.yaw, v.pitch), "psnr": p}
                        if main:
                            rec.update(width=W, height=H, fov_h=fov_h, fov_v=fov_v, view_w=vw, view_h=vh,
                                       ws_psnr=img_rec["ws_psnr"][tag],
                                       ssim=ssim(out, g) if min(vw, vh) >= 11 else None,
                                       lpips=lp(out, g) if lp is not None else None)
                            results.append(rec)
                            if ii == 0 and vi in _compare_views(dirs):
                                compare = compare or {"image": hr_path.name, "views": {}}
                                compare["views"].setdefault(vi, {"gt": g})[row.label] = (out, p)
                        if (not main or (vi < rd_nv and ii < rd_ni and row.key in rd_keys)) and rd_bpps:
                            rd_results.append({k: rec[k] for k in RD_FIELDS})
                        timing["metrics"] += time.perf_counter() - t0
                        inner.update(1)
                        inner.set_postfix_str(f"{row.key} {view_name(vi, v.yaw, v.pitch)}", refresh=False)
        inner.close()
        dt_img = time.perf_counter() - t_img
        img_rec["seconds"] = round(dt_img, 2)
        img_rec["timing"] = {"encode": round(timing["encode"], 2), "prepare": round(timing["prepare"], 2),
                             "metrics": round(timing["metrics"], 2),
                             "render": {k: round(v, 2) for k, v in timing["render"].items()}}
        per_image.append(img_rec)
        rtxt = ", ".join(f"{k} {v:.1f}" for k, v in timing["render"].items())
        cached = f", {len(img_rec['cached'])} files cached" if img_rec["cached"] else ""
        say(f"[{ii + 1}/{len(images)}] {hr_path.name} ({W}x{H}): {dt_img:.1f} s "
            f"(encode {timing['encode']:.1f} s{cached}, "
            f"prepare {timing['prepare']:.1f} s, render {rtxt} s, metrics {timing['metrics']:.1f} s)")

    wall = time.perf_counter() - t_start
    cfg = {"folder": str(folder), "images": [p.name for p in images], "bpp": bpp, "fov": [fov_h, fov_v],
           "size": [vw, vh], "views": [list(d) for d in dirs], "device": str(dev),
           "threads": torch.get_num_threads(), "rd_bpps": rd_bpps, "rd_views": rd_nv, "rd_images": rd_ni,
           "lpips": lp is not None, "wall_s": round(wall, 1), "command": command,
           "codecs": {t: {"kind": c.kind, "weights": str(c.weights) if c.weights else None, "sha1": c.sha1,
                          "name": c.info.get("name"), "version": c.info.get("version"),
                          "iterations": (c.info.get("meta") or {}).get("iterations")} for t, c in codecs.items()}}
    summary = summarise(results, rd_results, rows, per_image, views, cfg, notes)
    write_outputs(out_dir, summary, results, rd_results, rows, views, compare)
    say(f"wrote {out_dir / 'report.md'} ({wall:.0f} s)")
    return summary


def _compare_views(dirs) -> tuple[int, ...]:
    """Views shown in compare.png: the first seam view and the highest-latitude view."""
    seam = next((i for i, (y, p) in enumerate(dirs) if view_groups(y, p)["seam"]), 0)
    high = max(range(len(dirs)), key=lambda i: abs(dirs[i][1]))
    return tuple(sorted({seam, high}))


# ----------------------------------------------------------------------------- summarising
def summarise(results, rd_results, rows, per_image, views, cfg, notes) -> dict:
    table = {}
    for r in rows:
        rr = [x for x in results if x["method"] == r.key]
        if not rr:
            continue
        imgs = sorted({x["image"] for x in rr})
        first = [next(x for x in rr if x["image"] == im) for im in imgs]
        groups = {
            "all": rr,
            "high_lat": [x for x in rr if x["high_lat"]],
            "seam": [x for x in rr if x["seam"]],
            "other": [x for x in rr if not x["high_lat"] and not x["seam"]],
        }
        table[r.key] = {
            "label": r.label,
            "bpp": _mean([x["bpp"] for x in first]),
            "ws_psnr": _mean([x["ws_psnr"] for x in first]),
            "psnr": _mean([x["psnr"] for x in rr]),
            "ssim": _mean([x["ssim"] for x in rr]),
            "lpips": _mean([x["lpips"] for x in rr]),
            "groups": {g: _mean([x["psnr"] for x in v]) for g, v in groups.items()},
            "per_view": [_mean([x["psnr"] for x in rr if x["view"] == vi]) for vi in range(len(views))],
            "per_image": {im: {"bpp": first[k]["bpp"], "ws_psnr": first[k]["ws_psnr"],
                               "psnr": _mean([x["psnr"] for x in rr if x["image"] == im]),
                               "ssim": _mean([x["ssim"] for x in rr if x["image"] == im]),
                               "lpips": _mean([x["lpips"] for x in rr if x["image"] == im])}
                          for k, im in enumerate(imgs)},
        }
    rd = {}
    for x in rd_results:
        d = rd.setdefault(x["method"], {"label": x["label"], "points": {}})
        d["points"].setdefault(x["target_bpp"], []).append(x)
    rd_curves = {k: {"label": d["label"], "points": [
        {"target_bpp": t, "bpp": _mean(list({(x["image"]): x["bpp"] for x in pts}.values())),
         "psnr": _mean([x["psnr"] for x in pts]), "n": len(pts)} for t, pts in sorted(d["points"].items())]}
        for k, d in rd.items()}
    return {"config": cfg, "table": table, "rd": rd_curves, "per_image": per_image, "notes": notes,
            "checks": checks(table, cfg)}


def checks(table, cfg) -> dict:
    """Issue 4's bars, measured: bpp within target +-0.03, PSNR ordering, SSR vs ablations."""
    out = {}
    t = cfg["bpp"]
    get = lambda k, f: (table.get(k) or {}).get(f)  # noqa: E731
    bpps = {k: get(k, "bpp") for k in ("bic-jpeg-bic", "ht-bic", "resvr") if k in table}
    out["bpp_in_range"] = {"target": t, "values": bpps,
                           "met": bool(bpps) and all(abs(v - t) <= 0.03 for v in bpps.values())}
    r, h, j = get("resvr", "psnr"), get("ht-bic", "psnr"), get("bic-jpeg-bic", "psnr")
    out["margin_resvr_ht"] = None if r is None or h is None else r - h
    out["margin_ht_jpeg"] = None if h is None or j is None else h - j
    out["ordering_met"] = None if None in (r, h, j) else bool(r > h > j)
    ab = {}
    for k, row in table.items():
        if k.startswith("resvr-") and "resvr" in table:
            g, a = table["resvr"]["groups"], row["groups"]
            d = {grp: (None if g[grp] is None or a[grp] is None else g[grp] - a[grp])
                 for grp in ("high_lat", "seam", "all")}
            known = [v for v in (d["high_lat"], d["seam"]) if v is not None]
            ab[k] = {"label": row["label"], "delta": d, "no_worse": (all(v >= 0 for v in known) if known else None)}
    out["ablations"] = ab
    return out


# ----------------------------------------------------------------------------- writing
CSV_FIELDS = ("image", "width", "height", "method", "label", "file", "target_bpp", "bpp", "view", "yaw", "pitch",
              "high_lat", "seam", "fov_h", "fov_v", "view_w", "view_h", "ws_psnr", "psnr", "ssim", "lpips")
PLOTS = ("psnr_per_view.png", "rd_curve.png", "compare.png")
RD_FIELDS = ("image", "method", "label", "target_bpp", "bpp", "view", "yaw", "pitch", "psnr")


def _csv_value(v):
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return "inf" if math.isinf(v) else repr(round(v, 6))
    return v


def write_outputs(out_dir: Path, summary, results, rd_results, rows, views, compare) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, fields, recs in (("results.csv", CSV_FIELDS, results), ("rd.csv", RD_FIELDS, rd_results)):
        with open(out_dir / name, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(fields)
            for r in recs:
                w.writerow([_csv_value(r.get(k)) for k in fields])
    with open(out_dir / "summary.json", "w") as f:
        json.dump(summary, f, indent=1, default=lambda o: None if isinstance(o, float) and math.isinf(o) else str(o))
    plots = write_plots(out_dir, summary, rows, views, compare)
    for stale in set(PLOTS) - set(plots):  # from an earlier run with other settings
        (out_dir / stale).unlink(missing_ok=True)
    (out_dir / "report.md").write_text(render_report(summary, rows, views, plots))


def write_plots(out_dir: Path, summary, rows, views, compare) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:  # noqa: BLE001
        summary["notes"].append(f"no plots: matplotlib unavailable ({type(e).__name__})")
        return []
    made = []
    table = summary["table"]
    colors = {r.key: f"C{i}" for i, r in enumerate(rows)}
    # PSNR per view direction: absolute, and the difference to HyperThumbnail & Bicubic
    base = table.get("ht-bic") or table.get("bic-jpeg-bic")
    panels = 2 if base else 1
    fig, axes = plt.subplots(panels, 1, figsize=(max(7.0, 0.9 * len(views) + 3), 3.3 * panels + 0.6),
                             sharex=True, squeeze=False)
    xs = np.arange(len(views))
    shown = [r for r in rows if r.key in table]
    off = np.linspace(-0.25, 0.25, len(shown)) if len(shown) > 1 else [0.0]
    for ax in axes[:, 0]:
        for i, v in enumerate(views):
            g = view_groups(v.yaw, v.pitch)
            if g["high_lat"] or g["seam"]:
                ax.axvspan(i - 0.5, i + 0.5, color="#fde2c8" if g["high_lat"] else "#d8e8f8", zorder=0)
        ax.grid(alpha=0.3, axis="y")
    for k, r in enumerate(shown):
        ys = np.array([np.nan if y is None else y for y in table[r.key]["per_view"]], dtype=float)
        axes[0, 0].plot(xs + off[k], ys, marker="o", ms=5, ls="none", color=colors[r.key], label=r.label)
        if base:
            b = np.array([np.nan if y is None else y for y in base["per_view"]], dtype=float)
            axes[1, 0].bar(xs + off[k], ys - b, width=0.5 / max(1, len(shown)), color=colors[r.key], label=r.label)
    axes[0, 0].set_ylabel("PSNR (dB)")
    axes[0, 0].set_title("PSNR per view direction (yaw, pitch), mean over panoramas; "
                         "orange: |pitch| >= 60, blue: seam (yaw 180)", fontsize=9)
    axes[0, 0].legend(fontsize=7, loc="best")
    if base:
        axes[1, 0].axhline(0, color="k", lw=0.8)
        axes[1, 0].set_ylabel(f"PSNR - {base['label']} (dB)", fontsize=8)
    axes[-1, 0].set_xticks(xs, [f"v{i}\n({v.yaw:g},{v.pitch:g})" for i, v in enumerate(views)], fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "psnr_per_view.png", dpi=120)
    plt.close(fig)
    made.append("psnr_per_view.png")
    # rate-distortion
    if summary["rd"]:
        fig, ax = plt.subplots(figsize=(6.0, 4.2))
        for k, d in summary["rd"].items():
            pts = [p for p in d["points"] if p["psnr"] is not None]
            ax.plot([p["bpp"] for p in pts], [p["psnr"] for p in pts], marker="o", label=d["label"],
                    color=colors.get(k))
        ax.axvline(summary["config"]["bpp"], color="grey", lw=0.8, ls="--")
        ax.set_xlabel("bpp (real file size / HR pixels), mean over panoramas")
        ax.set_ylabel("viewport PSNR (dB)")
        c = summary["config"]
        ax.set_title(f"Rate-distortion ({c['rd_images']} panoramas x {c['rd_views']} views)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "rd_curve.png", dpi=120)
        plt.close(fig)
        made.append("rd_curve.png")
    # visual comparison on the first panorama
    if compare:
        vis = sorted(compare["views"])
        labels = ["Ground truth"] + [r.label for r in rows if r.label in compare["views"][vis[0]]]
        fig, axes = plt.subplots(len(vis), len(labels), figsize=(2.6 * len(labels), 2.5 * len(vis) + 0.4),
                                 squeeze=False, layout="constrained")
        for a, vi in zip(axes, vis):
            d = compare["views"][vi]
            for ax, lab in zip(a, labels):
                img, p = (d["gt"], None) if lab == "Ground truth" else d[lab]
                ax.imshow(img)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(lab if p is None else f"{lab}\n{p:.2f} dB", fontsize=7)
            v = views[vi]
            a[0].set_ylabel(f"v{vi} ({v.yaw:g},{v.pitch:g})", fontsize=8)
        fig.suptitle(f"{compare['image']}: viewports and PSNR against the ground truth", fontsize=9)
        fig.savefig(out_dir / "compare.png", dpi=110)
        plt.close(fig)
        made.append("compare.png")
    return made


def _signed(v, nd=2):
    return "n/a" if v is None else f"{v:+.{nd}f}"


def render_report(summary, rows, views, plots) -> str:
    c, table, ch = summary["config"], summary["table"], summary["checks"]
    n_img, n_v = len(c["images"]), len(views)
    L = []
    L.append("# Rendered-viewport quality (`resvr eval`)\n")
    L.append(f"- Panoramas: {n_img} from `{c['folder']}` ({', '.join(c['images'])})")
    L.append(f"- Viewports: {n_v} view directions, FoV ({c['fov'][0]:g}°, {c['fov'][1]:g}°) at "
             f"{c['size'][0]}x{c['size'][1]}; ground truth: bicubic viewport from the HR ERP (`reference`)")
    L.append(f"- Target rate: {c['bpp']:g} bpp (real file size x 8 / HR pixels); device {c['device']}, "
             f"{c['threads']} torch threads; wall time {c['wall_s']:.0f} s")
    for t, cd in c["codecs"].items():
        if cd["weights"]:
            it = f", {cd['iterations']} iterations" if cd.get("iterations") is not None else ""
            L.append(f"- `{t}` weights: `{cd['weights']}` (sha1 {cd['sha1'][:12]}, name {cd['name']}, "
                     f"version {cd['version']}{it})")
    if c.get("command"):
        L.append(f"- Command: `{c['command']}`")
    L.append("- Metrics on the uint8 viewports (as `resvr render` writes them); PSNR/SSIM/LPIPS are means over "
             "panoramas x views, bpp and WS-PSNR means over panoramas.\n")

    L.append(f"## Table 1 layout (mean over {n_img} panoramas x {n_v} views)\n")
    L.append("| Down & Compression & Up & Render | bpp↓ | WS-PSNR↑ | PSNR↑ | SSIM↑ | LPIPS↓ |")
    L.append("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if r.key in table:
            t = table[r.key]
            L.append(f"| {r.label} | {_fmt(t['bpp'], 3)} | {_fmt(t['ws_psnr'], 2, 'N/A')} | {_fmt(t['psnr'])} | "
                     f"{_fmt(t['ssim'], 4)} | {_fmt(t['lpips'], 4)} |")
    L.append("")
    L.append(f"WS-PSNR: {WS_PSNR_NOTE}")
    for n in summary["notes"]:
        L.append(f"\nNote: {n}")
    L.append("")

    L.append("## Margins and bars (issue 4)\n")
    m1, m2 = ch["margin_resvr_ht"], ch["margin_ht_jpeg"]
    L.append(f"- PSNR(ResVR) − PSNR(HyperThumbnail & Bicubic) = **{_signed(m1)} dB** "
             f"(paper: +{PAPER['resvr_vs_ht'][0]} dB ODI-SR, +{PAPER['resvr_vs_ht'][1]} dB SUN360)")
    L.append(f"- PSNR(HyperThumbnail & Bicubic) − PSNR(Bicubic & JPEG & Bicubic) = **{_signed(m2)} dB** "
             f"(paper: +{PAPER['ht_vs_jpeg'][0]} dB ODI-SR, +{PAPER['ht_vs_jpeg'][1]} dB SUN360)")
    b = ch["bpp_in_range"]
    if b["values"]:
        vals = ", ".join(f"{table[k]['label']} {v:.3f}" for k, v in b["values"].items())
        L.append(f"- bpp within {b['target']:g} ± 0.03: {'met' if b['met'] else '**not met**'} ({vals})")
    if ch["ordering_met"] is not None:
        L.append(f"- PSNR(ResVR) > PSNR(HT & Bicubic) > PSNR(Bic & JPEG & Bic): "
                 f"{'met' if ch['ordering_met'] else '**not met**'} ({_fmt(table['resvr']['psnr'])} / "
                 f"{_fmt(table['ht-bic']['psnr'])} / {_fmt(table['bic-jpeg-bic']['psnr'])} dB)")
    if "resvr" in table and "ht-bic" in table:
        ims = table["resvr"]["per_image"]
        wins = sum(1 for im, v in ims.items() if im in table["ht-bic"]["per_image"]
                   and v["psnr"] > table["ht-bic"]["per_image"][im]["psnr"])
        L.append(f"- ResVR beats HyperThumbnail & Bicubic on {wins}/{len(ims)} panoramas (mean PSNR over views)")
    for k, a in ch["ablations"].items():
        d = a["delta"]
        L.append(f"- ResVR − {a['label']}: high latitude {_signed(d['high_lat'])} dB, seam {_signed(d['seam'])} dB, "
                 f"all views {_signed(d['all'])} dB → ResVR no worse than this ablation at high-latitude and seam views: "
                 f"{'n/a (no such views)' if a['no_worse'] is None else 'met' if a['no_worse'] else '**not met**'}")
    L.append("")

    L.append("## PSNR by view group (dB, mean over panoramas)\n")
    L.append(f"High latitude: |pitch| ≥ {HIGH_LAT:g}°; seam: centred on lon ±180° (yaw 180°); other: the rest.\n")
    L.append("| Method | all | high latitude | seam | other |")
    L.append("|---|---:|---:|---:|---:|")
    for r in rows:
        if r.key in table:
            g = table[r.key]["groups"]
            L.append(f"| {r.label} | " + " | ".join(_fmt(g[k]) for k in ("all", "high_lat", "seam", "other")) + " |")
    L.append("")

    L.append("## PSNR per view direction (dB, mean over panoramas)\n")
    heads = [view_name(i, v.yaw, v.pitch) for i, v in enumerate(views)]
    L.append("| Method | " + " | ".join(heads) + " |")
    L.append("|---|" + "---:|" * len(views))
    for r in rows:
        if r.key in table:
            L.append(f"| {r.label} | " + " | ".join(_fmt(y) for y in table[r.key]["per_view"]) + " |")
    L.append("")
    if "psnr_per_view.png" in plots:
        L.append("![PSNR per view direction](psnr_per_view.png)\n")
    if "compare.png" in plots:
        L.append("![Viewports of the first panorama](compare.png)\n")

    if summary["rd"]:
        L.append("## Rate–distortion\n")
        L.append(f"PSNR only, over the first {c['rd_images']} panoramas x the first {c['rd_views']} view directions "
                 f"({', '.join(heads[:c['rd_views']])}) to bound the time; the point at {c['bpp']:g} bpp reuses the "
                 "main measurements. Targets the codec cannot reach give the closest real bpp.\n")
        L.append("| Method | " + " | ".join(f"target {t:g}" for t in c["rd_bpps"]) + " |")
        L.append("|---|" + "---:|" * len(c["rd_bpps"]))
        for k, d in summary["rd"].items():
            cells = []
            by_t = {p["target_bpp"]: p for p in d["points"]}
            for t in c["rd_bpps"]:
                p = by_t.get(t)
                cells.append("—" if p is None else f"{_fmt(p['psnr'])} dB @ {p['bpp']:.3f}")
            L.append(f"| {d['label']} | " + " | ".join(cells) + " |")
        L.append("")
        if "rd_curve.png" in plots:
            L.append("![Rate-distortion](rd_curve.png)\n")

    L.append("## Per panorama\n")
    for rec in summary["per_image"]:
        im = rec["image"]
        L.append(f"### {im} ({rec['width']}x{rec['height']})\n")
        L.append("| Down & Compression & Up & Render | bpp↓ | WS-PSNR↑ | PSNR↑ | SSIM↑ | LPIPS↓ |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for r in rows:
            p = (table.get(r.key) or {}).get("per_image", {}).get(im)
            if p:
                L.append(f"| {r.label} | {_fmt(p['bpp'], 3)} | {_fmt(p['ws_psnr'], 2, 'N/A')} | {_fmt(p['psnr'])} | "
                         f"{_fmt(p['ssim'], 4)} | {_fmt(p['lpips'], 4)} |")
        L.append("")

    L.append("## Run time (for visibility only; speed belongs to `resvr bench`)\n")
    L.append("| Panorama | total s | encode s | prepare s | metrics s | render s per method |")
    L.append("|---|---:|---:|---:|---:|---|")
    for rec in summary["per_image"]:
        t = rec["timing"]
        L.append(f"| {rec['image']} | {rec['seconds']:.1f} | {t['encode']:.1f} | {t['prepare']:.1f} | "
                 f"{t['metrics']:.1f} | "
                 + ", ".join(f"{k} {v:.1f}" for k, v in t["render"].items()) + " |")
    L.append("")
    L.append("Files: `results.csv` (one row per panorama x method x view), `rd.csv` (rate–distortion points), "
             "`summary.json`, `files/` (the encoded LR JPEGs, reused by a re-run when the HR file, the weights "
             "and the target are unchanged).")
    return "\n".join(L) + "\n"


# ----------------------------------------------------------------------------- CLI
def _float_list(text) -> tuple[float, ...]:
    if text is None:
        return ()
    if isinstance(text, (list, tuple)):
        return tuple(float(x) for x in text)
    t = str(text).strip().lower()
    if t in ("", "none", "off", "0"):
        return ()
    try:
        vals = tuple(float(x) for x in t.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--rd-bpps expects numbers separated by commas, got {text!r}") from None
    if any(v <= 0 for v in vals):
        raise ValueError(f"--rd-bpps must be positive, got {text!r}")
    return vals


def eval_main(args) -> int:
    """``resvr eval`` (see core/cli.py for the arguments)."""
    from .errors import UsageError

    if args.views < 1:
        raise UsageError("--views must be at least 1")
    abl = {}
    for text in getattr(args, "ablation", None) or []:
        try:
            name, path = parse_ablation(text)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if not Path(path).is_file():
            raise BadInput(f"{path}: no such weights file (--ablation {name})")
        abl[name] = path
    for opt in ("resvr_weights", "ht_weights"):
        p = getattr(args, opt, None)
        if p and not Path(p).is_file():
            raise BadInput(f"{p}: no such weights file (--{opt.replace('_', '-')})")
    methods = None
    if getattr(args, "methods", None):
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    quiet = bool(getattr(args, "quiet", False))
    evaluate(args.input, args.output, bpp=args.bpp, fov=args.fov, size=args.size, n_views=args.views,
             resvr_weights=getattr(args, "resvr_weights", None), ht_weights=getattr(args, "ht_weights", None),
             ablations=abl, methods=methods, device=None if args.device == "auto" else args.device,
             rd_bpps=_float_list(getattr(args, "rd_bpps", "0.2,0.3,0.4,0.5")), rd_views=getattr(args, "rd_views", 3),
             rd_images=getattr(args, "rd_images", 0) or None, max_images=getattr(args, "max_images", 0) or None,
             lpips=not getattr(args, "no_lpips", False), reencode=getattr(args, "reencode", False),
             overwrite=args.overwrite, progress=not quiet, log=(lambda m: None) if quiet else None,
             command="resvr " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("resvr") else None)
    return 0
