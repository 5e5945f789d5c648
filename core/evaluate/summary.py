"""Run data -> summary: the Table 1 means, view groups, per-image and RD curves, and issue 4's
bars (pure data; no measuring, no files)."""
from __future__ import annotations

import math

import numpy as np

from .rows import ABLATION_PREFIX, CLASSIC_ROW, PRIMARY_ROW, RIVAL_ROW


def _mean(vals):
    vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else None


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
    """Issue 4's bars, measured: bpp within target +-0.03, PSNR ordering (ResVR > HyperThumbnail &
    Bicubic > Bicubic & JPEG & Bicubic: ``rows.PRIMARY_ROW``, ``RIVAL_ROW``, ``CLASSIC_ROW``), SSR
    vs ablations."""
    out = {}
    t = cfg["bpp"]
    get = lambda k, f: (table.get(k) or {}).get(f)  # noqa: E731
    bpps = {k: get(k, "bpp") for k in (CLASSIC_ROW, RIVAL_ROW, PRIMARY_ROW) if k in table}
    out["bpp_in_range"] = {"target": t, "values": bpps,
                           "met": bool(bpps) and all(abs(v - t) <= 0.03 for v in bpps.values())}
    r, h, j = get(PRIMARY_ROW, "psnr"), get(RIVAL_ROW, "psnr"), get(CLASSIC_ROW, "psnr")
    out["margin_resvr_ht"] = None if r is None or h is None else r - h
    out["margin_ht_jpeg"] = None if h is None or j is None else h - j
    out["ordering_met"] = None if None in (r, h, j) else bool(r > h > j)
    ab = {}
    for k, row in table.items():
        if k.startswith(ABLATION_PREFIX) and PRIMARY_ROW in table:
            g, a = table[PRIMARY_ROW]["groups"], row["groups"]
            d = {grp: (None if g[grp] is None or a[grp] is None else g[grp] - a[grp])
                 for grp in ("high_lat", "seam", "all")}
            known = [v for v in (d["high_lat"], d["seam"]) if v is not None]
            ab[k] = {"label": row["label"], "delta": d, "no_worse": (all(v >= 0 for v in known) if known else None)}
    out["ablations"] = ab
    return out
