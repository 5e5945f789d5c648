"""Architecture contracts (docs/design.md, "Layers"): core never imports Qt/OpenGL or the viewer;
the layers, from the ground up, import only downwards and without cycles; size limits.

(import-linter cannot see the ``resvr.core`` package through setuptools' editable finder, so the
contracts are checked here from the source text, and dynamically in a fresh interpreter.)
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "qtpy", "OpenGL", "qtawesome", "resvr.viewer")


def _imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_no_core_module_imports_qt_opengl_or_the_viewer():
    files = sorted((ROOT / "core").rglob("*.py"))
    assert len(files) > 10
    bad = [(f.relative_to(ROOT), m) for f in files for m in _imports(f)
           if any(m == x or m.startswith(x + ".") for x in FORBIDDEN)]
    assert not bad, bad


def test_importing_core_pulls_in_no_qt():
    code = ("import sys, resvr.core.methods, resvr.core.cli, resvr.core.encode, resvr.core.train.loop;"
            "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','OpenGL','qtawesome')];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# ----------------------------------------------------------------------------- the layer contract
#: ground first; a module may import its own layer and the layers below, never one above
LAYERS = (
    ("ground: errors, registry, resources, device, geometry, metrics",
     ("core", "core.errors", "core.registry", "core.resources", "core.device", "core.geometry", "core.metrics")),
    # jpeg.markers/jpeg.xmp read a JPEG's structure and metadata: imageio's pre-decode checks use them
    ("pixels: imageio, sampling, shape (+ jpeg.markers, jpeg.xmp)",
     ("core.imageio", "core.sampling", "core.shape", "core.jpeg.markers", "core.jpeg.xmp")),
    ("files: jpeg, bundle", ("core.jpeg", "core.bundle")),
    ("models", ("core.models",)),
    ("pipelines: methods, encode, train", ("core.methods", "core.encode", "core.train")),
    ("measuring: bench, evaluate", ("core.bench", "core.evaluate")),
    ("cli", ("core.cli",)),
    ("viewer", ("viewer",)),
)
QT = ("PySide6", "PyQt5", "PyQt6", "qtpy", "OpenGL", "qtawesome", "resvr.viewer")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 100


def layer_of(mod: str) -> int | None:
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            inside = mod == p or (mod.startswith(p + ".") and p != "core")   # "core": the package itself
            if inside and (best is None or len(p) > best[1]):
                best = (i, len(p))
    return None if best is None else best[0]


def modules(root: Path) -> dict[str, Path]:
    """'core.x.y' / 'viewer.z' -> file, for every .py under core/ and viewer/."""
    out = {}
    for top in ("core", "viewer"):
        for f in sorted((root / top).rglob("*.py")):
            parts = list(f.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = f
    return out


def _resolve(name: str, mods: dict) -> str | None:
    """An absolute import name -> our module ('resvr.core.x' -> 'core.x'), or None (not ours)."""
    if not name.startswith("resvr."):
        return None
    name = name[len("resvr."):]
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def imports(mod: str, path: Path, mods: dict) -> set[str]:
    """Our modules that ``mod`` imports anywhere in its file (also inside functions)."""
    tree = ast.parse(path.read_text(), str(path))
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {m for a in node.names if (m := _resolve(a.name, mods))}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(pkg.split(".")[:len(pkg.split(".")) - node.level + 1])
                full = f"{base}.{node.module}" if node.module else base
                names = [f"{full}.{a.name}" for a in node.names]
                out |= {n if n in mods else _resolve("resvr." + full, mods) for n in names} - {None}
            elif node.module:
                names = [f"{node.module}.{a.name}" for a in node.names]
                out |= {_resolve(n, mods) for n in names} - {None}
    out.discard(mod)
    return out


def _cycles(graph: dict) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def _is_package_edge(a: str, b: str) -> bool:
    """A package's __init__ re-exporting its own submodules (pkg -> pkg.x) is not a cycle."""
    return b.startswith(a + ".")


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring constants of a parsed module."""
    return {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}


def _qt_strings(path: Path) -> list[str]:
    """String constants (not docstrings) that name a Qt/viewer module: code run elsewhere."""
    tree = ast.parse(path.read_text(), str(path))
    docs = _docstrings(tree)
    pat = re.compile(r"\b(" + "|".join(re.escape(q) for q in QT) + r")\b")
    return [f"{path.name}:{n.lineno}: {n.value[:60]!r}" for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs and pat.search(n.value)]


def check(root, allow_long: dict | None = None) -> list[str]:
    """Every violation in the tree at ``root``: upward imports, import cycles, core naming Qt or
    the viewer (imports or code strings), modules over MAX_MODULE_LINES and functions over
    MAX_FUNCTION_LINES lines (``allow_long``: 'path' or 'path:function' -> why it may stay long)."""
    root = Path(root)
    mods = modules(root)
    bad = []
    graph = {m: imports(m, f, mods) for m, f in mods.items()}
    for m, deps in graph.items():
        lm = layer_of(m)
        if lm is None:
            bad.append(f"{m}: in no layer (add it to LAYERS)")
            continue
        for d in sorted(deps):
            ld = layer_of(d)
            if ld is not None and ld > lm:
                bad.append(f"upward import: {m} ({LAYERS[lm][0]}) imports {d} ({LAYERS[ld][0]})")
    acyclic = {m: {d for d in deps if not _is_package_edge(m, d)} for m, deps in graph.items()}
    bad += [f"import cycle: {' -> '.join(c)}" for c in _cycles(acyclic)]
    for m, f in mods.items():
        rel = f.relative_to(root).as_posix()
        if m.startswith("core"):
            tree = ast.parse(f.read_text())
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
                bad += [f"core imports Qt/viewer: {rel} imports {n}" for n in names
                        if any(n == q or n.startswith(q + ".") for q in QT)]
            bad += [f"core names Qt/viewer in a string: {rel}: {s}" for s in _qt_strings(f)]
        n = len(f.read_text().splitlines())
        if n > MAX_MODULE_LINES and rel not in (allow_long or {}):
            bad.append(f"module too long: {rel} has {n} lines (> {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                k = node.end_lineno - node.lineno + 1
                if k > MAX_FUNCTION_LINES and f"{rel}:{node.name}" not in (allow_long or {}):
                    bad.append(f"function too long: {rel}:{node.name} has {k} lines (> {MAX_FUNCTION_LINES})")
    return bad


#: modules/functions allowed over the limits, each with the reason (every entry is a debt)
ALLOW_LONG: dict[str, str] = {}


def test_layers_sizes_and_no_qt_in_core():
    """Checks, over every module of core/ and viewer/: each is in a layer of LAYERS (ground first:
    ground, pixels, files, models, pipelines, measuring, cli; the viewer above core); no import runs
    to a higher layer; no import cycle; core imports no Qt/OpenGL/viewer module and names none in
    a code string (e.g. one run as a subprocess); no module over 500 lines, no function over 100
    (ALLOW_LONG excepted, by name, each with its reason)."""
    assert len(modules(ROOT)) > 60
    bad = check(ROOT, ALLOW_LONG)
    assert not bad, "\n".join(["layers: " + " < ".join(n.split(":")[0] for n, _ in LAYERS)] + bad)


def _write(root: Path, rel: str, text: str) -> None:
    f = root / rel
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(text)


def test_the_layer_check_fails_on_deliberate_violations(tmp_path):
    """A small tree that breaks each rule once: the check names every break, and only those."""
    long_fn = "def f():\n" + "    x = 1\n" * 100 + "    return x\n"
    for rel, text in {
        "core/__init__.py": "",
        "core/errors.py": "",
        "core/geometry.py": "from .methods import get_method\n",                       # ground -> pipelines
        "core/methods.py": "import numpy\n",
        "core/sampling.py": "from . import shape\n",                                   # a cycle in one layer
        "core/shape.py": "def g():\n    from .sampling import render_view\n",
        "core/metrics.py": 'import subprocess\nsubprocess.run(["python", "-c", "import PySide6"])\n',
        "core/imageio.py": "from PySide6.QtGui import QImage\n",
        "core/bundle.py": "x = 1\n" * 501,
        "core/models/__init__.py": "",
        "core/models/vr.py": long_fn,
        "core/extra.py": "",                                                            # in no layer
        "core/cli.py": "from resvr.core.methods import get_method\nfrom resvr.viewer import app\n",
        "viewer/__init__.py": "",
        "viewer/app.py": "from resvr.core.methods import get_method\n",
    }.items():
        _write(tmp_path, rel, text)
    bad = check(tmp_path)
    want = [
        "upward import: core.geometry (ground",
        "import cycle: core.sampling -> core.shape",
        "core names Qt/viewer in a string: core/metrics.py",
        "core imports Qt/viewer: core/imageio.py imports PySide6.QtGui",
        "core imports Qt/viewer: core/cli.py imports resvr.viewer",
        "upward import: core.cli (cli) imports viewer.app (viewer)",
        "module too long: core/bundle.py has 501 lines",
        "function too long: core/models/vr.py:f has 102 lines",
        "core.extra: in no layer",
    ]
    for w in want:
        assert any(b.startswith(w) for b in bad), (w, bad)
    assert len(bad) == len(want), bad
    # and an allowance is by name only
    rest = check(tmp_path, {"core/models/vr.py:f": "test", "core/bundle.py": "test"})
    assert len(rest) == len(want) - 2 and not any("vr.py:f" in b or "bundle.py" in b for b in rest)


# ----------------------------------------------------------------------------- one method registry
#: where a method's id may be spelled in core besides core/registry.py: its own modules (its
#: ``methods.Method`` subclass, its models, its encoder)
OWN_MODULES = {
    "bilinear": ("core/methods.py",),
    "bicubic": ("core/methods.py",),
    "reference": ("core/methods.py",),
    "jpeg": ("core/encode/baseline.py",),
    "hyperthumbnail": ("core/methods.py", "core/models/pipelines.py", "core/models/hyperthumbnail.py",
                       "core/encode/learned.py"),
    "dinn360": ("core/methods.py", "core/models/dinn360.py", "core/encode/dinn360.py"),
    "resvr": ("core/methods.py", "core/models/pipelines.py", "core/models/vr.py", "core/models/vr_render.py",
              "core/models/vr_fast.py", "core/encode/learned.py"),
}
#: the same word meaning something else, by place: (path, word) -> what it is there
HOMONYMS = {
    ("core/__init__.py", "resvr"): "PROG, the program's name",
    ("core/jpeg/xmp.py", "resvr"): "the XMP namespace prefix (resvr:Method)",
    ("core/bundle.py", "reference"): "bundle.yaml's reference image (the registry's reads='reference')",
    ("core/sampling.py", "bilinear"): "the sampling modes (MODES)",
    ("core/sampling.py", "bicubic"): "the sampling modes (MODES)",
}


def _sampling_modes(tree: ast.AST) -> set[int]:
    """The string constants that are sampling modes: a ``mode=`` argument, a ``mode`` parameter's
    default (torch's ``interpolate``/``grid_sample`` modes, ``sampling.render_view``)."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            out |= {id(k.value) for k in n.keywords if k.arg == "mode"}
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = n.args
            pos = a.posonlyargs + a.args
            pairs = list(zip(pos[len(pos) - len(a.defaults):], a.defaults)) + list(zip(a.kwonlyargs, a.kw_defaults))
            out |= {id(d) for p, d in pairs if d is not None and p.arg == "mode"}
    return out


def method_id_literals(root, ids, own=None, homonyms=None) -> list[str]:
    """Every string constant (not a docstring) in ``root``/core equal to a method id outside
    core/registry.py, the id's own modules (``own``: id -> paths) and the ``homonyms`` ((path,
    word) -> meaning); a sampling mode (``_sampling_modes``) is not a method id."""
    root, own, homonyms = Path(root), own or {}, homonyms or {}
    bad = []
    for f in sorted((root / "core").rglob("*.py")):
        rel = f.relative_to(root).as_posix()
        if rel == "core/registry.py":
            continue
        tree = ast.parse(f.read_text(), rel)
        skip = _sampling_modes(tree) | _docstrings(tree)
        for n in ast.walk(tree):
            if (isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in ids and id(n) not in skip
                    and rel not in own.get(n.value, ()) and (rel, n.value) not in homonyms):
                bad.append(f"method id spelled outside the registry: {rel}:{n.lineno}: {n.value!r}")
    return bad


def test_method_ids_are_spelled_only_in_the_registry_and_the_methods_own_modules():
    """"A new method is added in one place": core/registry.py. Elsewhere in core a method's id is a
    string only in that method's own modules (OWN_MODULES) or where the word means something else
    (HOMONYMS, a sampling mode); every other place derives it from the registry."""
    from resvr.core import registry

    assert set(OWN_MODULES) == set(registry.BY_ID)
    assert all((ROOT / p).is_file() for ps in OWN_MODULES.values() for p in ps) and all(
        (ROOT / p).is_file() for p, _ in HOMONYMS)
    bad = method_id_literals(ROOT, set(registry.BY_ID), OWN_MODULES, HOMONYMS)
    assert not bad, "\n".join(bad)


def test_the_method_id_check_fails_on_deliberate_violations(tmp_path):
    """A small tree that spells ids where it should not (a dispatch by name, a dict key, a
    default argument) beside the places where it may: the check names exactly the former."""
    for rel, text in {
        "core/registry.py": 'METHODS = ("resvr", "bicubic")\n',
        "core/methods.py": 'class ResVRMethod:\n    name = "resvr"\n',
        "core/sampling.py": 'def render(erp, mode="bicubic"):\n    return F.grid_sample(erp, g, mode="bicubic")\n',
        "core/bench/run.py": 'def f(m):\n    """resvr"""\n    return m == "resvr"\n',                # line 3
        "core/cli.py": 'FLAGS = {"resvr": "--resvr-weights"}\n',
        "core/evaluate/run.py": 'def g(m="bicubic"):\n    return m\n',
    }.items():
        _write(tmp_path, rel, text)
    bad = method_id_literals(tmp_path, {"resvr", "bicubic"}, {"resvr": ("core/methods.py",)})
    assert bad == ["method id spelled outside the registry: core/bench/run.py:3: 'resvr'",
                   "method id spelled outside the registry: core/cli.py:1: 'resvr'",
                   "method id spelled outside the registry: core/evaluate/run.py:1: 'bicubic'"], bad


def test_the_cli_and_the_implementations_follow_the_registry():
    """The render/encode choices and the weights options are the registry's; every render method
    has its Method subclass, every encode method its encoder, and the XMP check knows them."""
    from resvr.core import cli, registry
    from resvr.core.encode import ENCODERS
    from resvr.core.jpeg import xmp
    from resvr.core.methods import _IMPLEMENTATIONS

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    choices = {c: next(a.choices for a in sub[c]._actions if a.dest == "method") for c in ("render", "encode")}
    assert tuple(choices["render"]) == registry.render_ids()
    assert tuple(choices["encode"]) == registry.encode_ids() + (registry.ENCODE_ALL,)
    flags = {c: [o for a in sub[c]._actions for o in a.option_strings if o.endswith("-weights")] for c in ("eval", "bench")}
    want = [registry.get(m).weights_flag for m in registry.weights_ids()]
    assert flags == {"eval": want, "bench": want} and want[0] == "--resvr-weights" and len(want) == len(registry.learned_ids())
    args = parser.parse_args(["bench", "--ht-weights", "h.pt"])
    assert registry.given_weights(args) == {m: ("h.pt" if m == "hyperthumbnail" else None) for m in want and registry.weights_ids()}
    assert {m: c.name for m, c in _IMPLEMENTATIONS.items()} == {m: m for m in registry.render_ids()}
    assert set(ENCODERS) == set(registry.encode_ids()) == set(xmp.METHODS)
