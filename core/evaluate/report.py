"""Run data -> the report files: ``summary.json``, ``results.csv``, ``rd.csv``, the plots and
``report.md`` (the paper's Table 1 layout, margins, view groups, per view, RD, per panorama).

:func:`write_report` is all of it, from the data ``run.EvalRun`` measured or from a ``run.json``
(``resvr eval --report-only``)."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from ..errors import refuse_existing
from .plots import PLOTS, write_plots
from .rows import CLASSIC_ROW, PRIMARY_ROW, RIVAL_ROW, Row
from .run import RD_FIELDS
from .summary import summarise
from .views import HIGH_LAT, view_name

PAPER = {  # ResVR paper Table 1, PSNR in dB (ODI-SR; SUN360)
    "resvr_vs_ht": (0.39, 0.41),
    "ht_vs_jpeg": (3.02, 4.48),
}
WS_PSNR_NOTE = ("measured on the HR ERP against the HR original: HyperThumbnail rows use its decoded HR ERP; "
                "Bicubic & JPEG rows use a bicubic 4x upsample of the LR JPEG (wrapping in longitude) - "
                "the paper writes N/A there, since that pipeline renders from the LR image directly; "
                "ResVR never produces an HR ERP (N/A). Both rows of one codec share the value.")



def _fmt(v, nd=2, na="n/a"):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return na
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.{nd}f}"


#: every file :func:`write_report` writes (nothing of them is replaced without ``--overwrite``)
REPORT_FILES = ("report.md", "summary.json", "results.csv", "rd.csv") + PLOTS


def check_report_free(out_dir, overwrite: bool, note: str = "", also: tuple = ()) -> None:
    """BadInput (one line) when ``out_dir`` holds report files (or ``also``) already and not
    ``overwrite``."""
    refuse_existing(out_dir, tuple(also) + REPORT_FILES, overwrite, note)


CSV_FIELDS = ("image", "width", "height", "method", "label", "file", "target_bpp", "bpp", "view", "yaw", "pitch",
              "high_lat", "seam", "fov_h", "fov_v", "view_w", "view_h", "ws_psnr", "psnr", "ssim", "lpips")


def _csv_value(v):
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return "inf" if math.isinf(v) else repr(round(v, 6))
    return v


def load_run(path) -> dict:
    """A ``run.json`` written by ``resvr eval``; BadInput with one line when it is not one."""
    from ..errors import BadInput
    from .run import RUN_FORMAT

    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise BadInput(f"{path}: not a resvr eval run file ({type(e).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        raise BadInput(f"{path}: not a resvr eval run file (format {RUN_FORMAT} expected)")
    return data


def write_report(out_dir, data: dict, run_dir=None) -> dict:
    """Every report file in ``out_dir`` from a run's data (see ``run.EvalRun.data``); ``run_dir``:
    the run's folder, where its compare/ viewports are (default ``out_dir``); -> summary."""
    from ..geometry import View

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    c = data["config"]
    rows = [Row(**r) for r in data["rows"]]
    views = [View(y, p, c["fov"][0], c["fov"][1], c["size"][0], c["size"][1]) for y, p in c["views"]]
    summary = summarise(data["results"], data["rd_results"], rows, data["per_image"], views, c, list(data["notes"]))
    for name, fields, recs in (("results.csv", CSV_FIELDS, data["results"]), ("rd.csv", RD_FIELDS, data["rd_results"])):
        with open(out_dir / name, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(fields)
            for r in recs:
                w.writerow([_csv_value(r.get(k)) for k in fields])
    plots = write_plots(out_dir, summary, rows, views, _compare_images(Path(run_dir or out_dir), data.get("compare")))
    for stale in set(PLOTS) - set(plots):  # from an earlier run with other settings
        (out_dir / stale).unlink(missing_ok=True)
    with open(out_dir / "summary.json", "w") as f:
        json.dump(summary, f, indent=1, default=lambda o: None if isinstance(o, float) and math.isinf(o) else str(o))
    (out_dir / "report.md").write_text(render_report(summary, rows, views, plots))
    return summary


def _compare_images(out_dir: Path, compare):
    """run.json's compare entry with its PNGs read back: {"image", "views": {vi: {"gt": img, label: (img, psnr)}}}."""
    import numpy as np
    from PIL import Image

    def load_image(p):   # our own viewport PNGs (not panoramas: no 2:1 check)
        with Image.open(p) as im:
            return np.asarray(im.convert("RGB"))

    if not compare:
        return None
    base = Path(out_dir)
    views = {}
    try:
        for vi, d in compare["views"].items():
            views[int(vi)] = {"gt": load_image(base / d["gt"]),
                              **{lab: (load_image(base / f), p) for lab, (f, p) in d["rows"].items()}}
    except Exception:  # noqa: BLE001 - the viewports are gone: no compare.png, the rest stands
        return None
    return {"image": compare["image"], "views": views}


def _md_table(head, body, left_last: bool = False) -> list[str]:
    """A markdown table: the header cells, the rows' cells; the first column left-aligned, the
    others right-aligned (numbers), the last one left-aligned too with ``left_last``; then a blank line."""
    sep = "|---|" + "---:|" * (len(head) - 1 - left_last) + "---|" * left_last
    return ["| " + " | ".join(head) + " |", sep] + ["| " + " | ".join(map(str, r)) + " |" for r in body] + [""]


TABLE1_HEAD = ("Down & Compression & Up & Render", "bpp↓", "WS-PSNR↑", "PSNR↑", "SSIM↑", "LPIPS↓")


def _table1(rows, stats) -> list[str]:
    """The paper's Table 1 layout: one line per method row that ``stats(key)`` has numbers for."""
    body = [(r.label, _fmt(t["bpp"], 3), _fmt(t["ws_psnr"], 2, "N/A"), _fmt(t["psnr"]), _fmt(t["ssim"], 4),
             _fmt(t["lpips"], 4)) for r in rows if (t := stats(r.key))]
    return _md_table(TABLE1_HEAD, body)


def _signed(v, nd=2):
    return "n/a" if v is None else f"{v:+.{nd}f}"


def _shown_path(path: str) -> str:
    """A path as the report shows it: relative to the working folder when inside it (the report
    is read beside the checkout, not on the machine that ran it); as given otherwise."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return path


def _head(summary, rows, views, plots) -> list[str]:
    c, table = summary["config"], summary["table"]
    n_img, n_v = len(c["images"]), len(views)
    L = []
    L.append("# Rendered-viewport quality (`resvr eval`)\n")
    L.append(f"- Panoramas: {n_img} from `{_shown_path(c['folder'])}` ({', '.join(c['images'])})")
    L.append(f"- Viewports: {n_v} view directions, FoV ({c['fov'][0]:g}°, {c['fov'][1]:g}°) at "
             f"{c['size'][0]}x{c['size'][1]}; ground truth: bicubic viewport from the HR ERP (`reference`)")
    L.append(f"- Target rate: {c['bpp']:g} bpp (real file size x 8 / HR pixels); device {c['device']}, "
             f"{c['threads']} torch threads; wall time {c['wall_s']:.0f} s")
    for t, cd in c["codecs"].items():
        if cd["weights"]:
            it = f", {cd['iterations']} iterations" if cd.get("iterations") is not None else ""
            L.append(f"- `{t}` weights: `{_shown_path(cd['weights'])}` (sha1 {cd['sha1'][:12]}, name {cd['name']}, "
                     f"version {cd['version']}{it})")
    if c.get("command"):
        L.append(f"- Command: `{c['command']}`")
    L.append("- Metrics on the uint8 viewports (as `resvr render` writes them); PSNR/SSIM/LPIPS are means over "
             "panoramas x views, bpp and WS-PSNR means over panoramas.\n")

    L.append(f"## Table 1 layout (mean over {n_img} panoramas x {n_v} views)\n")
    L += _table1(rows, table.get)
    L.append(f"WS-PSNR: {WS_PSNR_NOTE}")
    for n in summary["notes"]:
        L.append(f"\nNote: {n}")
    L.append("")
    return L


def _margins(summary, rows, views, plots) -> list[str]:
    table, ch = summary["table"], summary["checks"]
    L = []
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
                 f"{'met' if ch['ordering_met'] else '**not met**'} ({_fmt(table[PRIMARY_ROW]['psnr'])} / "
                 f"{_fmt(table[RIVAL_ROW]['psnr'])} / {_fmt(table[CLASSIC_ROW]['psnr'])} dB)")
    if PRIMARY_ROW in table and RIVAL_ROW in table:
        ims = table[PRIMARY_ROW]["per_image"]
        wins = sum(1 for im, v in ims.items() if im in table[RIVAL_ROW]["per_image"]
                   and v["psnr"] > table[RIVAL_ROW]["per_image"][im]["psnr"])
        L.append(f"- ResVR beats HyperThumbnail & Bicubic on {wins}/{len(ims)} panoramas (mean PSNR over views)")
    for k, a in ch["ablations"].items():
        d = a["delta"]
        L.append(f"- ResVR − {a['label']}: high latitude {_signed(d['high_lat'])} dB, seam {_signed(d['seam'])} dB, "
                 f"all views {_signed(d['all'])} dB → ResVR no worse than this ablation at high-latitude and seam views: "
                 f"{'n/a (no such views)' if a['no_worse'] is None else 'met' if a['no_worse'] else '**not met**'}")
    L.append("")
    return L


def _by_view(summary, rows, views, plots) -> list[str]:
    table = summary["table"]
    L = []
    L.append("## PSNR by view group (dB, mean over panoramas)\n")
    L.append(f"High latitude: |pitch| ≥ {HIGH_LAT:g}°; seam: centred on lon ±180° (yaw 180°); other: the rest.\n")
    groups = ("all", "high_lat", "seam", "other")
    L += _md_table(("Method", "all", "high latitude", "seam", "other"),
                   [(r.label, *(_fmt(table[r.key]["groups"][k]) for k in groups)) for r in rows if r.key in table])

    L.append("## PSNR per view direction (dB, mean over panoramas)\n")
    heads = [view_name(i, v.yaw, v.pitch) for i, v in enumerate(views)]
    L += _md_table(("Method", *heads), [(r.label, *map(_fmt, table[r.key]["per_view"])) for r in rows if r.key in table])
    if "psnr_per_view.png" in plots:
        L.append("![PSNR per view direction](psnr_per_view.png)\n")
    if "compare.png" in plots:
        L.append("![Viewports of the first panorama](compare.png)\n")
    return L


def _rate_distortion(summary, rows, views, plots) -> list[str]:
    c = summary["config"]
    L = []
    heads = [view_name(i, v.yaw, v.pitch) for i, v in enumerate(views)]
    if summary["rd"]:
        L.append("## Rate–distortion\n")
        L.append(f"PSNR only, over the first {c['rd_images']} panoramas x the first {c['rd_views']} view directions "
                 f"({', '.join(heads[:c['rd_views']])}) to bound the time; the point at {c['bpp']:g} bpp reuses the "
                 "main measurements. Targets the codec cannot reach give the closest real bpp.\n")
        body = []
        for d in summary["rd"].values():
            by_t = {p["target_bpp"]: p for p in d["points"]}
            body.append((d["label"], *("—" if (p := by_t.get(t)) is None else f"{_fmt(p['psnr'])} dB @ {p['bpp']:.3f}"
                                       for t in c["rd_bpps"])))
        L += _md_table(("Method", *(f"target {t:g}" for t in c["rd_bpps"])), body)
        if "rd_curve.png" in plots:
            L.append("![Rate-distortion](rd_curve.png)\n")
    return L


def _per_panorama(summary, rows, views, plots) -> list[str]:
    table = summary["table"]
    L = []
    L.append("## Per panorama\n")
    for rec in summary["per_image"]:
        im = rec["image"]
        L.append(f"### {im} ({rec['width']}x{rec['height']})\n")
        L += _table1(rows, lambda key, im=im: (table.get(key) or {}).get("per_image", {}).get(im))

    L.append("## Run time (for visibility only; speed belongs to `resvr bench`)\n")
    L += _md_table(("Panorama", "total s", "encode s", "prepare s", "metrics s", "render s per method"),
                   [(rec["image"], f"{rec['seconds']:.1f}", *(f"{rec['timing'][k]:.1f}" for k in ("encode", "prepare", "metrics")),
                     ", ".join(f"{k} {v:.1f}" for k, v in rec["timing"]["render"].items()))
                    for rec in summary["per_image"]], left_last=True)
    L.append("Files: `results.csv` (one row per panorama x method x view), `rd.csv` (rate–distortion points), "
             "`summary.json`, `files/` (the encoded LR JPEGs, reused by a re-run when the HR file, the weights "
             "and the target are unchanged).")
    return L


def render_report(summary, rows, views, plots) -> str:
    L = []
    for part in (_head, _margins, _by_view, _rate_distortion, _per_panorama):
        L += part(summary, rows, views, plots)
    return "\n".join(L) + "\n"
