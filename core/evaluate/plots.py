"""Run data -> plots: PSNR per view direction, the rate-distortion curve, and the viewports of
the first panorama (compare.png)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .views import view_groups

PLOTS = ("psnr_per_view.png", "rd_curve.png", "compare.png")


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
