"""The worker side of ``resvr bench``: one job (a method's viewports, the NeRV360 runs, encoding)
in a fresh process (``python -m resvr.core.bench --worker JOB.json OUT.json``)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..device import pick_device
from .measure import PeakMemory, _median, _sync, _timed, _trim
from .settings import FOV


def _make_method(name, device, weights, fast=True, lazy=True, compile=False, fused=True, amx=True):
    """The render method ``name`` with those of these options its class takes (ResVR: all of them;
    HyperThumbnail: ``fast``; the others none)."""
    import inspect

    from ..methods import implementation

    cls = implementation(name)
    takes = inspect.signature(cls.__init__).parameters
    options = dict(fast=fast, lazy=lazy, compile=compile, fused=fused, amx=amx)
    return cls(device, weights, **{k: v for k, v in options.items() if k in takes})


def _drag(first, n, width, height):
    """The views of a drag after ``first``: 10 degrees of yaw apart, pitch wandering a little."""
    from ..geometry import View

    return [View(first.yaw + 10.0 * (i + 1), first.pitch + (5.0 if i % 2 else -5.0), *FOV, width, height)
            for i in range(n)]


def _gemm_gflops(device, k_in: int, k_out: int, rows: int = 8192, inner: int = 30) -> float:
    """Throughput of the MLP's first Linear in the fast dtype (bf16 CPU / fp16 CUDA): the best of 7
    timings of ``inner`` back-to-back GEMMs of ``rows`` rows, whose operands stay in cache as the
    view kernel's chunks do. (One GEMM of 32k rows, timed alone, read 380-790 GFLOP/s on the same
    machine from run to run; this reads 680-720.)"""
    import torch

    dt = torch.bfloat16 if device.type == "cpu" else torch.float16
    x = torch.randn(rows, k_in, device=device, dtype=dt)
    w = torch.randn(k_out, k_in, device=device, dtype=dt)
    for _ in range(3):
        torch.nn.functional.linear(x, w)

    def burst():
        for _ in range(inner):
            torch.nn.functional.linear(x, w)

    ts = [_timed(device, burst)[0] / inner for _ in range(7)]
    return 2.0 * rows * k_in * k_out / min(ts) / 1e9


def job_viewports(job: dict) -> dict:
    """One method: the one-off per-image costs, then each viewport size (warm, median, peak)."""
    import torch

    from ..geometry import View
    from ..imageio import load_image

    device = pick_device(job["device"])
    name = job["method"]
    res = {"method": name, "threads": torch.get_num_threads()}
    m = _make_method(name, job["device"], job.get("weights"), compile=job.get("compile", False))
    path = job["lr"]
    one = {}
    one["jpeg_decode_s"] = _median([_timed(device, lambda: load_image(path))[0] for _ in range(3)])
    mem = PeakMemory(device).start()
    if hasattr(m, "prefetch"):      # a per-image table built lazily (ResVR): then all of it
        t, _ = _timed(device, lambda: m.prepare(path, lazy=True))
        t2, _ = _timed(device, m.prefetch)
        one.update(prepare_s=t, encoder_table_s=t2)
    elif hasattr(m, "read"):        # its own DCT read, then the whole HR ERP (HyperThumbnail)
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
    if hasattr(m, "vr"):            # a VR module (ResVR): its arithmetic per viewport pixel
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
    if hasattr(m, "query_path"):    # several query paths (ResVR)
        # the query paths side by side on the same views: the default (measured above, first size)
        # against the fallbacks (the C kernel + oneDNN GEMMs without the whole-view kernel, and torch)
        res["query_path"] = m.query_path
        w, h = job["sizes"][0]
        views = _drag(View(30.0, 10.0, *FOV, w, h), job["repeats"], w, h)
        paths = {m.query_path: rows[0]["median_s"]}
        alts = ((("fused", {"amx": False}), ("torch", {"fused": False})) if m.query_path in ("amx", "avx512-bf16")
                else (("torch", {"fused": False}),) if m.query_path == "fused" else ())
        for _alt, kw in alts:
            alt = _make_method(name, job["device"], job.get("weights"), lazy=False, **kw)
            alt.prepare(path)
            alt.render(views[0])
            paths[alt.query_path] = _median([_timed(device, lambda: alt.render(v))[0] for v in views])
            del alt
        res["query_paths"] = {"size": [w, h], "median_s": paths}
    if job.get("psnr_size"):        # the fast path against fp32 (the driver asks it of ResVR)
        w, h = job["psnr_size"]
        v = View(30.0, 10.0, *FOV, w, h)
        fast = m.render(v)
        ref = _make_method(name, job["device"], job.get("weights"), fast=False)
        ref.prepare(path)
        slow = ref.render(v)
        from ..metrics import psnr

        res["fast_vs_fp32_psnr_db"] = round(min(float(psnr(fast, slow)), 99.0), 2)   # 99: identical images
        res["psnr_size"] = [w, h]
    return res


def job_nerv(job: dict) -> dict:
    """First view (per-image work included), further views and peak memory for one panorama."""
    import torch

    from ..geometry import View

    device = pick_device(job["device"])
    out = {"method": job["method"], "variant": job.get("variant", ""), "threads": torch.get_num_threads(), "runs": []}
    m = _make_method(job["method"], job["device"], job.get("weights"), lazy=job.get("lazy", True),
                     compile=job.get("compile", False))
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
        if hasattr(m, "tiles_built"):   # a lazily built table (ResVR): how much of it the views built
            run["table_built"] = round(m.tiles_built(), 3)
        out["runs"].append(run)
        m.release()
        _trim()
    return out


def job_encode(job: dict) -> dict:
    import torch

    from ..encode import make_encoder
    from ..imageio import load_image

    device = pick_device(job["device"])
    res = {}
    for method, weights, out in job["encoders"]:
        try:
            enc = make_encoder(method, weights, job["device"])
            hr = load_image(job["hr"])
            analyse = enc.analyse if hasattr(enc, "analyse") else enc.downscale   # the network part alone
            analyse(hr)   # warm-up (oneDNN primitives, allocations), as encode below finds them warm
            t_an, _ = _timed(device, lambda: analyse(hr))
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

