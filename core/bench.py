"""``resvr bench``: speed and memory of every method, measured in one run, written as a table.

    resvr bench [--threads N] [-o REPORT_DIR] [--device auto|cpu|cuda] [--quick]
                [--resvr-weights PT] [--ht-weights PT] [--photos DIR] [--repeats N] [--compile]

Without any learned weights (defaults: assets/weights/*.pt) it stops with exit code 1. Run it
under ``xvfb-run -a`` on a machine without a display to get the GL pane's frame rate.

What it measures (DESIGN.md "Measuring"; issue 6):

* **Viewport latency** for 512x512, 1024x768, 1024x1024 and 2048x1536 (field of view 120x90) from
  a 2048x1024 panorama, per method (bilinear, bicubic, hyperthumbnail, resvr): the median wall
  time of ``render`` over a drag sweep of views after a warm-up, and the peak memory that the
  renders add (CPU: peak RSS over the RSS before, read from the kernel's high-water mark
  ``VmHWM``, reset through ``/proc/self/clear_refs``; elsewhere a sampling thread; CUDA:
  ``max_memory_allocated``). Each method runs in a fresh subprocess.
* **One-off cost per image**: JPEG decode, ResVR's encoder table (all tiles), HyperThumbnail's
  DCT read and full-ERP decode.
* **ResVR arithmetic**: MACs per viewport pixel from ``VRModule.macs_per_neighbour`` (4
  neighbours), the resulting GFLOP per view, the throughput the renders reach and that of a bf16
  (CPU) / fp16 (CUDA) GEMM of the MLP's shape on this machine, and the fast-vs-fp32 PSNR.
* **GL pane fps** via ``resvr.viewer.fps.measure_gl_fps`` in a subprocess under ``$DISPLAY``
  ("no display" otherwise).
* **Encode time** of a 2048x1024 panorama with the learned encoders (0.3 bpp).
* **The NeRV360 argument**: time to the first 1024x768 view (per-image work included), each
  further view of a drag, and peak memory, ResVR against HyperThumbnail, for 2048x1024,
  4096x2048 and 8192x4096 panoramas, one fresh subprocess per method and size. ResVR is measured
  with its lazily built table (the default) and with the whole table built up front.

Panoramas are synthesised (procedural texture, or cube maps of the photographs in ``--photos``
through ``train.data.synth_cubemap_erp``), so the bench needs no data folder. The 2048x1024
panorama is encoded with the learned encoders; for the NeRV360 sizes the LR file (a quarter of the
HR size) is synthesised directly as a standard 4:4:4 JPEG: decoding cost does not depend on how
the LR image was made, and the 8192x4096 HR original is never needed.

Writes REPORT_DIR/bench.json (everything) and REPORT_DIR/bench.md (tables, ratios, targets).
Absolute CPU times depend on what else runs: the load average is recorded and flagged.
"""
from __future__ import annotations

import gc
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

VIEW_SIZES = ((512, 512), (1024, 768), (1024, 1024), (2048, 1536))
NERV_SIZES = ((2048, 1024), (4096, 2048), (8192, 4096))
FOV = (120.0, 90.0)
METHODS = ("bilinear", "bicubic", "hyperthumbnail", "resvr")
QUICK = {"view_sizes": ((128, 96), (160, 128)), "nerv_sizes": ((256, 128), (512, 256)), "pano": (256, 128),
         "first_view": (128, 96), "repeats": 2, "further": 2}
FULL = {"view_sizes": VIEW_SIZES, "nerv_sizes": NERV_SIZES, "pano": (2048, 1024), "first_view": (1024, 768),
        "repeats": 5, "further": 4}
TARGET_CPU_S = 0.40     # a further 1024x768 ResVR view on the CPU (2 cores; issue 11)
TARGET_CUDA_MS = 15.0   # a 1024x1024 ResVR view on CUDA in fp16
TARGET_PSNR = 45.0      # fast path against the fp32 path


