"""Untrusted input (issue 12): the committed corpus through the CLI and the loaders, the CLI's error
policy, and a seeded mutation fuzz of the image/bundle loaders and a small render.

The corpus (``tests/corpus``, made by ``scripts/make_corpus.py``) lists each case's expected outcome.
Every CLI case runs through ``main()`` (and the issue's four headline cases, plus an accepted one,
as their own ``python -m resvr.core.cli`` processes) with a private cwd, TMPDIR and payload-marker
path, and must: exit 1 with exactly one ``resvr: error:`` line holding the
expected words and no traceback (refused), or exit 0 with the view written (accepted); leave no
file behind but that view (output folder and TMPDIR); and never create the payload marker.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resvr.core.errors import BadInput, MethodUnavailable

CORPUS = Path(__file__).resolve().parent / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
CASES = {c["name"]: c for c in MANIFEST["cases"]}
MARKER_ENV = MANIFEST["marker_env"]


#: Cases also run as separate ``resvr`` processes (each imports torch: seconds apiece); every case
#: runs through ``main()`` in this process, with the C-level stderr captured too.
SUBPROCESS_CASES = ("weights_malicious_pickle", "bundle_escape_parent", "claims_23000x11500", "tiny_1x1",
                    "good_png")


def _argv(args, work: Path) -> list:
    return [a.replace("{corpus}", str(CORPUS)).replace("{out}", str(work / "out")) for a in args]


def _leftovers(tmp: Path) -> list:
    # torch makes its compile-cache folder (torchinductor_<user>) in TMPDIR on import: not ours
    return sorted(str(f.relative_to(tmp)) for f in tmp.rglob("*")
                  if not str(f.relative_to(tmp)).startswith("torchinductor_"))


def _result(work: Path, rc: int, stderr: str) -> dict:
    return {"rc": rc, "stderr": stderr, "out": sorted(f.name for f in (work / "out").iterdir()),
            "tmp": _leftovers(work / "tmp"), "cwd": sorted(f.name for f in (work / "cwd").iterdir()),
            "marker": (work / "marker").exists(), "view": work / "out" / "view.png"}


def _setup(work: Path) -> None:
    for d in ("cwd", "out", "tmp"):
        (work / d).mkdir(parents=True, exist_ok=True)


def _run_process(args, work: Path) -> dict:
    """One ``python -m resvr.core.cli`` process in ``work`` (cwd, out/, tmp/ as TMPDIR, marker)."""
    _setup(work)
    env = dict(os.environ, OMP_NUM_THREADS="1", TMPDIR=str(work / "tmp"), **{MARKER_ENV: str(work / "marker")})
    env.pop("RESVR_ASSETS", None)
    p = subprocess.run([sys.executable, "-m", "resvr.core.cli", *_argv(args, work)], cwd=work / "cwd", env=env,
                       capture_output=True, text=True, timeout=600)
    return _result(work, p.returncode, p.stderr)


def _run_in_process(args, work: Path, monkeypatch, capfd) -> dict:
    """``main()`` here, with the same private cwd, TMPDIR and marker; fd-level stderr captured."""
    import tempfile

    from resvr.core.cli import main

    _setup(work)
    monkeypatch.chdir(work / "cwd")
    monkeypatch.setattr(tempfile, "tempdir", str(work / "tmp"))
    monkeypatch.setenv(MARKER_ENV, str(work / "marker"))
    capfd.readouterr()
    rc = main(_argv(args, work))
    return _result(work, rc, capfd.readouterr().err)


@pytest.fixture(scope="module")
def process_results(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    with ThreadPoolExecutor(max_workers=3) as pool:
        futs = {n: pool.submit(_run_process, CASES[n]["args"], base / n) for n in SUBPROCESS_CASES}
        return {n: f.result() for n, f in futs.items()}


def test_corpus_is_what_the_script_makes(tmp_path):
    """The committed corpus is the generator's output, byte for byte (regenerate, don't hand-edit)."""
    sys.path.insert(0, str(CORPUS.parents[1] / "scripts"))
    try:
        import make_corpus
    finally:
        sys.path.pop(0)
    make_corpus.make(tmp_path / "c")
    mine = {str(p.relative_to(tmp_path / "c")) for p in (tmp_path / "c").rglob("*") if p.is_file()}
    committed = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file()}
    assert mine == committed
    differ = [f for f in sorted(mine) if not f.endswith(".pt")
              and (tmp_path / "c" / f).read_bytes() != (CORPUS / f).read_bytes()]
    assert not differ  # torch.save embeds a random record id, so .pt files are compared by loading
    assert len(CASES) >= 30 and {c["expect"] for c in CASES.values()} == {"refused", "accepted"}


def _check_cli(case: dict, r: dict) -> None:
    assert "Traceback" not in r["stderr"], r["stderr"]
    assert not r["marker"], "the payload ran"
    assert r["tmp"] == [], f"temporary files left behind: {r['tmp']}"
    assert r["cwd"] == []
    if case["expect"] == "refused":
        lines = r["stderr"].splitlines()
        assert r["rc"] == 1, r["stderr"]
        assert len(lines) == 1 and lines[0].startswith("resvr: error: "), r["stderr"]
        assert not lines[0].startswith("resvr: error: resvr:"), "the program's prefix repeated"
        assert case["message"] in lines[0]
        assert r["out"] == []
    else:
        assert r["rc"] == 0, r["stderr"]
        assert "error" not in r["stderr"]
        assert r["out"] == ["view.png"]
        with Image.open(r["view"]) as im:
            assert im.size == (64, 48) and im.mode == "RGB"
            a = np.asarray(im)
        assert a.std() > 1.0  # a picture, not a blank frame


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_case(name, tmp_path, monkeypatch, capfd):
    _check_cli(CASES[name], _run_in_process(CASES[name]["args"], tmp_path, monkeypatch, capfd))


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_cli_case_as_a_process(process_results, name):
    _check_cli(CASES[name], process_results[name])


def _load(case):
    from resvr.core.bundle import load_bundle
    from resvr.core.imageio import load_image
    from resvr.core.models.weights import load_weights

    target = CORPUS / case["target"]
    if case["loader"] == "image":
        return load_image(target)
    if case["loader"] == "image_lr":
        return load_image(target, lr=True)
    if case["loader"] == "bundle":
        return load_bundle(target)
    return load_weights("resvr", target)


@pytest.mark.parametrize("name", sorted(CASES))
def test_loader_case(name, tmp_path, monkeypatch, recwarn):
    case = CASES[name]
    monkeypatch.setenv(MARKER_ENV, str(tmp_path / "marker"))
    if case["expect"] == "refused":
        with pytest.raises((BadInput, MethodUnavailable)) as ei:
            _load(case)
        msg = str(ei.value)
        assert "\n" not in msg and case["message"] in msg
    else:
        assert _load(case) is not None
    assert not (tmp_path / "marker").exists()


def test_the_payload_is_real():
    """The malicious file really asks to run a shell command that writes the marker (so the tests
    above can fail). Read statically with pickletools: nothing in it is ever executed here."""
    import pickletools
    import zipfile

    with zipfile.ZipFile(CORPUS / "weights" / "malicious_pickle.pt") as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
    calls = [i for i, (name, arg) in enumerate(ops) if name == "GLOBAL" and arg in ("posix system", "nt system")]
    assert calls, "no os.system call in the malicious pickle"
    i = calls[0]
    assert any(name.endswith("UNICODE") and "touch" in arg and MARKER_ENV in arg for name, arg in ops[i:i + 4])
    assert any(name == "REDUCE" for name, _ in ops[i:i + 10])                 # ... and it is called


# ----------------------------------------------------------------------------- the CLI's error policy
def _main(capsys, *argv):
    from resvr.core.cli import main

    rc = main(list(argv))
    return rc, capsys.readouterr().err


def test_debug_shows_the_traceback(capsys, tmp_path):
    args = ["render", str(CORPUS / "images/tiny_1x1.png"), "-o", str(tmp_path / "v.png"), "--method", "bilinear",
            "--yaw", "0", "--pitch", "0"]
    rc, err = _main(capsys, *args)
    assert rc == 1 and err.count("\n") == 1 and "Traceback" not in err
    rc, err = _main(capsys, "--debug", *args)
    assert rc == 1 and "Traceback (most recent call last)" in err and "BadInput" in err
    assert err.splitlines()[-1] == "resvr: error: " + str(CORPUS / "images/tiny_1x1.png") + \
        ": image of 1x1 is below the minimum size of 32x16"


def test_weights_errors_name_the_method_once(capsys, tmp_path):
    """The program's prefix is not repeated ("resvr: error: resvr: ..." read as a doubled prefix):
    a weights problem is named by the method's label."""
    good = str(CORPUS / "images/good_lr.jpg")
    base = ["render", good, "-o", str(tmp_path / "v.png"), "--method", "resvr", "--yaw", "0", "--pitch", "0"]
    rc, err = _main(capsys, *base, "--weights", str(tmp_path / "none.pt"))
    assert rc == 1 and err == f"resvr: error: ResVR weights not found at {tmp_path / 'none.pt'}\n"
    bad = CORPUS / "weights/malicious_pickle.pt"
    rc, err = _main(capsys, *base, "--weights", str(bad))
    assert rc == 1 and err == (f"resvr: error: ResVR weights: {bad}: refused: not a plain weights file "
                               "(it asks to run code on load)\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("exc,words", [(IndexError("index 9 is out of bounds"), "unexpected IndexError: index 9"),
                                       (RuntimeError("DefaultCPUAllocator: can't allocate memory: 135 GB"),
                                        "out of memory"),
                                       (MemoryError(), "out of memory"),
                                       (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
                                       (OSError(28, "No space left on device", "/x/view.png"),
                                        "/x/view.png: no space left on device"),
                                       (AttributeError("'str' object has no attribute 'get'"),
                                        "unexpected AttributeError")])
