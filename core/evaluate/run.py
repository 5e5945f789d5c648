"""The measuring half of ``resvr eval``: encode, render, measure, and write ``run.json``.

For every HR panorama (PNG/JPEG) in a folder:

1. encode it with every codec at the target bpp (real file size over the HR pixel count): the
   registry's encode methods (``core.encode``) and any ablation weights. Files go to ``OUT/files/``
   with a JSON sidecar (HR file identity, weights SHA-1, target); a re-run whose sidecar matches
   reuses the file instead of encoding.
2. render fixed view directions (``views.view_directions``) with every method row and with the
   ground truth, the ``reference`` method (bicubic viewport from the HR ERP);
3. measure, per view, PSNR, SSIM and LPIPS (or "n/a") of the uint8-quantised viewport (what
   ``resvr render`` writes as PNG) against the uint8-quantised ground truth (``core.metrics``);
   per image the real bpp and the WS-PSNR of the HR ERP where the method produces one.

Everything measured goes to ``OUT/run.json`` (plus the viewports of ``compare.png`` as PNGs in
``OUT/compare/``); ``report`` turns that file into the report, and ``resvr eval --report-only
RUN.json`` does so again without measuring.

The rate-distortion curve re-encodes at several targets and, to bound the time, measures only
PSNR on the first ``rd_views`` view directions of the first ``rd_images`` panoramas; the point at
the main target reuses the main measurements.
"""
from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import MethodUnavailable
from .rows import ABLATION_PREFIX, BASE_ROWS, RD_ROWS, ROW_KEYS, Codec, Row, file_sha1, list_panoramas, slug, weights_path
from .views import compare_views, view_directions, view_groups, view_name

RUN_FORMAT = "resvr-eval-run/1"
RD_FIELDS = ("image", "method", "label", "target_bpp", "bpp", "view", "yaw", "pitch", "psnr")


class _Log:
    def __init__(self, progress: bool, log):
        self.progress, self._log = progress, log

    def __call__(self, msg: str):
        if self._log is not None:
            self._log(msg)
        elif self.progress:
            from tqdm import tqdm

            tqdm.write(msg, file=sys.stderr)


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


