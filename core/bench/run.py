"""The driver of ``resvr bench``: synthesises the inputs, runs each job in a fresh process and
writes ``bench.json``; ``report`` writes ``bench.md`` from it."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import PROG, registry
from .measure import _load_photos, _median, synth_panorama, write_lr_jpeg
from .report import render_markdown, summarise
from .settings import FULL, METHODS, PRIMARY, QUICK, RIVAL, TARGET_CUDA_MS


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


#: entry-point group through which a front end offers measurements to the bench (core names no
#: front end: the viewer registers ``gl_fps`` there in pyproject.toml)
PLUGIN_GROUP = "resvr.bench"


def _gl_fps(sizes, seconds: float, timeout: float, background=None) -> dict:
    """GL pane fps at each (w, h) of ``sizes`` (and with background renders, see the plug-in),
    measured by the ``gl_fps`` plug-in of :data:`PLUGIN_GROUP` when one is installed."""
    from importlib.metadata import entry_points

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return {"status": "no display"}
    ep = next((e for e in entry_points(group=PLUGIN_GROUP) if e.name == "gl_fps"), None)
    if ep is None:
        return {"status": "no GL front end installed"}
    return ep.load()(sizes, seconds, timeout, background)


def _cli_views(methods, lr_files, weights, threads, size, step_deg, n_views, reps, work, timeout, log) -> dict:
    """``resvr render FILE --views`` as a user runs it, each a whole process: one view, then
    ``n_views`` views ``step_deg`` apart; per further view = (t_n - t_1) / (n - 1), medians over
    ``reps`` alternating runs (start-up and the first view's work cancel out)."""
    w, h = size
    out = {"size": [w, h], "step_deg": step_deg, "views": n_views, "reps": reps, "threads": threads}
    csvs = {}
    for n in (1, n_views):
        p = work / f"views_{n}.csv"
        p.write_text("yaw,pitch,fov_h,fov_v,width,height\n" + "".join(
            f"{i * step_deg:g},0,120,90,{w},{h}\n" for i in range(n)))
        csvs[n] = p
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    exe = Path(sys.executable).parent / PROG     # the installed entry point, as a user runs it
    prog = [str(exe)] if exe.exists() else [sys.executable, "-m", "resvr.core.cli"]
    for m in methods:
        if not weights.get(m, True):
            continue
        times = {1: [], n_views: []}
        try:
            for _ in range(reps):
                for n in (1, n_views):
                    cmd = [*prog, "--threads", str(threads), "render",
                           lr_files[m], "--method", m, "--views", str(csvs[n]), "-o", str(work / f"cli_{m}_{n}"),
                           "--overwrite", "-q"] + (["--weights", weights[m]] if weights.get(m) else [])
                    t = time.perf_counter()
                    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
                    dt = time.perf_counter() - t
                    if p.returncode:
                        raise RuntimeError(" | ".join((p.stderr or p.stdout).strip().splitlines()[-2:]))
                    times[n].append(dt)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            out[m] = {"error": " ".join(str(e).split())[:300]}
            continue
        one, many = _median(times[1]), _median(times[n_views])
        out[m] = {"one_view_s": round(one, 3), "n_views_s": round(many, 3),
                  "per_further_view_s": round((many - one) / (n_views - 1), 3)}
        log(f"  render --views {m}: {out[m]}")
    return out


def _nerv_section(base, cfg, weights, photo_list, quick, work, timeout, log) -> list:
    """First view (per-image work included) and further views of each panorama size: ResVR with
    a lazy and with a whole table, and HyperThumbnail; each size in a fresh process (full run)."""
    files = []
    for i, (w, h) in enumerate(cfg["nerv_sizes"]):
        lr = synth_panorama(w // 4, h // 4, seed=10 + i, photos=photo_list)
        p = work / f"nerv_{w}x{h}.lr.jpg"
        write_lr_jpeg(p, lr)
        files.append((str(p), [w, h]))
    variants = [(PRIMARY, "lazy table", {"lazy": True}), (PRIMARY, "whole table", {"lazy": False}), (RIVAL, "", {})]
    out = []
    for m, variant, extra in variants:
        if not weights[m]:
            out.append({"method": m, "variant": variant, "error": "weights not found"})
            continue
        groups = [files] if quick else [[f] for f in files]
        runs, err = [], None
        for g in groups:
            r = _run_job(dict(base, kind="nerv", method=m, variant=variant, weights=weights[m], files=g,
                              view=list(cfg["first_view"]), further=cfg["further"], **extra), work, timeout, log)
            if "error" in r:
                err = r["error"]
            runs += r.get("runs", [])
        out.append({"method": m, "variant": variant, "runs": runs, **({"error": err} if err else {})})
    return out


def _resolve_weights(arg, method: str):
    from ..models.weights import default_weights_path

    p = Path(arg) if arg else default_weights_path(method)
    return str(p) if p.exists() else None


def _weights_info(path):
    if not path:
        return None
    try:
        from ..models.weights import safe_load

        blob = safe_load(path)
        meta = blob.get("meta", {}) if isinstance(blob, dict) else {}
        it = meta.get("iterations", blob.get("iter") if isinstance(blob, dict) else None)
        return {"path": str(path), "name": blob.get("name", Path(path).stem), "iterations": it}
    except Exception as e:  # noqa: BLE001
        return {"path": str(path), "error": str(e)}


def _lr_files(report: dict, stand_in: Path) -> dict:
    """The LR file each method renders from (its own encode; the classic methods the primary's;
    else the stand-in JPEG); noted in ``report["lr_files"]``."""
    lr_files = {}
    for m in METHODS:
        enc = report["encode"].get(m if m in registry.encode_ids() else PRIMARY, {})
        lr_files[m] = enc.get("path") if enc.get("path") else str(stand_in)
    report["lr_files"] = {m: ("learned encode" if p != str(stand_in) else "stand-in JPEG q90")
                          for m, p in lr_files.items()}
    return lr_files


def _cuda_section(dev, base, weights, lr_files, cfg, work, timeout, log) -> dict:
    """ResVR's 1024x1024 view in fp16 on CUDA (target TARGET_CUDA_MS), measured whenever torch sees
    a CUDA device, whatever ``--device`` says; 'unmeasured' (with the reason) otherwise."""
    import torch

    if dev.startswith("cuda"):
        return {"status": "measured in the main tables (--device cuda)"}
    if not torch.cuda.is_available():
        return {"status": "unmeasured: no CUDA device on this machine"}
    if not weights.get(PRIMARY):
        return {"status": f"unmeasured: no {registry.label(PRIMARY)} weights"}
    log(f"CUDA section ({registry.label(PRIMARY)} fp16)")
    size = [1024, 1024] if (1024, 1024) in cfg["view_sizes"] else list(cfg["view_sizes"][-1])
    job = dict(base, device="cuda", kind="viewports", method=PRIMARY, weights=weights[PRIMARY], lr=lr_files[PRIMARY],
               sizes=[size], repeats=cfg["repeats"], psnr_size=size)
    r = _run_job(job, work, timeout, log)
    if "error" in r:
        return {"status": f"error: {r['error']}"}
    v = r["views"][0]
    return {"status": "measured", "gpu": torch.cuda.get_device_name(0), "size": size,
            "median_ms": round(v["median_s"] * 1e3, 2), "target_ms": TARGET_CUDA_MS,
            "met": v["median_s"] * 1e3 <= TARGET_CUDA_MS, "query_path": r.get("query_path"),
            "fast_vs_fp32_psnr_db": r.get("fast_vs_fp32_psnr_db"), "memory": v["memory"]}


def run_bench(out_dir, device: str = "auto", quick: bool = False, weights: dict | None = None,
              photos=None, repeats: int | None = None, compile_: bool = False, threads: int | None = None,
              log=print, command: str | None = None) -> dict:
    """The whole bench; ``weights``: method id -> weights file (default: the shipped ones)."""
    import numpy as np
    import torch
    from PIL import Image

    from ..device import pick_device

    dev = str(pick_device(device))
    cfg = dict(QUICK if quick else FULL)
    if repeats:
        cfg["repeats"] = repeats
    threads = threads or torch.get_num_threads()
    out_dir = Path(out_dir)
    given = {m: (weights or {}).get(m) for m in registry.weights_ids()}
    weights = {m: _resolve_weights(a, m) for m, a in given.items()}
    if not any(weights.values()):
        from ..errors import MethodUnavailable
        from ..models.weights import default_weights_path

        raise MethodUnavailable("bench: no learned weights found (" + ", ".join(
            str(Path(a) if a else default_weights_path(m)) for m, a in given.items())
            + "); pass " + " / ".join(registry.get(m).weights_flag for m in given))
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
        encoders = [(m, weights[m], str(work / f"pano.{m}.jpg")) for m in registry.encode_ids() if weights.get(m)]
        report["encode"] = {"hr_size": [W, H], "bpp": 0.3}
        if encoders:
            report["encode"].update(_run_job(dict(base, kind="encode", hr=str(hr_path), bpp=0.3, encoders=encoders),
                                             work, timeout, log))
        lr_files = _lr_files(report, stand_in)
        # -- viewports --------------------------------------------------------------------------
        log("viewport latency")
        report["viewports"] = {}
        for m in METHODS:
            if m in weights and not weights[m]:
                report["viewports"][m] = {"error": "weights not found (pass " + "/".join(
                    f"--{registry.get(i).tag}" for i in weights) + "-weights)"}
                continue
            job = dict(base, kind="viewports", method=m, weights=weights.get(m), lr=lr_files[m],
                       sizes=[list(s) for s in cfg["view_sizes"]], repeats=cfg["repeats"],
                       psnr_size=list(cfg["first_view"]) if m == PRIMARY else None)
            report["viewports"][m] = _run_job(job, work, timeout, log)
        # -- CUDA: runs by itself whenever a CUDA device is present (the project never needs one) --
        report["cuda"] = _cuda_section(dev, base, weights, lr_files, cfg, work, timeout, log)
        # -- NeRV360: first view vs further views, ResVR (PRIMARY) vs HyperThumbnail (RIVAL) -----
        log("first view / further views (NeRV360 argument)")
        report["nerv"] = _nerv_section(base, cfg, weights, photo_list, quick, work, timeout, log)
        # -- the CLI: render --views, whole processes ------------------------------------------------
        log("render --views through the CLI")
        report["cli_views"] = _cli_views((PRIMARY, RIVAL), lr_files, weights, threads, cfg["first_view"], 10.0,
                                         6, 1 if quick else 7, work, timeout, log)
    # -- GL pane ---------------------------------------------------------------------------------
    log("GL pane fps")
    gl_sizes = [cfg["first_view"]] if quick else [(1024, 768), (2048, 1536)]
    bg = [(*gl_sizes[0], PRIMARY, weights[PRIMARY])] if weights.get(PRIMARY) else []
    report["gl"] = _gl_fps(gl_sizes, 0.5 if quick else 3.0, 120, background=bg)
    report["loadavg_end"] = _loadavg()
    report["summary"] = summarise(report)
    (out_dir / "bench.json").write_text(json.dumps(report, indent=1))
    (out_dir / "bench.md").write_text(render_markdown(report))
    log(f"wrote {out_dir / 'bench.md'} and {out_dir / 'bench.json'}")
    return report



def bench_main(args) -> int:
    cmd = f"{PROG} " + " ".join(sys.argv[1:]) if sys.argv and Path(sys.argv[0]).name.startswith(PROG) else None
    out = getattr(args, "output", None) or "bench"
    quiet = getattr(args, "quiet", False)
    run_bench(out, device=getattr(args, "device", "auto"), quick=getattr(args, "quick", False),
              weights=registry.given_weights(args), photos=getattr(args, "photos", None), repeats=getattr(args, "repeats", None),
              compile_=getattr(args, "compile", False), threads=getattr(args, "threads", None),
              log=(lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True)),
              command=cmd)
    return 0

