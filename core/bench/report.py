"""``bench.json`` -> the summary (ratios, targets) and ``bench.md``."""
from __future__ import annotations

from pathlib import Path

import json

from .. import PROG, registry
from .measure import _peak_mb
from .settings import FOV, METHODS, PRIMARY, RIVAL, TARGET_CLI_RATIO, TARGET_CPU_S, TARGET_CUDA_MS, TARGET_PSNR


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
        rv = _view_row(report, PRIMARY, size)
        row = {"size": list(size)}
        for other in (*registry.classic_ids(), RIVAL):
            o = _view_row(report, other, size)
            if rv and o and o["median_s"] > 0:
                row[f"{PRIMARY}_over_{other}"] = round(rv["median_s"] / o["median_s"], 2)
        ratios.append(row)
    s["latency_ratios"] = ratios
    # arithmetic of ResVR
    ar = report["viewports"].get(PRIMARY, {}).get("resvr_arith")
    if ar:
        thr = []
        for size in report["config"]["view_sizes"]:
            rv = _view_row(report, PRIMARY, size)
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
        rv = _view_row(report, PRIMARY, (1024, 1024))
        if rv:
            tgt["cuda_1024x1024_ms"] = {"measured": round(rv["median_s"] * 1e3, 2), "target": TARGET_CUDA_MS,
                                        "met": rv["median_s"] * 1e3 <= TARGET_CUDA_MS}
    else:
        rv = _view_row(report, PRIMARY, (1024, 768))
        if rv:
            tgt["cpu_1024x768_s"] = {"measured": round(rv["median_s"], 3), "target": TARGET_CPU_S,
                                     "met": rv["median_s"] <= TARGET_CPU_S}
    p = report["viewports"].get(PRIMARY, {}).get("fast_vs_fp32_psnr_db")
    if p is not None:
        tgt["fast_vs_fp32_psnr_db"] = {"measured": p, "target": TARGET_PSNR, "met": p >= TARGET_PSNR}
    # NeRV360
    lazy, whole, ht = _nerv_runs(report, PRIMARY, "lazy table"), _nerv_runs(report, PRIMARY, "whole table"), \
        _nerv_runs(report, RIVAL)
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
    # the CLI: render --views per further view against the bench's own further view, same size
    cli = report.get("cli_views") or {}
    cv = {}
    for m in (PRIMARY, RIVAL):
        c, vr = cli.get(m), _view_row(report, m, tuple(cli.get("size", ())))
        if c and "error" not in c and vr and vr["median_s"] > 0:
            cv[m] = round(c["per_further_view_s"] / vr["median_s"], 2)
    if cv:
        s["cli_over_bench"] = cv
    if PRIMARY in cv:
        tgt["cli_views_over_bench"] = {"measured": cv[PRIMARY], "target": TARGET_CLI_RATIO,
                                       "met": cv[PRIMARY] <= TARGET_CLI_RATIO}
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


def _mem_col(r) -> str:
    return "peak CUDA MB" if r["machine"]["device"].startswith("cuda") else "peak RSS MB"



def _shown_path(path) -> str:
    """A weights path as the report shows it: the shipped file by its name in the package's
    assets, else relative to the working folder, else its file name (no machine's absolute path)."""
    from ..resources import ASSETS

    p = Path(path).resolve()
    for base, fmt in ((Path(ASSETS).resolve(), "shipped `{}`"), (Path.cwd().resolve(), "`{}`")):
        try:
            return fmt.format(p.relative_to(base).as_posix())
        except ValueError:
            continue
    return f"`{p.name}`"

def _md_head(r) -> list[str]:
    m, s = r["machine"], r["summary"]
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
    wl = [f"{k}: {_shown_path(v['path'])} ({v.get('name')}, {v.get('iterations')} iterations)" if v else f"{k}: not found"
          for k, v in r["weights"].items()]
    L += ["", "Weights: " + "; ".join(wl) + ".", ""]
    L += ["Times are wall-clock medians over a drag sweep of views after a warm-up (`render()` returns an "
          "HxWx3 float array, so device transfers are included). Memory is the peak the stage adds over the "
          "memory held before it (CPU: resident-set high-water mark from the kernel; CUDA: "
          "`max_memory_allocated`); each method runs in a fresh process.", ""]
    return L


def _md_views(r) -> list[str]:
    s, mem_col = r["summary"], _mem_col(r)
    L = []
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
        if not other and registry.get(meth).learned:   # DINN360: its HR ERP is made in prepare()
            other.append("prepare() is the full-ERP reverse upscaling")
        L.append(f"| {meth} | {o['jpeg_decode_s'] * 1e3:.1f} | {', '.join(other) or '–'} | {o['prepare_s']:.3f} | "
                 f"{_peak_mb(o['memory']):.0f} |")
    L += ["", "ResVR's `prepare()` only decodes the JPEG; its encoder table is built lazily, tile by tile, "
              "as views need it (the encoder-table column is the cost of building all of it)."]
    return L


