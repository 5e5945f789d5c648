"""``resvr`` command line (contract: docs/design.md, "CLI contract").

    resvr encode HR_IMAGE -o OUT --method {resvr,hyperthumbnail,jpeg,all} [--scale 4]
                 [--bpp 0.3 | --qscale X | --quality Q] [--overwrite]
    resvr render IN_IMAGE -o VIEW.png --method M --yaw DEG --pitch DEG --fov 120x90 --size 1024x768
                 [--device cpu|cuda|auto] [--weights PT] [--overwrite]
    resvr render IN_IMAGE -o OUT_DIR --views VIEWS.csv --method M ...
    resvr eval ERP_FOLDER [--bpp 0.3] [--fov 120x90] [--size 1024x768] [--views 10] -o REPORT_DIR
    resvr eval --report-only RUN.json [-o REPORT_DIR]
    resvr train CONFIG.yaml [--resume CKPT] [--device ...]
    resvr bench [-o REPORT_DIR]

Exit codes: 0 ok; 2 usage error (argparse); 1 bad input (missing/corrupt/too large file, bad view,
method not available, existing output without ``--overwrite``), with exactly one line
``resvr: error: ...`` on stderr and no output file written.

The method names come from ``core.registry``. ``train``, ``eval`` and ``bench`` import their
module only when run (``LAZY_COMMANDS``), so ``render`` starts fast.
"""
from __future__ import annotations

import argparse
import csv
import importlib
import os
import sys
import warnings
from pathlib import Path

from . import PROG, registry
from .device import DEVICE_CHOICES
from .errors import BadInput, MethodUnavailable, UsageError

RENDER_METHODS = registry.render_ids()
ENCODE_METHODS = registry.encode_ids() + (registry.ENCODE_ALL,)
VIEW_COLUMNS = ("yaw", "pitch", "fov_h", "fov_v", "width", "height")
#: Largest viewport rendered by the CLI (pixels): 8192 x 8192.
MAX_VIEW_PIXELS = 8192 * 8192


# ----------------------------------------------------------------------------- argument types
def _pair(text: str, kind, what: str):
    t = text.lower().replace("\u00d7", "x")
    parts = t.split("x")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{what} must look like AxB, got {text!r}")
    try:
        return kind(parts[0]), kind(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must look like AxB with numbers, got {text!r}") from None


def fov_arg(text: str) -> tuple[float, float]:
    return _pair(text, float, "--fov")


def size_arg(text: str) -> tuple[int, int]:
    return _pair(text, int, "--size")


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def _quality(text: str) -> int:
    try:
        q = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"quality must be an integer 1..100, got {text!r}") from None
    if not 1 <= q <= 100:
        raise argparse.ArgumentTypeError(f"quality must lie in 1..100, got {q}")
    return q


# ----------------------------------------------------------------------------- views
def make_view(yaw, pitch, fov_h, fov_v, width, height):
    """Validated View; ValueError (exit 1) for an unusable one."""
    from .geometry import View

    yaw, pitch, fov_h, fov_v = float(yaw), float(pitch), float(fov_h), float(fov_v)
    w, h = float(width), float(height)
    if not all(map(lambda v: v == v and abs(v) != float("inf"), (yaw, pitch, fov_h, fov_v, w, h))):
        raise ValueError("view values must be finite numbers")
    if not w.is_integer() or not h.is_integer():
        raise ValueError(f"view size must be whole pixels, got {width}x{height}")
    if not -90.0 <= pitch <= 90.0:
        raise ValueError(f"pitch must lie in [-90, 90] degrees, got {pitch:g}")
    if w * h > MAX_VIEW_PIXELS:
        raise ValueError(f"view of {int(w)}x{int(h)} is above the limit of {MAX_VIEW_PIXELS} pixels")
    return View(yaw, pitch, fov_h, fov_v, int(w), int(h))