def test_any_exception_is_one_line_and_exit_1(capsys, monkeypatch, tmp_path, exc, words):
    from resvr.core import cli

    def boom(args):
        raise exc

    parser_default = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser_default(), boom))
    for argv in (["render", "x.png", "-o", "v.png", "--method", "bilinear"],
                 ["encode", "x.png", "-o", str(tmp_path / "x.jpg"), "--method", "jpeg"]):
        rc, err = _main(capsys, *argv)
        assert rc == 1 and err.count("\n") == 1 and err.startswith("resvr: error: ") and words in err, err
        assert "Traceback" not in err
    rc, err = _main(capsys, "--debug", "render", "x.png", "-o", "v.png", "--method", "bilinear")
    assert rc == 1 and "Traceback" in err and err.splitlines()[-1].startswith("resvr: error: ")


def _with_func(parser, fn):
    for action in parser._subparsers._group_actions:
        for sub in action.choices.values():
            sub.set_defaults(func=fn)
    return parser


def test_os_errors_from_outputs_are_one_line(capsys, tmp_path):
    long_name = tmp_path / ("v" * 300 + ".png")
    rc, err = _main(capsys, "render", str(CORPUS / "images/good.png"), "-o", str(long_name), "--method", "bilinear",
                    "--yaw", "0", "--pitch", "0", "--fov", "90x60", "--size", "32x24")
    assert rc == 1 and err.count("\n") == 1 and "name too long" in err.lower()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_one_line(capsys, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, err = _main(capsys, "render", str(CORPUS / "images/good.png"), "-o", str(ro / "v.png"), "--method",
                        "bilinear", "--yaw", "0", "--pitch", "0", "--size", "32x24")
    finally:
        ro.chmod(0o755)
    assert rc == 1 and err.count("\n") == 1 and "ermission denied" in err


def test_jpeglib_temp_files_removed_when_it_fails(tmp_path, monkeypatch):
    import tempfile

    import jpeglib

    from resvr.core.jpeg.container import write_jpeg_dct

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    calls = []

    def fail(*a, **k):
        calls.append(1)
        raise IOError("writing failed")

    monkeypatch.setattr(jpeglib._bind.CJpegLib, "write_jpeg_dct", staticmethod(fail))
    Y = np.zeros((2, 4, 8, 8), np.int16)
    with pytest.raises(IOError):
        write_jpeg_dct(tmp_path / "x.jpg", Y, Y, Y, np.ones((2, 8, 8), np.uint16))
    assert calls and list((tmp_path / "tmp").iterdir()) == [] and not (tmp_path / "x.jpg").exists()


def test_weights_load_only_after_the_input_is_checked(capsys, tmp_path, monkeypatch):
    from resvr.core.models import weights

    monkeypatch.setattr(weights, "load_weights", lambda *a, **k: pytest.fail("weights loaded first"))
    for method in ("resvr", "hyperthumbnail"):
        rc, err = _main(capsys, "render", str(CORPUS / "images/cut_scan_eoi.jpg"), "-o", str(tmp_path / "v.png"),
                        "--method", method, "--yaw", "0", "--pitch", "0")
        assert rc == 1 and "corrupt JPEG" in err
    rc, err = _main(capsys, "encode", str(CORPUS / "images/tiny_8x4.png"), "-o", str(tmp_path / "x.jpg"),
                    "--method", "resvr")
    assert rc == 1 and "below the minimum size" in err


# ----------------------------------------------------------------------------- mutation fuzz
def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """scripts/fuzz.py's mutations (the long fuzz run uses the same ones)."""
    sys.path.insert(0, str(CORPUS.parents[1] / "scripts"))
    try:
        import fuzz
    finally:
        sys.path.pop(0)
    return fuzz.mutate(data, rng)


def test_mutation_fuzz_of_loader_and_render(tmp_path):
    """200 seeded mutations of an LR JPEG and a PNG, through the loader and a small bilinear render,
    and 60 of bundle.yaml through the bundle loader: nothing but the project's own errors escape."""
    import warnings

    from resvr.core.bundle import load_bundle
    from resvr.core.geometry import View
    from resvr.core.methods import get_method

    seeds = {"jpg": (CORPUS / "images/good_lr.jpg").read_bytes(), "png": (CORPUS / "images/good.png").read_bytes()}
    rng = np.random.default_rng(12)
    method = get_method("bilinear", device="cpu")
    view = View(30.0, -10.0, 90.0, 60.0, 24, 16)
    outcomes = {"ok": 0, "refused": 0}
    for i in range(200):
        ext = "jpg" if i % 2 == 0 else "png"
        p = tmp_path / f"m{i}.{ext}"
        p.write_bytes(_mutate(seeds[ext], rng))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                method.prepare(p)
            out = method.render(view)
            assert out.shape == (16, 24, 3) and np.isfinite(out).all()
            outcomes["ok"] += 1
        except (BadInput, MethodUnavailable) as e:
            assert "\n" not in str(e)
            outcomes["refused"] += 1
        p.unlink()
    assert outcomes["ok"] > 10 and outcomes["refused"] > 50, outcomes  # the fuzz reaches both sides

    text = (CORPUS / "bundles/good/bundle.yaml").read_bytes()
    b = tmp_path / "b"
    b.mkdir()
    (b / "pano.jpeg.jpg").write_bytes(seeds["jpg"])
    for i in range(60):
        (b / "bundle.yaml").write_bytes(_mutate(text, rng))
        try:
            load_bundle(b)
        except BadInput as e:
            assert "\n" not in str(e)


# ----------------------------------------------------------------------------- LR limits in the render path
@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    from tests.helpers import TINY_HT, TINY_RESVR, save_tiny_checkpoint

    from tests.test_dinn360 import TINY_DINN

    d = tmp_path_factory.mktemp("w")
    return {"resvr": save_tiny_checkpoint(d / "r.pt", TINY_RESVR), "hyperthumbnail": save_tiny_checkpoint(d / "h.pt", TINY_HT),
            "dinn360": save_tiny_checkpoint(d / "d.pt", TINY_DINN)}


@pytest.fixture(scope="module")
def lr_files(tmp_path_factory):
    from tests.helpers import textured_erp

    d = tmp_path_factory.mktemp("lr")
    Image.fromarray(textured_erp(32, 64)).save(d / "lr.jpg", quality=90, subsampling=0)
    Image.fromarray(textured_erp(32, 64)).save(d / "lr.png")
    return d


@pytest.mark.parametrize("method,ext", [("resvr", "jpg"), ("resvr", "png"), ("hyperthumbnail", "jpg"),
                                        ("dinn360", "jpg")])
def test_learned_methods_read_lr_files_under_the_lr_limit(monkeypatch, tiny_weights, lr_files, method, ext):
    """The methods themselves (what the viewer calls, not only the CLI's pre-check) hold an LR file
    to the LR pixel limit: with the limit lowered below 64x32 the file is refused, at 64x32 it renders."""
    from resvr.core import imageio, methods
    from resvr.core.geometry import View

    m = methods.get_method(method, device="cpu", weights=tiny_weights[method])
    view = View(0.0, 0.0, 90.0, 60.0, 24, 16)
    monkeypatch.setattr(imageio, "MAX_LR_PIXELS", 64 * 32)
    monkeypatch.setattr(methods, "MAX_LR_PIXELS", 64 * 32)
    m.prepare(lr_files / f"lr.{ext}")
    assert m.render(view).shape == (16, 24, 3)
    monkeypatch.setattr(imageio, "MAX_LR_PIXELS", 64 * 32 - 1)
    monkeypatch.setattr(methods, "MAX_LR_PIXELS", 64 * 32 - 1)
    with pytest.raises(BadInput, match="above the limit of 2047 pixels") as ei:
        m.prepare(lr_files / f"lr.{ext}")
    assert str(ei.value).startswith(str(lr_files / f"lr.{ext}")) and "\n" not in str(ei.value)


def test_hyperthumbnail_method_refuses_a_png(tiny_weights, lr_files):
    from resvr.core.methods import get_method

    with pytest.raises(BadInput, match="an LR panorama file must be a JPEG, not PNG"):
        get_method("hyperthumbnail", device="cpu", weights=tiny_weights["hyperthumbnail"]).prepare(lr_files / "lr.png")


def test_resvr_table_is_the_size_it_is_checked_at(tiny_weights, lr_files):
    """The size the check uses is the table's real size: 2 x amp values per LR pixel."""
    from resvr.core.methods import get_method
    from tests.helpers import TINY_RESVR

    for fast in (True, False):
        m = get_method("resvr", device="cpu", weights=tiny_weights["resvr"])
        m.renderer.fast = fast
        m.prepare(lr_files / "lr.jpg")
        t = m.renderer.feats["table"]
        assert t.nbytes == m.renderer.table_bytes(32, 64) == 32 * 64 * 2 * TINY_RESVR["vr"]["amp"] * (2 if fast else 4)


@pytest.mark.parametrize("how", ["limit", "allocation"])
def test_resvr_table_too_large_is_one_line(monkeypatch, capsys, tmp_path, tiny_weights, lr_files, how):
    """A valid LR image whose feature table would not fit: one line and exit 1, no output (a limit
    lowered to 1 KiB stands in for the machine's memory; an allocator failure is simulated)."""
    from resvr.core.models.vr_render import VRRenderer

    if how == "limit":
        monkeypatch.setattr(VRRenderer, "max_table_bytes", 1024)
        words = "needs a 0.0 GiB ResVR feature table, more than the 0.0 GiB of machine memory"
    else:
        def fail(self, n):
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 144955146240 bytes")

        monkeypatch.setattr(VRRenderer, "_alloc_table", fail)
        words = "not enough memory for its 0.0 GiB ResVR feature table"
    rc, err = _main(capsys, "render", str(lr_files / "lr.jpg"), "-o", str(tmp_path / "v.png"), "--method", "resvr",
                    "--weights", str(tiny_weights["resvr"]), "--yaw", "0", "--pitch", "0", "--size", "32x24")
    assert rc == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"resvr: error: {lr_files / 'lr.jpg'}: a 64x32 LR image") and words in err, err
    assert list(tmp_path.iterdir()) == []


def test_resvr_other_runtime_errors_are_not_called_memory(monkeypatch, tiny_weights, lr_files):
    from resvr.core.methods import get_method
    from resvr.core.models.vr_render import VRRenderer

    def fail(self, n):
        raise RuntimeError("something else")

    monkeypatch.setattr(VRRenderer, "_alloc_table", fail)
    with pytest.raises(RuntimeError, match="something else"):
        get_method("resvr", device="cpu", weights=tiny_weights["resvr"]).prepare(lr_files / "lr.jpg")