class EvalRun:
    """One evaluation: the methods set up once, then :meth:`run_image` per panorama."""

    def __init__(self, folder, out_dir, bpp=0.3, fov=(120.0, 90.0), size=(1024, 768), n_views=10,
                 weights=None, ablations=None, methods=None, device=None,
                 rd_bpps=(0.2, 0.3, 0.4, 0.5), rd_views=3, rd_images=None, max_images=None, lpips=True,
                 reencode=False, progress=True, log=None, command=None):
        from ..device import pick_device
        from ..geometry import View

        self.t_start = time.perf_counter()
        self.say, self.progress, self.command = _Log(progress, log), progress, command
        self.folder, self.out_dir = Path(folder), Path(out_dir)
        self.images = list_panoramas(self.folder)[:max_images or None]
        self.dev = pick_device(device)
        self.dev_name = str(self.dev)  # the methods take a device name
        self.bpp, self.reencode = bpp, reencode
        self.fov_h, self.fov_v = map(float, fov)
        self.vw, self.vh = map(int, size)
        self.dirs = view_directions(n_views)
        self.views = [View(y, p, self.fov_h, self.fov_v, self.vw, self.vh) for y, p in self.dirs]
        self.rd_bpps = sorted({round(float(b), 4) for b in (rd_bpps or ())} |
                              ({round(float(bpp), 4)} if rd_bpps else set()))
        self.rd_nv = max(1, min(int(rd_views), len(self.views)))
        self.rd_ni = len(self.images) if not rd_images else min(int(rd_images), len(self.images))
        self.notes: list[str] = []
        self.codecs: dict[str, Codec] = {}
        self.renderers: dict[str, object] = {}
        self._setup_rows(methods, weights or {}, ablations or {})
        self.lp = self._setup_lpips(lpips)
        self.files_dir = self.out_dir / "files"
        self.results: list[dict] = []      # one per image x row x view
        self.rd_results: list[dict] = []   # one per image x RD row x RD target x RD view
        self.per_image: list[dict] = []
        self.compare: dict | None = None
        self.rd_keys = [r.key for r in self.rows if r.key in RD_ROWS or r.codec.startswith(ABLATION_PREFIX)]

    # ------------------------------------------------------------------ set-up
    def _setup_rows(self, methods, explicit: dict, ablations: dict) -> None:
        """The method rows and their renderers; ``explicit``: method id -> weights given (else the
        shipped ones); ``ablations``: name -> weights of the primary method, one extra row each."""
        from .. import registry
        from ..methods import get_method

        wanted = list(methods) if methods else list(ROW_KEYS)
        bad = [m for m in wanted if m not in ROW_KEYS]
        if bad:
            raise ValueError(f"unknown method row(s) {', '.join(bad)}; choose from {', '.join(ROW_KEYS)}")
        self.rows = [r for r in BASE_ROWS if r.key in wanted]
        for info in registry.METHODS:
            tag = info.tag
            if not info.eval_rows or not any(r.codec == tag for r in self.rows):
                continue
            if not info.learned:   # a classic codec: its rows render with the render methods they name
                self.codecs[tag] = Codec(tag, info.id)
                for r in self.rows:
                    if r.codec == tag:
                        self.renderers[f"{tag}:{r.mode}"] = get_method(r.mode, device=self.dev_name)
                continue
            wp = weights_path(info.id, explicit.get(info.id))
            try:
                meth = get_method(info.id, device=self.dev_name, weights=wp)
            except MethodUnavailable as e:
                if explicit.get(info.id):
                    raise
                msg = f"{info.id} rows skipped: {e}"
                warnings.warn(msg)
                self.notes.append(msg)
                self.rows = [r for r in self.rows if r.codec != tag]
                continue
            self.codecs[tag] = Codec(tag, info.id, wp, file_sha1(wp), dict(meth.winfo))
            self.renderers[tag] = meth
        primary = registry.get(registry.PRIMARY)
        for name, path in ablations.items():
            tag = f"{ABLATION_PREFIX}{slug(name)}"
            if tag in self.codecs:
                raise ValueError(f"two ablations named like {name!r}")
            meth = get_method(primary.id, device=self.dev_name, weights=path)
            self.codecs[tag] = Codec(tag, primary.id, Path(path), file_sha1(path), dict(meth.winfo))
            self.renderers[tag] = meth
            self.rows.append(Row(tag, f"{primary.label} ({name})", tag, primary.id))
        if not self.rows:
            raise MethodUnavailable("no method rows left to evaluate")
        self.reference = get_method(registry.reference_id(), device=self.dev_name)

    def _setup_lpips(self, lpips):
        from ..metrics import LPIPSMetric

        if lpips is True:
            lp = LPIPSMetric(device=self.dev)
            if not lp.available:
                self.say(lp.reason)
                self.notes.append(lp.reason)
                return None
            return lp
        if lpips is False or lpips is None:
            self.notes.append("LPIPS not computed (--no-lpips)")
            return None
        if not lpips.available:
            self.notes.append(lpips.reason or "LPIPS unavailable")
            return None
        return lpips

    # ------------------------------------------------------------------ the steps
    def encode(self, codec: Codec, hr_path: Path, target: float, hr_wh):
        """-> (file path, real bpp, was_cached, seconds)."""
        base = f"{hr_path.name}.{codec.tag}.bpp{target:.3f}"  # full name: a.png and a.jpg do not collide
        out, side = self.files_dir / f"{base}.jpg", self.files_dir / f"{base}.json"
        st = hr_path.stat()
        key = {"hr": hr_path.name, "hr_bytes": st.st_size, "hr_mtime_ns": st.st_mtime_ns, "codec": codec.tag,
               "kind": codec.kind, "weights_sha1": codec.sha1, "target_bpp": target, "scale": 4}
        if not self.reencode and out.exists() and side.exists():
            try:
                meta = json.loads(side.read_text())
                if meta.get("key") == key and meta.get("bytes") == out.stat().st_size:
                    return out, out.stat().st_size * 8.0 / (hr_wh[0] * hr_wh[1]), True, 0.0
            except (OSError, ValueError):
                pass
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if codec.weights is None:
                from ..encode import encode_jpeg

                res = encode_jpeg(hr_path, out, scale=4, bpp=target, overwrite=True, warn=warnings.warn)
            else:
                res = codec.encoder(self.dev_name).encode(hr_path, out, bpp=target, overwrite=True)
        for w in caught:
            if "not reachable" in str(w.message) or "resized" in str(w.message):
                self.say(f"warning: {' '.join(str(w.message).split())}")
        dt = time.perf_counter() - t0
        info = {k: v for k, v in res.items() if isinstance(v, (int, float, str, list, tuple))}
        side.write_text(json.dumps({"key": key, "bytes": out.stat().st_size, "encode_s": round(dt, 3),
                                    "result": info}, indent=1))
        return out, out.stat().st_size * 8.0 / (hr_wh[0] * hr_wh[1]), False, dt

    def _renderer(self, row: Row):
        if row.codec in self.renderers:
            m = self.renderers[row.codec]
            if row.mode != m.name:   # a learned method that decodes an HR ERP, viewed in this mode
                m.mode = row.mode
            return m
        return self.renderers[f"{row.codec}:{row.mode}"]

    def prepare(self, tag: str, path: Path, views=()) -> None:
        for key, m in self.renderers.items():
            if key == tag or key.startswith(tag + ":"):
                m.prepare(path)
                m.plan(views)

    def hr_erp_of(self, tag: str, hr_t: torch.Tensor):
        """The HR ERP a codec's pipeline produces (uint8 (3, H, W)), or None (ResVR)."""
        from ..imageio import load_image

        H, W = hr_t.shape[-2:]
        codec = self.codecs[tag]
        if codec.weights is None:   # the classic codec: a bicubic upsample of its LR file
            path = next(m.path for k, m in self.renderers.items() if k.startswith(tag + ":"))
            return bicubic_upsample_erp(load_image(path), (H, W))
        dec = getattr(self.renderers[tag], "hr", None)
        if dec is None:
            return None
        dec = dec.cpu()
        if tuple(dec.shape[-2:]) != (H, W):
            import torch.nn.functional as F

            x = F.interpolate(dec[None].float(), size=(H, W), mode="bicubic", align_corners=False)[0]
            dec = (x.clamp(0, 255) + 0.5).to(torch.uint8)
            note = (f"{tag.upper()}: the codec resized the HR to a multiple of its block size; WS-PSNR resizes "
                    "back (bicubic)")
            if note not in self.notes:
                self.notes.append(note)
        return dec

    # ------------------------------------------------------------------ one panorama
    def run_image(self, ii: int, hr_path: Path, bar: dict) -> None:
        from tqdm import tqdm

        from ..imageio import load_image

        t_img = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hr = load_image(hr_path)
        H, W = hr.shape[:2]
        hr_t = torch.from_numpy(hr).permute(2, 0, 1).contiguous()
        self.reference.prepare(hr_path)
        self._gts = {}
        timing = {"encode": 0.0, "prepare": 0.0, "render": {}, "metrics": 0.0}
        rec = {"image": hr_path.name, "width": W, "height": H, "bpp": {}, "ws_psnr": {}, "cached": []}
        targets = [self.bpp] + ([b for b in self.rd_bpps if abs(b - self.bpp) > 1e-9] if ii < self.rd_ni else [])
        n_tasks = len(self.rows) * len(self.views) + (len(targets) - 1) * len(self.rd_keys) * self.rd_nv
        tty = sys.stderr.isatty()
        inner = tqdm(total=n_tasks, desc=hr_path.stem[:24], unit="view", leave=False,  # not in a log file
                     **dict(bar, disable=not (self.progress and tty)))
        for target in targets:
            self._run_target(ii, hr_path, hr_t, target, rec, timing, inner)
        inner.close()
        dt_img = time.perf_counter() - t_img
        rec["seconds"] = round(dt_img, 2)
        rec["timing"] = {"encode": round(timing["encode"], 2), "prepare": round(timing["prepare"], 2),
                         "metrics": round(timing["metrics"], 2),
                         "render": {k: round(v, 2) for k, v in timing["render"].items()}}
        self.per_image.append(rec)
        rtxt = ", ".join(f"{k} {v:.1f}" for k, v in timing["render"].items())
        cached = f", {len(rec['cached'])} files cached" if rec["cached"] else ""
        self.say(f"[{ii + 1}/{len(self.images)}] {hr_path.name} ({W}x{H}): {dt_img:.1f} s "
                 f"(encode {timing['encode']:.1f} s{cached}, "
                 f"prepare {timing['prepare']:.1f} s, render {rtxt} s, metrics {timing['metrics']:.1f} s)")

    def _gt(self, vi: int) -> np.ndarray:
        from ..imageio import to_uint8

        if vi not in self._gts:
            self._gts[vi] = to_uint8(self.reference.render(self.views[vi]))
        return self._gts[vi]

    def _run_target(self, ii, hr_path, hr_t, target, rec, timing, inner) -> None:
        H, W = hr_t.shape[-2:]
        main = abs(target - self.bpp) < 1e-9
        tags = [t for t in self.codecs if main or any(r.codec == t and r.key in self.rd_keys for r in self.rows)]
        got = {}
        for tag in tags:
            path, real, cached, dt = self.encode(self.codecs[tag], hr_path, target, (W, H))
            timing["encode"] += dt
            if cached:
                rec["cached"].append(path.name)
            got[tag] = (path, real)
        for tag in tags:
            t0 = time.perf_counter()
            self.prepare(tag, got[tag][0], self.views if main else self.views[:self.rd_nv])
            timing["prepare"] += time.perf_counter() - t0
            if main:
                from ..metrics import ws_psnr_u8

                rec["bpp"][tag] = got[tag][1]
                erp = self.hr_erp_of(tag, hr_t)
                rec["ws_psnr"][tag] = None if erp is None else ws_psnr_u8(erp, hr_t)
            for row in (r for r in self.rows if r.codec == tag and (main or r.key in self.rd_keys)):
                for vi in range(len(self.views) if main else self.rd_nv):
                    self._measure(ii, hr_path, row, vi, target, got[tag], rec, timing, main)
                    inner.update(1)
                    v = self.views[vi]
                    inner.set_postfix_str(f"{row.key} {view_name(vi, v.yaw, v.pitch)}", refresh=False)

    def _measure(self, ii, hr_path, row, vi, target, got, rec, timing, main) -> None:
        from ..imageio import to_uint8
        from ..metrics import psnr, ssim

        v = self.views[vi]
        t0 = time.perf_counter()
        out = to_uint8(self._renderer(row).render(v))
        timing["render"][row.key] = timing["render"].get(row.key, 0.0) + time.perf_counter() - t0
        t0 = time.perf_counter()
        g = self._gt(vi)
        p = psnr(out, g)
        r = {"image": hr_path.name, "method": row.key, "label": row.label, "file": got[0].name,
             "target_bpp": target, "bpp": got[1], "view": vi, "yaw": v.yaw, "pitch": v.pitch,
             **view_groups(v.yaw, v.pitch), "psnr": p}
        if main:
            r.update(width=rec["width"], height=rec["height"], fov_h=self.fov_h, fov_v=self.fov_v,
                     view_w=self.vw, view_h=self.vh, ws_psnr=rec["ws_psnr"][row.codec],
                     ssim=ssim(out, g) if min(self.vw, self.vh) >= 11 else None,
                     lpips=self.lp(out, g) if self.lp is not None else None)
            self.results.append(r)
            if ii == 0 and vi in compare_views(self.dirs):
                self._keep_for_compare(hr_path.name, vi, row, out, g, p)
        if (not main or (vi < self.rd_nv and ii < self.rd_ni and row.key in self.rd_keys)) and self.rd_bpps:
            self.rd_results.append({k: r[k] for k in RD_FIELDS})
        timing["metrics"] += time.perf_counter() - t0

    def _keep_for_compare(self, image: str, vi: int, row: Row, out, gt, p: float) -> None:
        """The viewports of compare.png, saved as PNGs under OUT/compare/ (run.json names them)."""
        from ..imageio import save_png

        folder = self.out_dir / "compare"
        folder.mkdir(parents=True, exist_ok=True)
        self.compare = self.compare or {"image": image, "views": {}}
        d = self.compare["views"].setdefault(str(vi), {"gt": f"compare/v{vi}_gt.png", "rows": {}})
        if len(d["rows"]) == 0:
            save_png(self.out_dir / d["gt"], gt, overwrite=True)
        name = f"compare/v{vi}_{row.key}.png"
        save_png(self.out_dir / name, out, overwrite=True)
        d["rows"][row.label] = [name, p]

    # ------------------------------------------------------------------ the whole run
    def run(self) -> dict:
        """Measure every panorama; -> the run's data (what run.json holds)."""
        from tqdm import tqdm

        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.say(f"resvr eval: {len(self.images)} panoramas x {len(self.views)} views ({self.fov_h:g}x{self.fov_v:g} "
                 f"deg, {self.vw}x{self.vh}) x {len(self.rows)} methods at {self.bpp:g} bpp on {self.dev}, "
                 f"{torch.get_num_threads()} threads; " +
                 (f"RD at {', '.join(f'{b:g}' for b in self.rd_bpps)} bpp over {self.rd_ni} panoramas x "
                  f"{self.rd_nv} views" if self.rd_bpps else "no RD curve"))
        tty = sys.stderr.isatty()
        bar = dict(disable=not self.progress, file=sys.stderr, mininterval=0.5 if tty else 30.0)
        for ii, hr_path in enumerate(tqdm(self.images, desc="panoramas", unit="img", **bar)):
            self.run_image(ii, hr_path, bar)
        return self.data(time.perf_counter() - self.t_start)

    def data(self, wall: float) -> dict:
        cfg = {"folder": str(self.folder), "images": [p.name for p in self.images], "bpp": self.bpp,
               "fov": [self.fov_h, self.fov_v], "size": [self.vw, self.vh], "views": [list(d) for d in self.dirs],
               "device": str(self.dev), "threads": torch.get_num_threads(), "rd_bpps": self.rd_bpps,
               "rd_views": self.rd_nv, "rd_images": self.rd_ni, "lpips": self.lp is not None,
               "wall_s": round(wall, 1), "command": self.command,
               "codecs": {t: {"kind": c.kind, "weights": str(c.weights) if c.weights else None, "sha1": c.sha1,
                              "name": c.info.get("name"), "version": c.info.get("version"),
                              "iterations": (c.info.get("meta") or {}).get("iterations")}
                          for t, c in self.codecs.items()}}
        return {"format": RUN_FORMAT, "config": cfg, "rows": [vars(r) for r in self.rows], "results": self.results,
                "rd_results": self.rd_results, "per_image": self.per_image, "notes": self.notes,
                "compare": self.compare}
