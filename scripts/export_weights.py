#!/usr/bin/env python3
"""Export the best training checkpoints to core/assets/weights/ (float16, inference parts only), copy
their logs, and write the model card from the logs and configs.

    .venv/bin/python scripts/export_weights.py [--resvr runs/resvr_cpu] [--ht runs/ht_cpu] [--which best|latest]
    .venv/bin/python scripts/export_weights.py --dinn runs/dinn360 --which latest   # DINN360 only

Ablation runs (``--ablation runs/resvr_cpu_2d``, repeatable) are exported the same way, but to
``checkpoints/<name>/weights.pt`` with their log beside it, not into core/assets/ (the viewer does not
use them; ``resvr eval --ablation NAME=checkpoints/<name>/weights.pt`` does).
"""
from __future__ import annotations

import argparse
import csv
import shutil
from datetime import date
from pathlib import Path

import torch
import yaml

from resvr.core.models.pipelines import build_model, count_params
from resvr.core.models.weights import export_weights, safe_load
from resvr.core.train.data import load_split

ROOT = Path(__file__).resolve().parents[1]


def run_summary(run: Path) -> dict:
    rows = list(csv.DictReader(open(run / "log.csv")))
    vals = [r for r in rows if r.get("val_psnr")]
    best = max(vals, key=lambda r: float(r["val_psnr"])) if vals else None
    # time_s restarts at 0 in each resumed segment: the total is the sum of each segment's last value
    t = [float(r["time_s"]) for r in rows]
    ends = [a for a, b in zip(t, t[1:]) if b < a] + t[-1:]
    return {"iters_logged": int(rows[-1]["iter"]) if rows else 0,
            "wall_s_total": sum(ends), "segments": len(ends),
            "best_val_psnr": float(best["val_psnr"]) if best else None,
            "best_val_iter": int(best["iter"]) if best else None,
            "last_train_l1": float(rows[-1]["pix"]) if rows else None,
            "val_by_iter": {int(r["iter"]): float(r["val_psnr"]) for r in vals}}


def hours_by_iter(log: Path, bounds: list[int]) -> list[float]:
    """Training wall hours in the iteration ranges (0, b0], (b0, b1], ... of a log.csv: each row's time
    since the previous row (time_s restarts in each resumed segment), summed per range."""
    out, prev = [0.0] * len(bounds), None
    for r in csv.DictReader(open(log)):
        t, it = float(r["time_s"]), int(r["iter"])
        dt = t - prev if prev is not None and t >= prev else t
        prev = t
        k = next((i for i, b in enumerate(bounds) if it <= b), None)
        if k is not None:
            out[k] += dt / 3600
    return out


def stage_lines(method: str, cfg: dict, run: Path, it: int, stage1: Path) -> list[str]:
    """The model card's "iterations per stage" lines, from the logs."""
    s1 = run_summary(stage1)
    lines = [f"- Stage 1, shared by both models: HyperThumbnail's rescaling training `{stage1.name}`, iterations "
             f"1-{s1['iters_logged']:,}, {s1['wall_s_total'] / 3600:.2f} h (`logs/{stage1.name}.csv`)."]
    t = cfg.get("train", {})
    if method == "resvr":
        fz = int(t.get("codec_freeze_iters", 0))
        h = hours_by_iter(run / "log.csv", [fz, it])
        lines += [f"- Stage 2a, VR warm-up on the frozen stage-1 codec: iterations 1-{fz:,} of `{cfg['name']}`, "
                  f"{h[0]:.2f} h.",
                  f"- Stage 2b, joint training (codec at {t.get('codec_lr_mult', 1)}x the learning rate): iterations "
                  f"{fz + 1:,}-{it:,}, {h[1]:.2f} h.",
                  f"- Total: {s1['iters_logged'] + it:,} iterations, {s1['wall_s_total'] / 3600 + sum(h):.2f} h."]
    else:
        h = hours_by_iter(run / "log.csv", [it])
        lines += [f"- Stage 2, HyperThumbnail continued (`{cfg['name']}`, a new cosine): iterations "
                  f"{s1['iters_logged'] + 1:,}-{it:,}, {h[0]:.2f} h.",
                  f"- Total: {it:,} iterations, {s1['wall_s_total'] / 3600 + h[0]:.2f} h."]
    return lines


