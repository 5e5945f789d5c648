"""Architecture contracts: core never imports Qt/OpenGL or the viewer.

(import-linter cannot see the ``resvr.core`` package through setuptools' editable finder, so the
contract is checked here: statically over every file in core/, and dynamically in a fresh
interpreter.)
"""
import ast
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