# ============================================================================ memory / timing
def _proc_status(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _rss() -> int:
    v = _proc_status("VmRSS")
    if v is not None:
        return v
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except Exception:  # noqa: BLE001
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def _trim() -> None:
    """Give freed heap memory back to the OS so the next baseline RSS is honest."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except Exception:  # noqa: BLE001
        pass


class PeakMemory:
    """Peak memory a stage adds: CPU RSS high-water mark over the RSS at ``start``, and on CUDA
    ``max_memory_allocated`` over the allocation at ``start``."""

    def __init__(self, device):
        self.device = device
        self.how = None

    def start(self):
        import torch

        _trim()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.cuda0 = torch.cuda.memory_allocated()
        self.rss0 = _rss()
        self._stop = None
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")                       # resets VmHWM to the current RSS
            self.how = "VmHWM"
        except OSError:
            self.how = "sampled"
            self.samples = [self.rss0]
            self._stop = threading.Event()

            def run():
                while not self._stop.is_set():
                    self.samples.append(_rss())
                    time.sleep(0.002)

            self._thread = threading.Thread(target=run, daemon=True)
            self._thread.start()
        return self

    def peek(self) -> dict:
        """The peak so far, without stopping."""
        return self.stop(keep=True)

    def stop(self, keep: bool = False) -> dict:
        import torch

        if self.how == "VmHWM":
            peak = _proc_status("VmHWM") or _rss()
        else:
            if not keep:
                self._stop.set()
                self._thread.join()
            peak = max(self.samples + [_rss()])
        out = {"cpu_peak_mb": round(max(0, peak - self.rss0) / 2**20, 1), "cpu_rss_mb": round(self.rss0 / 2**20, 1),
               "mem_method": self.how}
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            out["cuda_peak_mb"] = round((torch.cuda.max_memory_allocated() - self.cuda0) / 2**20, 1)
        return out


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(device, fn):
    _sync(device)
    t = time.perf_counter()
    r = fn()
    _sync(device)
    return time.perf_counter() - t, r


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return None if n == 0 else (xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2]))


def _peak_mb(mem: dict) -> float:
    return mem.get("cuda_peak_mb", mem["cpu_peak_mb"])


# ============================================================================ synthetic inputs
def synth_panorama(width: int, height: int, seed: int = 0, photos=None):
    """uint8 (height, width, 3) ERP: cube map of photographs when given, else a procedural,
    seam-continuous texture with detail at every scale."""
    import numpy as np

    if photos:
        import random

        from .train.data import synth_cubemap_erp

        erp = synth_cubemap_erp(photos, height, random.Random(seed))
        return erp.permute(1, 2, 0).numpy()
    rng = np.random.default_rng(seed)
    lon = (np.arange(width) + 0.5) / width * 2 * np.pi
    lat = (0.5 - (np.arange(height) + 0.5) / height) * np.pi
    img = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        for octave in range(7):
            k = 2 ** octave
            for _ in range(3):
                a = rng.integers(1, 3 * k + 1)
                b = rng.uniform(1, 3 * k)
                ph = rng.uniform(0, 2 * np.pi)
                img[..., c] += (np.sin(a * lon[None, :] + b * lat[:, None] + ph) / (1 + octave)).astype(np.float32)
    img -= img.min()
    img /= max(1e-6, float(img.max()))
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 230 + 12).astype(np.uint8)


def write_lr_jpeg(path, lr_uint8, quality: int = 90) -> Path:
    from .jpeg.container import write_jpeg_pixels

    return write_jpeg_pixels(path, lr_uint8, quality, overwrite=True)


def _load_photos(folder, n: int = 12):
    from .train.data import list_images, load_rgb

    return [load_rgb(p, max_side=1280) for p in list_images(folder)[:n]]


# ============================================================================ worker side
def _make_method(name, device, weights, fast=True, lazy=True, compile_=False, fused=True, amx=True):
    from .methods import HyperThumbnailMethod, ResVRMethod, get_method

    if name == "resvr":
        return ResVRMethod(device, weights, fast=fast, lazy=lazy, compile=compile_, fused=fused, amx=amx)
    if name == "hyperthumbnail":
        return HyperThumbnailMethod(device, weights, fast=fast)
    return get_method(name, device=device)


def _drag(first, n, width, height):
    """The views of a drag after ``first``: 10 degrees of yaw apart, pitch wandering a little."""
    from .geometry import View

    return [View(first.yaw + 10.0 * (i + 1), first.pitch + (5.0 if i % 2 else -5.0), *FOV, width, height)
            for i in range(n)]


def _gemm_gflops(device, k_in: int, k_out: int, rows: int = 1 << 15) -> float:
    """Throughput of the MLP's first Linear in the fast dtype (bf16 CPU / fp16 CUDA)."""
    import torch

    dt = torch.bfloat16 if device.type == "cpu" else torch.float16
    x = torch.randn(rows, k_in, device=device, dtype=dt)
    w = torch.randn(k_out, k_in, device=device, dtype=dt)
    torch.nn.functional.linear(x, w)
    ts = []
    for _ in range(5):
        t, _ = _timed(device, lambda: torch.nn.functional.linear(x, w))
        ts.append(t)
    return 2.0 * rows * k_in * k_out / min(ts) / 1e9


def job_viewports(job: dict) -> dict:
    """One method: the one-off per-image costs, then each viewport size (warm, median, peak)."""
    import numpy as np
    import torch

    from .geometry import View
    from .imageio import load_image

    device = torch.device(job["device"])
    name = job["method"]
    res = {"method": name, "threads": torch.get_num_threads()}
    m = _make_method(name, job["device"], job.get("weights"), compile_=job.get("compile", False))
    path = job["lr"]
    one = {}
    one["jpeg_decode_s"] = _median([_timed(device, lambda: load_image(path))[0] for _ in range(3)])
    mem = PeakMemory(device).start()
    if name == "resvr":
        t, _ = _timed(device, lambda: m.prepare(path, lazy=True))
        t2, _ = _timed(device, m.prefetch)
        one.update(prepare_s=t, encoder_table_s=t2)
    elif name == "hyperthumbnail":
        t, (lr, deq) = _timed(device, lambda: m.read(path))
        one["dct_read_s"] = max(0.0, t - one["jpeg_decode_s"])
        t2, _ = _timed(device, lambda: m.decode(lr, deq))
        one["ht_full_decode_s"] = t2
        del lr, deq
        t3, _ = _timed(device, lambda: m.prepare(path))
        one["prepare_s"] = t3
    else:
        t, _ = _timed(device, lambda: m.prepare(path))
        one["prepare_s"] = t
    one["memory"] = mem.stop()
    res["one_off"] = one
    if name == "resvr":
        vr = m.vr
        macs = vr.macs_per_neighbour() * 4
        res["resvr_arith"] = {"macs_per_neighbour": vr.macs_per_neighbour(), "macs_per_pixel": macs,
                              "flops_per_pixel": 2 * macs, "trig_per_pixel": 4 * vr.amp,
                              "gemm_gflops": round(_gemm_gflops(device, vr.amp, vr.decoder[0].out_features), 1),
                              "amp": vr.amp, "hidden": vr.decoder[0].out_features,
                              "vr_params": sum(p.numel() for p in vr.parameters())}
    rows = []
    for (w, h) in job["sizes"]:
        first = View(30.0, 10.0, *FOV, w, h)
        t_warm, _ = _timed(device, lambda: m.render(first))
        views = _drag(first, job["repeats"], w, h)
        mem = PeakMemory(device).start()
        ts = []
        for v in views:
            t, _ = _timed(device, lambda: m.render(v))
            ts.append(t)
        rows.append({"size": [w, h], "median_s": _median(ts), "min_s": min(ts), "times_s": ts, "warmup_s": t_warm,
                     "memory": mem.stop()})
    res["views"] = rows
    if name == "resvr":
        # the query paths side by side on the same views: the default (measured above, first size)
        # against the fallbacks (the C kernel + oneDNN GEMMs without AMX tiles, and torch)
        res["query_path"] = m.query_path
        w, h = job["sizes"][0]
        views = _drag(View(30.0, 10.0, *FOV, w, h), job["repeats"], w, h)
        paths = {m.query_path: rows[0]["median_s"]}
        alts = {"amx": (("fused", {"amx": False}), ("torch", {"fused": False})), "fused": (("torch", {"fused": False}),)}
        for _alt, kw in alts.get(m.query_path, ()):
            alt = _make_method("resvr", job["device"], job.get("weights"), lazy=False, **kw)
            alt.prepare(path)
            alt.render(views[0])
            paths[alt.query_path] = _median([_timed(device, lambda: alt.render(v))[0] for v in views])
            del alt
        res["query_paths"] = {"size": [w, h], "median_s": paths}
    if name == "resvr" and job.get("psnr_size"):
        w, h = job["psnr_size"]
        v = View(30.0, 10.0, *FOV, w, h)
        fast = m.render(v)
        ref = _make_method("resvr", job["device"], job.get("weights"), fast=False)
        ref.prepare(path)
        slow = ref.render(v)
        mse = float(np.mean((fast.astype(np.float64) - slow.astype(np.float64)) ** 2))
        res["fast_vs_fp32_psnr_db"] = round(99.0 if mse == 0 else -10 * math.log10(mse), 2)
        res["psnr_size"] = [w, h]
    return res


def job_nerv(job: dict) -> dict:
    """First view (per-image work included), further views and peak memory for one panorama."""
    import torch

    from .geometry import View

    device = torch.device(job["device"])
    out = {"method": job["method"], "variant": job.get("variant", ""), "threads": torch.get_num_threads(), "runs": []}
    m = _make_method(job["method"], job["device"], job.get("weights"), lazy=job.get("lazy", True),
                     compile_=job.get("compile", False))
    w, h = job["view"]
    for lr_path, hr_size in job["files"]:
        first = View(30.0, 10.0, *FOV, w, h)
        mem = PeakMemory(device).start()
        t0 = time.perf_counter()
        _sync(device)
        m.prepare(lr_path)
        _sync(device)
        t_prep = time.perf_counter() - t0
        m.render(first)
        _sync(device)
        t_first = time.perf_counter() - t0
        mem_first = mem.peek()
        ts = []
        for v in _drag(first, job["further"], w, h):
            t, _ = _timed(device, lambda: m.render(v))
            ts.append(t)
        run = {"hr_size": hr_size, "prepare_s": t_prep, "first_view_s": t_first, "further_median_s": _median(ts),
               "further_s": ts, "memory_first": mem_first, "memory": mem.stop()}
        if job["method"] == "resvr":
            run["table_built"] = round(m.tiles_built(), 3)
        out["runs"].append(run)
        m.release()
        _trim()
    return out


def job_encode(job: dict) -> dict:
    import torch

    from .encode import LearnedEncoder
    from .imageio import load_image

    device = torch.device(job["device"])
    res = {}
    for method, weights, out in job["encoders"]:
        try:
            enc = LearnedEncoder(method, weights, job["device"])
            hr = load_image(job["hr"])
            t_an, _ = _timed(device, lambda: enc.analyse(hr))
            mem = PeakMemory(device).start()
            t, info = _timed(device, lambda: enc.encode(job["hr"], out, bpp=job["bpp"], overwrite=True))
            res[method] = {"encode_s": t, "analyse_s": t_an, "bpp": info["bpp"], "bytes": info["bytes"],
                           "lr_size": list(info["lr_size"]), "memory": mem.stop(), "path": out}
        except Exception as e:  # noqa: BLE001
            res[method] = {"error": f"{type(e).__name__}: {e}"}
    return res


JOBS = {"viewports": job_viewports, "nerv": job_nerv, "encode": job_encode}


def worker_main(job_file: str, result_file: str) -> int:
    job = json.loads(Path(job_file).read_text())
    threads = job.get("threads")
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    try:
        res = JOBS[job["kind"]](job)
    except Exception as e:  # noqa: BLE001
        import traceback

        res = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=6)}
    Path(result_file).write_text(json.dumps(res))
    return 0