def _md_resvr(r) -> list[str]:
    s, mem_col = r["summary"], _mem_col(r)
    L = []
    # arithmetic
    vr = r["viewports"].get(PRIMARY, {})
    ar = vr.get("resvr_arith")
    if ar:
        L += ["", "## ResVR arithmetic", "",
              f"VR MLP {ar['amp']}→{ar['hidden']}→…→3: {ar['macs_per_neighbour']:,} MACs per neighbour "
              f"(`VRModule.macs_per_neighbour`), x4 neighbours = **{ar['macs_per_pixel']:,} MACs = "
              f"{ar['flops_per_pixel'] / 1e3:.0f} kFLOP per viewport pixel**, plus {ar['trig_per_pixel']} cos/sin "
              f"evaluations per pixel. A {ar['amp']}x{ar['hidden']} GEMM in the fast dtype (oneDNN) runs at "
              f"**{ar['gemm_gflops']} GFLOP/s** here.", "",
              "| viewport | GFLOP / view | achieved GFLOP/s | GEMM-bound time s | measured s | share of the GEMM bound |",
              "|---|---|---|---|---|---|"]
        for t in s.get("resvr_throughput", []):
            v = _view_row(r, PRIMARY, t["size"])
            L.append(f"| {t['size'][0]}x{t['size'][1]} | {t['gflop']} | {t['achieved_gflops']} | {t['gemm_bound_s']} | "
                     f"{v['median_s']:.3f} | {t.get('gemm_bound_share', '–')} |")
        L += ["", "The GEMM-bound time is the MLP alone at the measured GEMM rate (oneDNN, the best of 7 bursts of "
                  "30 in-cache GEMMs of 8192 rows); the "
                  "share of the GEMM bound is that time over the measured one (1.0: a view that costs only its MLP "
                  "at that rate). The rest of a view is the neighbour lookup, the phase and its cos/sin, and the "
                  "geometry (float64 back-map and pixel shapes)."]
    qp = vr.get("query_paths")
    if qp:
        med = qp["median_s"]
        L += ["", f"Query paths, {qp['size'][0]}x{qp['size'][1]} views (default: **{vr.get('query_path')}**): " +
              ", ".join(f"{k} {v:.3f} s" for k, v in med.items()) +
              "".join(f"; {k} is {med['torch'] / med[k]:.2f}x faster than torch" for k in ("amx", "avx512-bf16", "fused")
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
        for meth, variant in ((PRIMARY, "lazy table"), (PRIMARY, "whole table"), (RIVAL, "")):
            run = _nerv_runs(r, meth, variant).get(tuple(size))
            if not run:
                continue
            name = "ResVR" + (f" ({variant})" if variant else "") if meth == PRIMARY else "HyperThumbnail + bicubic"
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
    return L


def _md_rest(r) -> list[str]:
    s, mem_col = r["summary"], _mem_col(r)
    L = []
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
    # CUDA
    cu = r.get("cuda")
    if cu:
        L += ["", "## CUDA (ResVR, fp16)", ""]
        if cu.get("status") == "measured":
            L += [f"{cu['size'][0]}x{cu['size'][1]} view on {cu['gpu']}: **{cu['median_ms']} ms** (target ≤ "
                  f"{cu['target_ms']:.0f} ms{'' if cu['met'] else ', missed'}), query path {cu.get('query_path')}, "
                  f"fp16 against fp32 {cu.get('fast_vs_fp32_psnr_db')} dB, peak {_peak_mb(cu['memory']):.0f} MB."]
        else:
            L += [f"{cu['status'][0].upper()}{cu['status'][1:]}. The section runs by itself whenever torch sees a "
                  "CUDA device; the project never needs one."]
    # the CLI
    cli = r.get("cli_views")
    if cli:
        w, h = cli["size"]
        L += ["", "## Through the CLI: `render --views`", "",
              f"Whole processes as a user runs them: `{PROG} --threads {cli['threads']} render FILE --method M --views "
              f"VIEWS.csv` with one {w}x{h} view, then {cli['views']} views {cli['step_deg']:g}° apart (PNGs written); "
              f"per further view = (t_{cli['views']} − t_1) / {cli['views'] - 1}, medians of {cli['reps']} runs each. "
              "The last column compares it with the further view of the latency table above.", "",
              f"| method | 1 view, whole process s | {cli['views']} views s | per further view s | over the bench's further view |",
              "|---|---|---|---|---|"]
        for m in (k for k in cli if isinstance(cli[k], dict)):
            c = cli[m]
            if "error" in c:
                L.append(f"| {m} | error: {c['error']} | | | |")
            else:
                L.append(f"| {m} | {c['one_view_s']:.2f} | {c['n_views_s']:.2f} | {c['per_further_view_s']:.3f} | "
                         f"{s.get('cli_over_bench', {}).get(m, '–')} |")
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
    ar = r["viewports"].get(PRIMARY, {}).get("resvr_arith")
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
    return L


def render_markdown(r) -> str:
    L = []
    for part in (_md_head, _md_views, _md_resvr, _md_rest):
        L += part(r)
    return "\n".join(L) + "\n"