def read_views_csv(path) -> list:
    """Views from a CSV with columns yaw,pitch,fov_h,fov_v,width,height (header row optional;
    blank lines and lines starting with '#' are skipped)."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    views = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for lineno, row in enumerate(csv.reader(f), start=1):
                cells = [c.strip() for c in row]
                if not any(cells) or cells[0].startswith("#"):
                    continue
                if not views and [c.lower() for c in cells] == list(VIEW_COLUMNS):
                    continue  # header
                if len(cells) != len(VIEW_COLUMNS):
                    raise BadInput(f"{path}:{lineno}: expected {len(VIEW_COLUMNS)} columns "
                                   f"({','.join(VIEW_COLUMNS)}), got {len(cells)}")
                try:
                    views.append(make_view(*cells))
                except ValueError as e:
                    raise BadInput(f"{path}:{lineno}: {e}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not a text CSV file") from None
    if not views:
        raise BadInput(f"{path}: no views listed")
    return views


# ----------------------------------------------------------------------------- render
def _view_text(view, method: str, source: Path) -> dict:
    from . import __version__

    d = {k: (f"{v:g}" if isinstance(v, float) else str(v)) for k, v in view.as_dict().items()}
    d.update({"method": method, "source": source.name, "Software": f"resvr-viewer {__version__}"})
    return d


def cmd_render(args) -> int:
    from .bundle import is_bundle, load_bundle
    from .imageio import save_png, to_uint8
    from .methods import get_method

    src = Path(args.input)
    if args.views:
        views = read_views_csv(args.views)
        out_dir = Path(args.output)
        if out_dir.exists() and not out_dir.is_dir():
            raise BadInput(f"{out_dir}: exists and is not a folder (--views writes a folder)")
        outs = [out_dir / f"view_{i:03d}.png" for i in range(len(views))]
    else:
        if args.yaw is None or args.pitch is None:
            raise UsageError("render needs --yaw and --pitch (or --views VIEWS.csv)")
        views = [make_view(args.yaw, args.pitch, *args.fov, *args.size)]
        out = Path(args.output)
        if out.is_dir():
            raise BadInput(f"{out}: is a folder; give a file name such as view.png (or use --views)")
        if not out.parent.is_dir():
            raise BadInput(f"{out}: output folder {out.parent} does not exist")
        outs = [out]
    if not args.overwrite:
        for o in outs:
            if o.exists():
                raise BadInput(f"{o}: output exists; pass --overwrite to replace it")
    if not src.exists():
        raise BadInput(f"{src}: no such file")
    if is_bundle(src):
        src = load_bundle(src).source_for(args.method)
    elif src.is_dir():
        raise BadInput(f"{src}: folder is not a comparison bundle (no bundle.yaml)")

    method = get_method(args.method, device=args.device, weights=args.weights)
    method.prepare(src)  # BadInput for unreadable input, before any output exists
    method.plan(views)
    if args.views:
        outs[0].parent.mkdir(parents=True, exist_ok=True)
    # each PNG is written by a worker thread while the next view renders (zlib releases the GIL);
    # at most one write in flight, and its error surfaces here
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pending = None
        for view, o in zip(views, outs):
            img = method.render(view)
            if pending is not None:
                pending.result()
            pending = pool.submit(lambda o=o, img=img, view=view: save_png(
                o, to_uint8(img), text=_view_text(view, args.method, src), overwrite=args.overwrite))
        if pending is not None:
            pending.result()
    if args.views and not args.quiet:
        print(f"wrote {len(outs)} views to {outs[0].parent}")
    return 0


# ----------------------------------------------------------------------------- encode
def _encode_jpeg_cmd(args) -> int:
    from .encode import encode_jpeg

    if args.qscale is not None:
        raise UsageError("--qscale applies to the learned methods; use --bpp or --quality with --method jpeg")
    bpp = None if args.quality is not None else (args.bpp if args.bpp is not None else 0.3)
    res = encode_jpeg(args.input, args.output, scale=args.scale, bpp=bpp, quality=args.quality,
                      overwrite=args.overwrite, warn=_warn)
    if not args.quiet:
        print(f"{res['path']}: jpeg {res['lr_size'][0]}x{res['lr_size'][1]} quality {res['quality']}, "
              f"{res['bpp']:.4f} bpp ({res['bytes']} bytes)")
    return 0


def _encode_learned_cmd(args) -> int:
    """A learned encoder; its rate knob is ``--qscale`` (a learned JPEG codec's table scale) or
    ``--quality`` (a network followed by a standard JPEG, DINN360), besides ``--bpp``."""
    from .device import pick_device
    from .encode import make_encoder

    if args.scale != 4:
        raise UsageError("the learned methods are trained for --scale 4 only")
    enc = make_encoder(args.method, args.weights, pick_device(args.device))
    other = "quality" if enc.knob == "qscale" else "qscale"
    if getattr(args, other) is not None:
        raise UsageError(f"--{other} does not apply to --method {args.method}; use --bpp or --{enc.knob}")
    knob = getattr(args, enc.knob)
    bpp = None if knob is not None else (args.bpp if args.bpp is not None else 0.3)
    res = enc.encode(args.input, args.output, bpp=bpp, overwrite=args.overwrite, **{enc.knob: knob})
    if not args.quiet:
        k = f"qscale {res['qscale']:.4g}" if enc.knob == "qscale" else f"quality {res['quality']}"
        print(f"{res['path']}: {args.method} {res['lr_size'][0]}x{res['lr_size'][1]} {k}, "
              f"{res['bpp']:.4f} bpp ({res['bytes']} bytes)")
    return 0


def _encode_all_cmd(args) -> int:
    from .encode import encode_bundle
    from .device import pick_device

    if args.quality is not None or args.qscale is not None:
        raise UsageError("--method all matches every method to --bpp; --quality/--qscale do not apply")
    if args.weights:
        raise UsageError("--method all uses the shipped weights; encode one method at a time for --weights")
    bpp = args.bpp if args.bpp is not None else 0.3
    res = encode_bundle(args.input, args.output, bpp=bpp, scale=args.scale, device=pick_device(args.device),
                        overwrite=args.overwrite, warn=_warn)
    if not args.quiet:
        for m, r in res.items():
            print(f"{r['path']}: {m} {r['bpp']:.4f} bpp")
    return 0


def cmd_encode(args) -> int:
    if args.method == registry.ENCODE_ALL:
        fn = _encode_all_cmd
    else:
        fn = _encode_learned_cmd if registry.get(args.method).learned else _encode_jpeg_cmd
    if args.scale < 1:
        raise UsageError("--scale must be at least 1")
    if not Path(args.input).exists():
        raise BadInput(f"{args.input}: no such file")
    return fn(args)


# ----------------------------------------------------------------------------- lazy commands
#: command -> (module, function); function(args) -> int
LAZY_COMMANDS = {
    "train": ("resvr.core.train.loop", "train_main"),
    "eval": ("resvr.core.evaluate", "eval_main"),
    "bench": ("resvr.core.bench", "bench_main"),
}


def _lazy(args) -> int:
    modname, fname = LAZY_COMMANDS[args.command]
    try:
        mod = importlib.import_module(modname)
    except ModuleNotFoundError as e:   # a dependency of that command is not installed
        raise MethodUnavailable(f"'{args.command}' cannot run: missing module {e.name}") from None
    return int(getattr(mod, fname)(args) or 0)


# ----------------------------------------------------------------------------- parser / main
def _add_weights_options(p) -> None:
    """One weights option per learned method (``registry.MethodInfo.weights_flag``)."""
    for m in map(registry.get, registry.weights_ids()):
        p.add_argument(m.weights_flag, default=None, metavar="PT", help=f"{m.name} weights (default: the shipped weights)")


def _add_eval(ev) -> None:
    """The options of ``resvr eval``."""
    ev.add_argument("input", metavar="ERP_FOLDER", nargs="?", default=None)
    ev.add_argument("--bpp", type=_positive_float, default=0.3)
    ev.add_argument("--fov", type=fov_arg, default=(120.0, 90.0), metavar="HxV")
    ev.add_argument("--size", type=size_arg, default=(1024, 768), metavar="WxH")
    ev.add_argument("--views", type=int, default=10, help="view directions per panorama")
    ev.add_argument("-o", "--output", default=None, metavar="REPORT_DIR",
                    help="the report folder (required, except with --report-only: default the run file's folder)")
    ev.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    ev.add_argument("--overwrite", action="store_true", help="replace an existing report (encoded files are reused)")
    _add_weights_options(ev)
    ev.add_argument("--ablation", action="append", default=[], metavar="NAME=PT",
                    help="extra ResVR row 'ResVR (NAME)' with these weights (repeatable)")
    ev.add_argument("--methods", default=None, metavar="LIST",
                    help="rows to run, comma-separated from "
                    + ",".join(k for m in registry.METHODS for k, _, _ in m.eval_rows) + " (default all)")
    ev.add_argument("--max-images", type=int, default=0, metavar="N", help="only the first N panoramas (0: all)")
    ev.add_argument("--rd-bpps", default="0.2,0.3,0.4,0.5", metavar="LIST",
                    help="rate-distortion targets, comma-separated ('none': no curve)")
    ev.add_argument("--rd-views", type=int, default=3, metavar="N", help="view directions per RD point (default 3)")
    ev.add_argument("--rd-images", type=int, default=0, metavar="N", help="panoramas per RD point (0: all)")
    ev.add_argument("--no-lpips", action="store_true", help="skip LPIPS (reported as n/a)")
    ev.add_argument("--reencode", action="store_true", help="encode again even where files/ has a matching file")
    ev.add_argument("--report-only", default=None, metavar="RUN.json",
                    help="rebuild the report from a run's run.json without measuring again")
    ev.set_defaults(func=_lazy)



def build_parser() -> argparse.ArgumentParser:
    # common options, accepted before or after the command (SUPPRESS: a subcommand that does not
    # see the option leaves the top-level value alone)
    def common(top: bool):
        c = argparse.ArgumentParser(add_help=False)
        sfx = "_top" if top else ""
        c.add_argument("--threads", type=int, default=None, dest="threads" + sfx,
                       help="torch CPU threads (default: $RESVR_THREADS, else torch's default)")
        c.add_argument("-q", "--quiet", action="store_true", dest="quiet" + sfx, help="print nothing on success")
        c.add_argument("--debug", action="store_true", dest="debug" + sfx,
                       help="on an error, show the Python traceback as well as the one-line message")
        return c

    p = argparse.ArgumentParser(prog=PROG, parents=[common(True)],
                                description="ResVR viewer tools: encode, render, evaluate, train, bench.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name, **kw):
        return sub.add_parser(name, parents=[common(False)], **kw)

    e = add("encode", help="encode an HR panorama into an LR JPEG")
    e.add_argument("input", metavar="HR_IMAGE")
    e.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file (a folder for --method all)")
    e.add_argument("--method", required=True, choices=ENCODE_METHODS)
    e.add_argument("--scale", type=int, default=4)
    rate = e.add_mutually_exclusive_group()
    rate.add_argument("--bpp", type=_positive_float, default=None,
                      help="target bits per HR pixel, from the real file size (default 0.3)")
    rate.add_argument("--qscale", type=_positive_float, default=None, help="QPM table scale (resvr, hyperthumbnail)")
    rate.add_argument("--quality", type=_quality, default=None, help="JPEG quality 1..100 (jpeg, dinn360)")
    e.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    e.add_argument("--weights", default=None, help="model weights (.pt) for the learned methods")
    e.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    e.set_defaults(func=cmd_encode)

    r = add("render", help="render viewports of a panorama to PNG")
    r.add_argument("input", metavar="IN_IMAGE", help="panorama file, or a comparison bundle folder "
                   "(the method picks its file: bilinear/bicubic the JPEG, hyperthumbnail, resvr, reference)")
    r.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="VIEW.png, or a folder with --views")
    r.add_argument("--method", required=True, choices=RENDER_METHODS)
    r.add_argument("--yaw", type=float, default=None, help="degrees, positive looks right")
    r.add_argument("--pitch", type=float, default=None, help="degrees, positive looks up")
    r.add_argument("--fov", type=fov_arg, default=(120.0, 90.0), metavar="HxV", help="degrees (default 120x90)")
    r.add_argument("--size", type=size_arg, default=(1024, 768), metavar="WxH", help="pixels (default 1024x768)")
    r.add_argument("--views", default=None, metavar="VIEWS.csv",
                   help="CSV yaw,pitch,fov_h,fov_v,width,height; writes OUT/view_000.png, ...")
    r.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    r.add_argument("--weights", default=None, help="model weights (.pt) for the learned methods")
    r.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    r.set_defaults(func=cmd_render)

    _add_eval(add("eval", help="quality table (bpp, WS-PSNR, PSNR, SSIM, LPIPS) over a folder of ERPs"))

    t = add("train", help="train a model from a YAML config")
    t.add_argument("config", metavar="CONFIG.yaml")
    t.add_argument("--resume", default=None, metavar="CKPT")
    t.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    t.add_argument("--max-iters", type=int, default=None, help="stop after this many iterations (this session)")
    t.add_argument("--max-hours", type=float, default=None,
                   help="stop after this much wall-clock time (a resumable segment), saving latest.pt")
    t.set_defaults(func=_lazy)

    b = add("bench", help="speed and memory benchmark table")
    b.add_argument("-o", "--output", default=None, metavar="REPORT_DIR")
    b.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    b.add_argument("--quick", action="store_true", help="tiny sizes and few repeats (a smoke test, for tests)")
    _add_weights_options(b)
    b.add_argument("--photos", default=None, metavar="DIR",
                   help="synthesise the panoramas from these photographs (default: procedural texture)")
    b.add_argument("--repeats", type=int, default=None, help="views per latency measurement")
    b.add_argument("--compile", action="store_true", help="run ResVR's query through torch.compile")
    b.set_defaults(func=_lazy)
    return p


def _warn(msg: str) -> None:
    print(f"{PROG}: warning: {msg}", file=sys.stderr)


_PKG_DIR = str(Path(__file__).resolve().parent)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """One ``resvr: warning:`` line for warnings raised by this package (e.g. a non-2:1 image);
    third-party deprecation chatter is dropped so that stderr stays readable."""
    try:
        ours = str(Path(filename).resolve()).startswith(_PKG_DIR)
    except (OSError, TypeError, ValueError):
        ours = False
    if ours:
        _warn(" ".join(str(message).split()))


def _set_threads(n: int | None) -> None:
    if n is None:
        env = os.environ.get("RESVR_THREADS")
        n = int(env) if env and env.isdigit() else None
    if n:
        import torch

        torch.set_num_threads(max(1, n))


def _error_line(e: BaseException) -> str:
    """One line for any exception that reaches :func:`main` (the message of our own errors; the
    OS's words for OSError; a short description of anything else)."""
    import errno

    text = " ".join(str(e).split())
    if isinstance(e, (BadInput, MethodUnavailable, UsageError)):
        return text
    if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and "can't allocate memory" in text):
        return "out of memory" + (f" ({text[:200]})" if text else "")
    if isinstance(e, OSError):
        where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
        what = e.strerror or text or type(e).__name__
        if e.errno == errno.ENOSPC:
            what = "no space left on device"
        return f"{where}: {what}" if where else what
    if isinstance(e, RecursionError):
        return "input nested too deeply"
    if isinstance(e, (ValueError, FileExistsError)):
        return text or type(e).__name__
    return f"unexpected {type(e).__name__}" + (f": {text[:300]}" if text else "") + " (run with --debug for details)"


def _check_input_first(args) -> None:
    """Weights take seconds and a gigabyte to load: for the commands that load them, check the input
    image (header, limits, a strict pass over a JPEG) first. A learned render reads an LR file, so
    the LR pixel limit applies (and HyperThumbnail's must be a YCbCr JPEG). Missing inputs and folders are left to the command's own messages."""
    from .imageio import MAX_LR_PIXELS, check_image

    src = Path(args.input)
    learned = args.method in registry.learned_ids()
    if args.command == "render" and learned and src.exists():
        from .bundle import is_bundle, load_bundle

        if is_bundle(src):
            src = load_bundle(src).source_for(args.method)
        if src.is_file():  # HyperThumbnail decodes its own files: a YCbCr JPEG
            check_image(src, max_pixels=MAX_LR_PIXELS, lr=True if registry.get(args.method).reads_dct else None)
    elif args.command == "encode" and (learned or args.method == registry.ENCODE_ALL) and src.is_file():
        check_image(src)


def main(argv=None) -> int:
    """Run one command. The error policy is here, for every command: an exception becomes exactly
    one line ``resvr: error: ...`` on stderr and exit 1 (a usage error exits 2, Ctrl-C 130);
    ``--debug`` prints the traceback first. Outputs are written atomically by the commands, so a
    failure leaves no partial file."""
    import traceback

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: usage error (2) or --help (0)
        return int(e.code) if isinstance(e.code, int) else 2
    # the common options may come before or after the command
    args.threads = args.threads if args.threads is not None else args.threads_top
    args.quiet = args.quiet or args.quiet_top
    args.debug = args.debug or args.debug_top
    old_show = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        _set_threads(args.threads)
        if args.command in ("render", "encode"):
            _check_input_first(args)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the one place where every error becomes one line
        if args.debug:
            traceback.print_exc()
        print(f"{PROG}: error: {_error_line(e)}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    finally:
        warnings.showwarning = old_show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
