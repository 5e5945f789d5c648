"""``resvr eval`` from the command line: measure (``run``) then report (``report``), or only
rebuild the report from a run's JSON (``--report-only RUN.json``)."""
from __future__ import annotations

import sys
from pathlib import Path

from .. import PROG, registry
from ..errors import BadInput, UsageError
from .report import check_report_free, load_run, write_report
from .rows import parse_ablation


def evaluate(folder, out_dir, **kw) -> dict:
    """Run the evaluation (``run.EvalRun``; keywords as there), write ``OUT/run.json`` and every
    report file; -> the summary dict (also summary.json). ``overwrite=False``: BadInput before
    anything is measured when ``out_dir`` holds a run or report files already."""
    import json

    from .run import EvalRun

    check_report_free(out_dir, kw.pop("overwrite", False),
                      f" (encoded files in {Path(out_dir) / 'files'} are reused either way)", also=("run.json",))
    run = EvalRun(folder, out_dir, **kw)
    data = run.run()
    with open(run.out_dir / "run.json", "w") as f:
        json.dump(data, f, indent=1)
    summary = write_report(run.out_dir, data)
    run.say(f"wrote {run.out_dir / 'report.md'} ({data['config']['wall_s']:.0f} s)")
    return summary


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
    if getattr(args, "report_only", None):
        if args.input:
            raise UsageError("--report-only takes the run file; give no ERP_FOLDER")
        out = Path(args.output) if args.output else Path(args.report_only).parent
        data = load_run(args.report_only)
        check_report_free(out, args.overwrite)
        write_report(out, data, run_dir=Path(args.report_only).parent)
        if not getattr(args, "quiet", False):
            print(f"wrote {out / 'report.md'}", file=sys.stderr)
        return 0
    if not args.input or not args.output:
        raise UsageError("eval needs ERP_FOLDER and -o REPORT_DIR (or --report-only RUN.json)")
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
    weights = registry.given_weights(args)
    for m, p in weights.items():
        if p and not Path(p).is_file():
            raise BadInput(f"{p}: no such weights file ({registry.get(m).weights_flag})")
    methods = None
    if getattr(args, "methods", None):
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    quiet = bool(getattr(args, "quiet", False))
    evaluate(args.input, args.output, bpp=args.bpp, fov=args.fov, size=args.size, n_views=args.views,
             weights=weights, ablations=abl, methods=methods, device=args.device,
             rd_bpps=_float_list(getattr(args, "rd_bpps", "0.2,0.3,0.4,0.5")), rd_views=getattr(args, "rd_views", 3),
             rd_images=getattr(args, "rd_images", 0) or None, max_images=getattr(args, "max_images", 0) or None,
             lpips=not getattr(args, "no_lpips", False), reencode=getattr(args, "reencode", False),
             overwrite=args.overwrite, progress=not quiet, log=(lambda m: None) if quiet else None,
             command=f"{PROG} " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith(PROG) else None)
    return 0