# ============================================================================ driver side
def _run_job(job: dict, work: Path, timeout: float, log) -> dict:
    fd, jf = tempfile.mkstemp(suffix=".json", dir=work)
    os.close(fd)
    rf = jf[:-5] + ".out.json"
    Path(jf).write_text(json.dumps(job))
    env = dict(os.environ)
    if job.get("threads"):
        env["OMP_NUM_THREADS"] = str(job["threads"])
    label = f"{job['kind']} {job.get('method', '')} {job.get('variant', '')}".strip()
    log(f"  {label} ...")
    t = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, "-m", "resvr.core.bench", "--worker", jf, rf], env=env,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if not Path(rf).exists():
        tail = (p.stderr or p.stdout or "").strip().splitlines()[-3:]
        return {"error": f"worker exited {p.returncode}: {' | '.join(tail)}"}
    res = json.loads(Path(rf).read_text())
    log(f"  {label}: {time.perf_counter() - t:.1f} s" + (f"  ERROR {res['error']}" if "error" in res else ""))
    return res


def _machine(device: str) -> dict:
    import numpy as np
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem, "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "cpu_capability": getattr(torch.backends.cpu, "get_cpu_capability", lambda: None)(),
            "device": device}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _gl_fps(sizes, seconds: float, timeout: float, background=None) -> dict:
    """GL pane fps at each (w, h) of ``sizes``; then, for each (w, h, method, weights) of
    ``background``, the same while a worker thread renders 1024x768 viewports with that method."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return {"status": "no display"}
    res = {"status": "ok", "display": os.environ.get("DISPLAY"), "sizes": []}
    jobs = [(w, h, "") for (w, h) in sizes]
    jobs += [(w, h, f", background_render=True, method={m!r}, weights={None if wt is None else str(wt)!r}")
             for (w, h, m, wt) in background or []]
    for (w, h, extra) in jobs:
        secs = max(seconds, 8.0) if extra else seconds  # long enough for several learned renders
        code = ("import json,sys; from resvr.viewer.fps import measure_gl_fps; "
                f"print('@@'+json.dumps(measure_gl_fps({w}, {h}, {secs}{extra})))")
        try:
            p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            res["sizes"].append({"size": [w, h], "error": "timed out"})
            continue
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("@@")]
        if line:
            res["sizes"].append(dict(json.loads(line[-1][2:]), size=[w, h]))
        else:
            tail = (p.stderr or "").strip().splitlines()[-1:] or [f"exit {p.returncode}"]
            res["sizes"].append({"size": [w, h], "error": tail[0][:200]})
    return res


def _resolve_weights(arg, method: str):
    from .models.weights import default_weights_path

    p = Path(arg) if arg else default_weights_path(method)
    return str(p) if p.exists() else None


def _weights_info(path):
    if not path:
        return None
    try:
        import torch

        from .models.weights import safe_load

        blob = safe_load(path)
        meta = blob.get("meta", {}) if isinstance(blob, dict) else {}
        it = meta.get("iterations", blob.get("iter") if isinstance(blob, dict) else None)
        return {"path": str(path), "name": blob.get("name", Path(path).stem), "iterations": it}
    except Exception as e:  # noqa: BLE001
        return {"path": str(path), "error": str(e)}


def run_bench(out_dir, device: str = "auto", quick: bool = False, resvr_weights=None, ht_weights=None,
              photos=None, repeats: int | None = None, compile_: bool = False, threads: int | None = None,
              log=print, command: str | None = None) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from .device import pick_device

    dev = str(pick_device(device))
    cfg = dict(QUICK if quick else FULL)
    if repeats:
        cfg["repeats"] = repeats
    threads = threads or torch.get_num_threads()
    out_dir = Path(out_dir)
    weights = {"resvr": _resolve_weights(resvr_weights, "resvr"),
               "hyperthumbnail": _resolve_weights(ht_weights, "hyperthumbnail")}
    if not any(weights.values()):
        from .errors import MethodUnavailable
        from .models.weights import default_weights_path

        raise MethodUnavailable("bench: no learned weights found (" + ", ".join(
            str(Path(a) if a else default_weights_path(m)) for m, a in (("resvr", resvr_weights),
                                                                          ("hyperthumbnail", ht_weights)))
            + "); pass --resvr-weights / --ht-weights")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {"command": command, "quick": quick, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
              "machine": _machine(dev), "threads": threads, "loadavg_start": _loadavg(), "compile": compile_,
              "weights": {k: _weights_info(v) for k, v in weights.items()}, "config": {k: v for k, v in cfg.items()}}
    timeout = 600 if quick else 3600
    photo_list = _load_photos(photos) if photos else None
    base = {"device": dev, "threads": threads, "compile": compile_}
    with tempfile.TemporaryDirectory(prefix="resvr-bench-") as tmp:
        work = Path(tmp)
        # -- the 2048x1024 panorama: encode it with the learned encoders -----------------------
        W, H = cfg["pano"]
        log(f"panorama {W}x{H} ({'photos' if photo_list else 'procedural'})")
        hr = synth_panorama(W, H, seed=1, photos=photo_list)
        hr_path = work / "pano.png"
        Image.fromarray(hr).save(hr_path)
        stand_in = work / "pano.lr.jpg"
        lr_img = np.asarray(Image.fromarray(hr).resize((W // 4, H // 4), Image.BICUBIC))
        write_lr_jpeg(stand_in, lr_img)
        encoders = [(m, weights[m], str(work / f"pano.{m}.jpg")) for m in ("resvr", "hyperthumbnail") if weights[m]]
        report["encode"] = {"hr_size": [W, H], "bpp": 0.3}
        if encoders:
            report["encode"].update(_run_job(dict(base, kind="encode", hr=str(hr_path), bpp=0.3, encoders=encoders),
                                             work, timeout, log))
        lr_files = {}
        for m in METHODS:
            enc = report["encode"].get("resvr" if m != "hyperthumbnail" else "hyperthumbnail", {})
            lr_files[m] = enc.get("path") if enc.get("path") else str(stand_in)
        report["lr_files"] = {m: ("learned encode" if p != str(stand_in) else "stand-in JPEG q90")
                              for m, p in lr_files.items()}
        # -- viewports --------------------------------------------------------------------------
        log("viewport latency")
        report["viewports"] = {}
        for m in METHODS:
            if m in weights and not weights[m]:
                report["viewports"][m] = {"error": "weights not found (pass --resvr-weights / --ht-weights)"}
                continue
            job = dict(base, kind="viewports", method=m, weights=weights.get(m), lr=lr_files[m],
                       sizes=[list(s) for s in cfg["view_sizes"]], repeats=cfg["repeats"],
                       psnr_size=list(cfg["first_view"]) if m == "resvr" else None)
            report["viewports"][m] = _run_job(job, work, timeout, log)
        # -- NeRV360: first view vs further views, ResVR vs HyperThumbnail -----------------------
        log("first view / further views (NeRV360 argument)")
        files = []
        for i, (w, h) in enumerate(cfg["nerv_sizes"]):
            lr = synth_panorama(w // 4, h // 4, seed=10 + i, photos=photo_list)
            p = work / f"nerv_{w}x{h}.lr.jpg"
            write_lr_jpeg(p, lr)
            files.append((str(p), [w, h]))
        variants = [("resvr", "lazy table", {"lazy": True}), ("resvr", "whole table", {"lazy": False}),
                    ("hyperthumbnail", "", {})]
        report["nerv"] = []
        for m, variant, extra in variants:
            if not weights[m]:
                report["nerv"].append({"method": m, "variant": variant, "error": "weights not found"})
                continue
            groups = [files] if quick else [[f] for f in files]      # full: a fresh process per size
            runs, err = [], None
            for g in groups:
                r = _run_job(dict(base, kind="nerv", method=m, variant=variant, weights=weights[m], files=g,
                                  view=list(cfg["first_view"]), further=cfg["further"], **extra), work, timeout, log)
                if "error" in r:
                    err = r["error"]
                runs += r.get("runs", [])
            report["nerv"].append({"method": m, "variant": variant, "runs": runs, **({"error": err} if err else {})})
    # -- GL pane ---------------------------------------------------------------------------------
    log("GL pane fps")
    gl_sizes = [cfg["first_view"]] if quick else [(1024, 768), (2048, 1536)]
    bg = [(*gl_sizes[0], "resvr", weights["resvr"])] if weights.get("resvr") else []
    report["gl"] = _gl_fps(gl_sizes, 0.5 if quick else 3.0, 120, background=bg)
    report["loadavg_end"] = _loadavg()
    report["summary"] = summarise(report)
    (out_dir / "bench.json").write_text(json.dumps(report, indent=1))
    (out_dir / "bench.md").write_text(render_markdown(report))
    log(f"wrote {out_dir / 'bench.md'} and {out_dir / 'bench.json'}")
    return report


# ============================================================================ summary / markdown
def _view_row(report, method, size):
    r = report["viewports"].get(method, {})
    for v in r.get("views", []):
        if list(v["size"]) == list(size):
            return v
    return None


def _nerv_runs(report, method, variant=""):
    for e in report.get("nerv", []):
        if e["method"] == method and e.get("variant", "") == variant:
            return {tuple(r["hr_size"]): r for r in e.get("runs", [])}
    return {}


def summarise(report) -> dict:
    s = {}
    cuda = report["machine"]["device"].startswith("cuda")
    # ResVR against the others, per viewport size (same run)
    ratios = []
    for size in report["config"]["view_sizes"]:
        rv = _view_row(report, "resvr", size)
        row = {"size": list(size)}
        for other in ("bilinear", "bicubic", "hyperthumbnail"):
            o = _view_row(report, other, size)
            if rv and o and o["median_s"] > 0:
                row[f"resvr_over_{other}"] = round(rv["median_s"] / o["median_s"], 2)
        ratios.append(row)
    s["latency_ratios"] = ratios
    # arithmetic of ResVR
    ar = report["viewports"].get("resvr", {}).get("resvr_arith")
    if ar:
        thr = []
        for size in report["config"]["view_sizes"]:
            rv = _view_row(report, "resvr", size)
            if rv:
                px = size[0] * size[1]
                gfl = ar["flops_per_pixel"] * px / 1e9
                thr.append({"size": list(size), "gflop": round(gfl, 2), "achieved_gflops": round(gfl / rv["median_s"], 1),
                            "gemm_bound_s": round(gfl / ar["gemm_gflops"], 3),
                            "gemm_bound_share": round(gfl / ar["gemm_gflops"] / rv["median_s"], 3)})
        s["resvr_throughput"] = thr
    # targets
    tgt = {}
    if cuda:
        rv = _view_row(report, "resvr", (1024, 1024))
        if rv:
            tgt["cuda_1024x1024_ms"] = {"measured": round(rv["median_s"] * 1e3, 2), "target": TARGET_CUDA_MS,
                                        "met": rv["median_s"] * 1e3 <= TARGET_CUDA_MS}
    else:
        rv = _view_row(report, "resvr", (1024, 768))
        if rv:
            tgt["cpu_1024x768_s"] = {"measured": round(rv["median_s"], 3), "target": TARGET_CPU_S,
                                     "met": rv["median_s"] <= TARGET_CPU_S}
    p = report["viewports"].get("resvr", {}).get("fast_vs_fp32_psnr_db")
    if p is not None:
        tgt["fast_vs_fp32_psnr_db"] = {"measured": p, "target": TARGET_PSNR, "met": p >= TARGET_PSNR}
    # NeRV360
    lazy, whole, ht = _nerv_runs(report, "resvr", "lazy table"), _nerv_runs(report, "resvr", "whole table"), \
        _nerv_runs(report, "hyperthumbnail")
    nerv = []
    wins_time, wins_mem = None, None
    for size in report["config"]["nerv_sizes"]:
        size = tuple(size)
        r, wr, h = lazy.get(size), whole.get(size), ht.get(size)
        if not (r and h):
            continue
        row = {"hr_size": list(size),
               "first_view_ratio": round(r["first_view_s"] / h["first_view_s"], 3),
               "further_view_ratio": round(r["further_median_s"] / h["further_median_s"], 2) if h["further_median_s"] else None,
               "peak_memory_ratio": round(_peak_mb(r["memory_first"]) / max(1e-3, _peak_mb(h["memory_first"])), 3),
               "peak_memory_ratio_with_further": round(_peak_mb(r["memory"]) / max(1e-3, _peak_mb(h["memory"])), 3)}
        if wr:
            row["first_view_ratio_whole_table"] = round(wr["first_view_s"] / h["first_view_s"], 3)
            row["peak_memory_ratio_whole_table"] = round(_peak_mb(wr["memory_first"]) / max(1e-3, _peak_mb(h["memory_first"])), 3)
        nerv.append(row)
        if wins_time is None and row["first_view_ratio"] <= 1.0:
            wins_time = list(size)
        if wins_mem is None and row["peak_memory_ratio"] <= 1 / 3:
            wins_mem = list(size)
    s["nerv"] = nerv
    s["resvr_first_view_wins_from"] = wins_time
    s["resvr_memory_third_from"] = wins_mem
    if nerv:
        big = nerv[-1]
        tgt["first_view_largest"] = {"hr_size": big["hr_size"], "time_ratio": big["first_view_ratio"],
                                     "memory_ratio": big["peak_memory_ratio"],
                                     "met": big["first_view_ratio"] <= 1.0 and big["peak_memory_ratio"] <= 1 / 3}
    s["targets"] = tgt
    la = report.get("loadavg_start")
    s["machine_busy"] = bool(la and la[0] > 0.5 * (report["machine"].get("cores") or 1))
    return s


def _f(x, unit="", nd=3):
    if x is None:
        return "–"
    if unit == "ms":
        return f"{x * 1e3:.{1 if x * 1e3 >= 10 else 2}f}"
    return f"{x:.{nd}f}"


def render_markdown(r) -> str:
    m, s = r["machine"], r["summary"]
    cuda = m["device"].startswith("cuda")
    mem_col = "peak CUDA MB" if cuda else "peak RSS MB"
    L = ["# `resvr bench`", ""]
    if r.get("quick"):
        L += ["**Quick mode** (tiny sizes, few repeats): a smoke test of the bench, not a measurement.", ""]
    L += [f"Command: `{r.get('command') or 'resvr bench'}`  ", f"Date: {r['date']}  ",
          f"Machine: {m['cpu']}, {m['cores']} cores, {m.get('memory_gb')} GB RAM, {m['platform']}  ",
          f"Device: **{m['device']}**" + (f" ({m['gpu']})" if m.get("gpu") else "") +
          f", torch {m['torch']}, numpy {m['numpy']}, Python {m['python']}, CPU capability {m.get('cpu_capability')}  ",
          f"Threads: {r['threads']}; torch.compile: {'on' if r.get('compile') else 'off'}; "
          f"load average at start {r.get('loadavg_start')}, at end {r.get('loadavg_end')}"]
    if s.get("machine_busy"):
        L += ["", "> **Warning:** other processes were running (load average above half the cores): absolute "
                  "times are inflated; the ratios between methods, measured in the same run, are the numbers to read."]
    wl = [f"{k}: `{v['path']}` ({v.get('name')}, {v.get('iterations')} iterations)" if v else f"{k}: not found"
          for k, v in r["weights"].items()]
    L += ["", "Weights: " + "; ".join(wl) + ".", ""]
    L += ["Times are wall-clock medians over a drag sweep of views after a warm-up (`render()` returns an "
          "HxWx3 float array, so device transfers are included). Memory is the peak the stage adds over the "
          "memory held before it (CPU: resident-set high-water mark from the kernel; CUDA: "
          "`max_memory_allocated`); each method runs in a fresh process.", ""]
    # viewport table
    L += ["## Viewport latency (per further view, warm)", "",
          "Panorama {}x{}, field of view {:.0f}x{:.0f} degrees.".format(*r["config"]["pano"], *FOV), ""]
    hdr = "| viewport | " + " | ".join(f"{x} ms | {x} {mem_col}" for x in METHODS) + " | ResVR / bilinear | ResVR / HT |"
    L += [hdr, "|" + "---|" * (1 + 2 * len(METHODS) + 2)]
    for size, rat in zip(r["config"]["view_sizes"], s["latency_ratios"]):
        cells = []
        for meth in METHODS:
            v = _view_row(r, meth, size)
            cells += [_f(v["median_s"], "ms") if v else "–", f"{_peak_mb(v['memory']):.0f}" if v else "–"]
        L.append(f"| {size[0]}x{size[1]} | " + " | ".join(cells) +
                 f" | {rat.get('resvr_over_bilinear', '–')} | {rat.get('resvr_over_hyperthumbnail', '–')} |")
    errs = [f"{k}: {v['error']}" for k, v in r["viewports"].items() if "error" in v]
    if errs:
        L += ["", "Not measured: " + "; ".join(errs) + "."]
    # one-off
    L += ["", "## One-off cost per image ({}x{} panorama)".format(*r["config"]["pano"]), "",
          f"| method | JPEG decode ms | other per-image work | prepare() s | {mem_col} |", "|---|---|---|---|---|"]
    for meth in METHODS:
        o = r["viewports"].get(meth, {}).get("one_off")
        if not o:
            continue
        other = []
        if "encoder_table_s" in o:
            other.append(f"encoder table (all tiles) {o['encoder_table_s']:.3f} s")
        if "ht_full_decode_s" in o:
            other.append(f"DCT read {o['dct_read_s'] * 1e3:.0f} ms, full-ERP decode {o['ht_full_decode_s']:.3f} s")
        L.append(f"| {meth} | {o['jpeg_decode_s'] * 1e3:.1f} | {', '.join(other) or '–'} | {o['prepare_s']:.3f} | "
                 f"{_peak_mb(o['memory']):.0f} |")
    L += ["", "ResVR's `prepare()` only decodes the JPEG; its encoder table is built lazily, tile by tile, "
              "as views need it (the encoder-table column is the cost of building all of it)."]
    # arithmetic
    vr = r["viewports"].get("resvr", {})
    ar = vr.get("resvr_arith")
    if ar:
        L += ["", "## ResVR arithmetic", "",
              f"VR MLP {ar['amp']}→{ar['hidden']}→…→3: {ar['macs_per_neighbour']:,} MACs per neighbour "
              f"(`VRModule.macs_per_neighbour`), x4 neighbours = **{ar['macs_per_pixel']:,} MACs = "
              f"{ar['flops_per_pixel'] / 1e3:.0f} kFLOP per viewport pixel**, plus {ar['trig_per_pixel']} cos/sin "
              f"evaluations per pixel. A {ar['amp']}x{ar['hidden']} GEMM in the fast dtype runs at "
              f"**{ar['gemm_gflops']} GFLOP/s** here.", "",
              "| viewport | GFLOP / view | achieved GFLOP/s | GEMM-bound time s | measured s | share of the GEMM bound |",
              "|---|---|---|---|---|---|"]
        for t in s.get("resvr_throughput", []):
            v = _view_row(r, "resvr", t["size"])
            L.append(f"| {t['size'][0]}x{t['size'][1]} | {t['gflop']} | {t['achieved_gflops']} | {t['gemm_bound_s']} | "
                     f"{v['median_s']:.3f} | {t.get('gemm_bound_share', '–')} |")
        L += ["", "The GEMM-bound time is the MLP alone at the measured GEMM rate (oneDNN, one large GEMM); the "
                  "share of the GEMM bound is that time over the measured one (1.0: a view that costs only its MLP "
                  "at that rate). The rest of a view is the neighbour lookup, the phase and its cos/sin, and the "
                  "geometry (float64 back-map and pixel shapes)."]
    qp = vr.get("query_paths")
    if qp:
        med = qp["median_s"]
        L += ["", f"Query paths, {qp['size'][0]}x{qp['size'][1]} views (default: **{vr.get('query_path')}**): " +
              ", ".join(f"{k} {v:.3f} s" for k, v in med.items()) +
              "".join(f"; {k} is {med['torch'] / med[k]:.2f}x faster than torch" for k in ("amx", "fused")
                      if k in med and "torch" in med) + "."]
    if "fast_vs_fp32_psnr_db" in vr:
        L += ["", f"Fast path (bf16/fp16) against the fp32 path, {vr['psnr_size'][0]}x{vr['psnr_size'][1]} view: "
                  f"**PSNR {vr['fast_vs_fp32_psnr_db']} dB** (target ≥ {TARGET_PSNR:.0f} dB)."]
    # NeRV360
    L += ["", "## First view vs further views: ResVR vs HyperThumbnail", "",
          "Time to the first {}x{} view includes all per-image work (JPEG decode, ResVR's table tiles for "
          "that view / HyperThumbnail's full HR decode). Further views: median of a drag sweep. Peak memory over "
          "the model already loaded: up to the first view, and over the whole session (first view and the drag).".format(
              *r["config"]["first_view"]), "",
          f"| HR panorama | method | first view s | further view ms | {mem_col}, first view | {mem_col}, with the drag "
          "| table built |", "|---|---|---|---|---|---|---|"]
    for size in r["config"]["nerv_sizes"]:
        for meth, variant in (("resvr", "lazy table"), ("resvr", "whole table"), ("hyperthumbnail", "")):
            run = _nerv_runs(r, meth, variant).get(tuple(size))
            if not run:
                continue
            name = "ResVR" + (f" ({variant})" if variant else "") if meth == "resvr" else "HyperThumbnail + bicubic"
            tb = f"{run['table_built'] * 100:.0f}%" if "table_built" in run else "–"
            L.append(f"| {size[0]}x{size[1]} | {name} | {run['first_view_s']:.3f} | {_f(run['further_median_s'], 'ms')} | "
                     f"{_peak_mb(run['memory_first']):.0f} | {_peak_mb(run['memory']):.0f} | {tb} |")
    if s["nerv"]:
        L += ["", "Ratios (ResVR with its lazy table over HyperThumbnail; the last column: ResVR with the whole table "
                  "built first, time / memory):", "",
              "| HR panorama | first view time | further view time | peak memory, first view | peak memory, with the drag "
              "| whole table: first view time / memory |", "|---|---|---|---|---|---|"]
        for n in s["nerv"]:
            L.append(f"| {n['hr_size'][0]}x{n['hr_size'][1]} | {n['first_view_ratio']} | {n['further_view_ratio']} | "
                     f"{n['peak_memory_ratio']} | {n['peak_memory_ratio_with_further']} | "
                     f"{n.get('first_view_ratio_whole_table', '–')} / {n.get('peak_memory_ratio_whole_table', '–')} |")
        wt, wm = s["resvr_first_view_wins_from"], s["resvr_memory_third_from"]
        L += ["", ("ResVR's first view is faster than HyperThumbnail's from **{}x{}** on".format(*wt) if wt else
                   "ResVR's first view is not faster than HyperThumbnail's at any measured size") +
              ("; its peak memory is at most a third of HyperThumbnail's from **{}x{}** on.".format(*wm) if wm else
               "; its peak memory is not below a third of HyperThumbnail's at any measured size."),
              "The reason: HyperThumbnail's first view decodes every HR pixel, so its work and memory (the uint8 HR "
              "ERP, the decoder's band buffers, the float band that bicubic sampling copies) grow 4x with each doubling "
              "of the panorama. ResVR's first view costs the viewport's pixels times a fixed MLP, whatever the "
              "panorama, plus the encoder on the LR tiles the view touches (about a sixth of the LR image at "
              "120x90 degrees, and the LR image has 1/16 of the HR pixels); its memory is those tiles' table "
              "(2 x amp bf16 values per LR pixel). Further views are the other way round: a bicubic resample of "
              "the cached HR ERP is far cheaper than the MLP per viewport pixel."]
        errs = [f"{e['method']} {e.get('variant', '')}: {e['error']}" for e in r.get("nerv", []) if "error" in e]
        if errs:
            L += ["", "Errors: " + "; ".join(errs)]
    # encode
    enc = r.get("encode", {})
    L += ["", "## Encode ({}x{} panorama, {} bpp)".format(*enc.get("hr_size", ["?", "?"]), enc.get("bpp")), ""]
    rows = [(k, v) for k, v in enc.items() if isinstance(v, dict)]
    if rows:
        L += [f"| encoder | total s (bpp bisection incl.) | analysis s | bpp | {mem_col} |", "|---|---|---|---|---|"]
        for k, v in rows:
            if "error" in v:
                L.append(f"| {k} | error: {v['error']} | | | |")
            else:
                L.append(f"| {k} | {v['encode_s']:.2f} | {v['analyse_s']:.2f} | {v['bpp']:.3f} | {_peak_mb(v['memory']):.0f} |")
    else:
        L += ["No learned weights: not measured."]
    # GL
    gl = r.get("gl", {})
    L += ["", "## GL pane", ""]
    if gl.get("status") != "ok":
        L += [f"GL fps: {gl.get('status', 'not measured')}."]
    else:
        L += ["| pane | draw fps (shader pass) | present fps (whole widget frames) | renderer |", "|---|---|---|---|"]
        for g in gl["sizes"]:
            if "error" in g:
                L.append(f"| {g['size'][0]}x{g['size'][1]} | error: {g['error']} | | |")
            else:
                bgr = ""
                if g.get("background_render"):
                    bgr = (f", while {g['background_method']} renders 1024x768 views in a worker thread "
                           f"({g['background_renders']} done in {g.get('background_seconds', '?')} s"
                           + (f"; error: {g['background_error']}" if g.get("background_error") else "") + ")")
                L.append(f"| {g['size'][0]}x{g['size'][1]}{bgr} | {g['draw_fps']} | {g['present_fps']} | "
                         f"{g.get('renderer')} |")
    # targets
    L += ["", "## Targets", ""]
    for k, t in s["targets"].items():
        L.append(f"- {k}: {json.dumps({kk: vv for kk, vv in t.items()})}" + ("" if t.get("met") else "  **(missed)**"))
    tp = {tuple(t["size"]): t for t in s.get("resvr_throughput", [])}
    for k in ("cpu_1024x768_s", "cuda_1024x1024_ms"):
        t = s["targets"].get(k)
        size = (1024, 768) if k.startswith("cpu") else (1024, 1024)
        if t and not t["met"] and size in tp and ar:
            x = tp[size]
            L.append(f"  - what limits it: {ar['flops_per_pixel'] / 1e3:.0f} kFLOP per pixel = {x['gflop']} GFLOP per "
                     f"view; the MLP alone needs {x['gemm_bound_s']} s at this machine's {ar['gemm_gflops']} GFLOP/s "
                     f"GEMM rate, the view as a whole runs at {x['achieved_gflops']} GFLOP/s.")
    if not s["targets"]:
        L.append("- not measured (learned weights missing)")
    return "\n".join(L) + "\n"


# ============================================================================ entry points
def bench_main(args) -> int:
    cmd = "resvr " + " ".join(sys.argv[1:]) if sys.argv and Path(sys.argv[0]).name.startswith("resvr") else None
    out = getattr(args, "output", None) or "bench"
    quiet = getattr(args, "quiet", False)
    run_bench(out, device=getattr(args, "device", "auto"), quick=getattr(args, "quick", False),
              resvr_weights=getattr(args, "resvr_weights", None), ht_weights=getattr(args, "ht_weights", None),
              photos=getattr(args, "photos", None), repeats=getattr(args, "repeats", None),
              compile_=getattr(args, "compile", False), threads=getattr(args, "threads", None),
              log=(lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True)),
              command=cmd)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        sys.exit(worker_main(sys.argv[2], sys.argv[3]))
    from .cli import main

    sys.exit(main(["bench"] + sys.argv[1:]))