def export_run(run: Path, which: str, where):
    """Export ``run/<which>.pt`` (fp16 weight file with the run's summary) and copy its log;
    ``where(name)`` -> (weight file, log copy) for the run's config name.
    -> (weight file, checkpoint, run summary)."""
    ck = run / f"{which}.pt"
    blob = safe_load(ck)
    cfg = blob["cfg"]
    name = cfg.get("name", run.name)
    dst, log_dst = where(name)
    s = run_summary(run)
    log_dst.parent.mkdir(parents=True, exist_ok=True)
    dst = export_weights(ck, dst, name=name, version=f"{date.today():%Y.%m.%d}",
                         meta={"config": cfg, "data_split": "core/train/configs/split.yaml", **s})
    shutil.copyfile(run / "log.csv", log_dst)
    return dst, blob, s


def dinn_section(card: list[str]) -> slice | None:
    """The lines of the model card's DINN360 section (its heading up to the next one), or None."""
    start = next((i for i, line in enumerate(card) if line.startswith("## dinn360")), None)
    if start is None:
        return None
    return slice(start, next((i for i in range(start + 1, len(card)) if card[i].startswith("## ")), len(card)))


def export_dinn(run: Path, which: str, out: Path) -> None:
    """DINN360 alone: ``out/dinn360.pt`` and ``out/logs/<name>.csv``, and its section of
    ``out/MODEL_CARD.md`` replaced (the other sections are left as they are). A checkpoint before
    the end of the config's schedule is labelled INTERIM in the card and in the weight file's meta."""
    dst, blob, s = export_run(run, which, lambda name: (out / "dinn360.pt", out / "logs" / f"{name}.csv"))
    cfg = blob["cfg"]
    total = int(cfg["train"]["iters"])
    interim = blob["iter"] < total
    if interim:   # say so in the file too (the viewer and the CLI show its name and version)
        w = torch.load(dst, map_location="cpu", weights_only=True)
        w["version"] = f"{w['version']}-interim-{blob['iter']}"
        w["meta"]["interim"] = True
        torch.save(w, dst)
    nparam = count_params(build_model(cfg["model"]))
    status = (f"**INTERIM**: iteration {blob['iter']:,} of the {total:,} the config plans; the training campaign "
              "continues (resume its campaign checkpoint, `checkpoints/dinn360/latest.pt`), so these are not the final weights."
              if interim else f"End of the planned schedule ({total:,} iterations).")
    sec = [f"## dinn360 (`{dst.name}`, {dst.stat().st_size / 1e6:.2f} MB, {nparam / 1e6:.2f}M parameters)",
           f"- {status}",
           f"- Config: `{cfg.get('name')}` (below): the CPU-size DINN360 re-implementation (`core/models/dinn360.py`, "
           "its assumptions in the module docstring), trained with the poster's backflow protocol and the LR image "
           "through a simulated JPEG (IJG tables at quality 80..98; 20 % of iterations without JPEG), float32, "
           f"one thread, niced, beside the two other campaign runs on 2 cores. Checkpoint '{which}', training wall "
           f"time {s['wall_s_total'] / 3600:.2f} h in {s['segments']} segment(s).",
           "- Data: the same training data and split as the models above (`core/train/configs/split.yaml`).",
           f"- Held-out validation PSNR on DPS viewport samples (64x64 HR patches, JPEG at quality "
           f"{cfg['model'].get('dinn', {}).get('eval_quality', 85)}; not comparable with the rows above, whose "
           f"patches and codecs differ): {s['val_by_iter'].get(blob['iter'], 'n/a')} dB at the exported iteration; "
           f"best {s['best_val_psnr']} dB at iteration {s['best_val_iter']}. Full numbers: docs/results.md.",
           f"- Log: `logs/{cfg.get('name')}.csv`.", "", "```yaml", yaml.safe_dump(cfg, sort_keys=False).strip(), "```", ""]
    card_path = out / "MODEL_CARD.md"
    card = card_path.read_text().splitlines() if card_path.exists() else ["# Model card: resvr-viewer weights", ""]
    span = dinn_section(card)
    if span is not None:
        card[span] = sec
    else:
        card += [""] * (card[-1] != "") + sec
    card_path.write_text("\n".join(card).rstrip("\n") + "\n")
    print(f"exported dinn360: {dst} ({dst.stat().st_size / 1e6:.2f} MB), iteration {blob['iter']}"
          + (" (INTERIM)" if interim else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--resvr", default="runs/resvr_cpu")
    ap.add_argument("--ht", default="runs/ht_cpu")
    ap.add_argument("--which", default="best", choices=("best", "latest"))
    ap.add_argument("--out", default=str(ROOT / "core" / "assets" / "weights"))
    ap.add_argument("--ablation", action="append", default=[], metavar="RUN_DIR")
    ap.add_argument("--stage1", default="checkpoints/ht_cpu", metavar="RUN_DIR",
                    help="the stage-1 run both models start from (its log.csv), for the model card")
    ap.add_argument("--dinn", default=None, metavar="RUN_DIR",
                    help="export only DINN360 from this run (e.g. runs/dinn360) and replace its model-card section")
    a = ap.parse_args()
    if a.dinn:
        export_dinn(ROOT / a.dinn, a.which, Path(a.out))
        return
    if a.ablation:
        def beside_checkpoints(name):
            return ROOT / "checkpoints" / name / "weights.pt", ROOT / "checkpoints" / name / "log.csv"

        for run_dir in a.ablation:
            dst, blob, _ = export_run(ROOT / run_dir, a.which, beside_checkpoints)
            print(f"exported ablation {blob['cfg'].get('name')}: {dst} ({dst.stat().st_size / 1e6:.1f} MB), "
                  f"iteration {blob['iter']}")
        return
    out = Path(a.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    split = load_split()
    card = ["# Model card: resvr-viewer weights", "",
            f"Exported {date.today().isoformat()} by `scripts/export_weights.py --which {a.which}`. Both models were "
            "trained on the CPU, from no pretrained weights (2 cores shared by the runs, 1 thread each, bf16 autocast), "
            "with `resvr train core/train/configs/<name>.yaml`, resumed with `--resume` across sessions; both start "
            "from the same stage-1 run (the stages of each are listed in its section). "
            + ("'latest' is the end of the cosine schedule: no checkpoint was chosen on validation data."
               if a.which == "latest" else "'best' is the checkpoint with the highest DPS validation PSNR."), "",
            "## Data",
            "- Training: ERP panoramas synthesised on the fly from the photographs in `../shared/data/photos` "
            "(six photos as cube-map faces, random crops/rotations/flips, 512x1024 and 1024x2048 ERPs, a pool of 24 "
            "refreshed every 50 iterations) plus the real 2:1 panoramas of `../shared/data/panoramas` that are at "
            "least 512 rows high, minus the validation split.",
            f"- Validation (never trained on): {len(split['val_photos'])} held-out photos (synthetic panoramas) and "
            f"{len(split['val_panoramas'])} real panoramas, listed in `core/train/configs/split.yaml`.", ""]
    for method, run_dir in (("resvr", a.resvr), ("hyperthumbnail", a.ht)):
        run = ROOT / run_dir
        ck = run / f"{a.which}.pt"
        if not ck.exists():
            print(f"skip {method}: {ck} missing")
            continue
        dst, blob, s = export_run(run, a.which, lambda name: (out / f"{method}.pt", out / "logs" / f"{name}.csv"))
        cfg = blob["cfg"]
        nparam = count_params(build_model(cfg["model"]))
        card += [f"## {method} (`{dst.name}`, {dst.stat().st_size / 1e6:.1f} MB, {nparam / 1e6:.2f}M parameters)",
                 f"- Config: `{cfg.get('name')}` (below), iterations {blob['iter']} "
                 f"(checkpoint '{a.which}'), training wall time {s['wall_s_total'] / 3600:.2f} h in {s['segments']} "
                 "resumed segment(s) (sum of the log's per-segment times).",
                 f"- Held-out validation PSNR on DPS viewport samples: {s['val_by_iter'].get(blob['iter'], 'n/a')} dB "
                 f"at the exported iteration; best {s['best_val_psnr']} dB at iteration {s['best_val_iter']}. "
                 "Full viewport numbers: docs/results.md.",
                 *(stage_lines(method, cfg, run, blob["iter"], ROOT / a.stage1) if (ROOT / a.stage1 / "log.csv").exists()
                   else []),
                 f"- Log: `logs/{cfg.get('name', method)}.csv`.", "", "```yaml",
                 yaml.safe_dump(cfg, sort_keys=False).strip(), "```", ""]
        print(f"exported {method}: {dst} ({dst.stat().st_size / 1e6:.1f} MB), iteration {blob['iter']}")
    if (ROOT / a.stage1 / "log.csv").exists():
        shutil.copyfile(ROOT / a.stage1 / "log.csv", out / "logs" / f"{Path(a.stage1).name}.csv")
    card_path = out / "MODEL_CARD.md"
    if card_path.exists():   # keep the DINN360 section (exported on its own with --dinn)
        old = card_path.read_text().splitlines()
        span = dinn_section(old)
        if span is not None:
            card += old[span]
    card_path.write_text("\n".join(card).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
