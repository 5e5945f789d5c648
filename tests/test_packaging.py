"""Packaging without ``-e``: the wheel carries the shipped weights and the sample bundle (package
data, found through importlib.resources), no training logs and no optimiser state; installed into a
fresh virtual environment it renders the packaged sample with ``resvr render``, equal to the render
of this checkout. And packaging/install-desktop.sh installs the desktop entry and icon for the user.

Offline: the wheel is built without build isolation (this environment's setuptools), and the fresh
venv sees the already installed dependencies through a .pth file naming this environment's
site-packages (a .pth entry adds the folder only; the editable install's own .pth hooks there are
not run, so ``resvr`` comes from the wheel alone)."""
from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
VIEW = ["--yaw", "30", "--pitch", "10", "--fov", "100x80", "--size", "64x48"]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESVR_") and k != "PYTHONPATH"}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    shutil.copytree(REPO, build / "src", ignore=shutil.ignore_patterns(
        ".venv", ".git", "checkpoints", "runs", "out", "build", "*.egg-info", "__pycache__", "tests"))
    try:
        import setuptools  # noqa: F401  (offline: build with this environment's setuptools)
        iso = ["--no-build-isolation"]
    except ImportError:
        iso = []
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", *iso, "-w", str(out),
                        str(build / "src")], capture_output=True, text=True, timeout=300, env=_env())
    assert r.returncode == 0, r.stderr[-2000:]
    wheels = list(out.glob("resvr_viewer-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_carries_the_weights_and_sample_and_no_training_state(wheel, tmp_path):
    from resvr.core import registry
    from resvr.core.models.weights import FORMAT, safe_load

    names = zipfile.ZipFile(wheel).namelist()
    for m in registry.learned_ids():
        assert f"resvr/core/assets/weights/{registry.get(m).weights}" in names
    sample = REPO / "core" / "assets" / "sample"
    for f in sample.iterdir():
        assert f"resvr/core/assets/sample/{f.name}" in names
    assert "resvr/core/models/vr_kernel.c" in names
    assert not [n for n in names if "/logs/" in n or "checkpoint" in n.lower()]
    for n in (n for n in names if n.endswith(".pt")):   # shipped weights only: no optimiser state
        p = tmp_path / Path(n).name
        p.write_bytes(zipfile.ZipFile(wheel).read(n))
        blob = safe_load(p)
        assert blob["format"] == FORMAT and "state_dict" in blob
        assert not {"optimizer", "optim", "opt", "scheduler"} & set(blob), n


def test_wheel_installs_into_a_fresh_venv_and_renders_the_packaged_sample(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    vsite = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                capture_output=True, text=True, check=True).stdout.strip())
    deps = [p for p in dict.fromkeys([sysconfig.get_paths()["purelib"], *site.getsitepackages(), *sys.path])
            if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
    (vsite / "_deps.pth").write_text("\n".join(deps) + "\n")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                        str(wheel)], capture_output=True, text=True, timeout=300, env=_env())
    assert r.returncode == 0, r.stderr[-2000:]
    # the package and its data come from the venv, not from this checkout
    where = subprocess.run([str(py), "-c", "import resvr.core, resvr.core.resources as r; "
                            "print(resvr.core.__file__); print(r.sample_bundle_path())"],
                           capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=120)
    assert where.returncode == 0, where.stderr[-2000:]
    pkg, sample = (Path(x) for x in where.stdout.split())
    assert pkg.is_relative_to(venv) and sample.is_relative_to(venv), where.stdout
    out = tmp_path / "view.png"
    r = subprocess.run([str(venv / "bin" / "resvr"), "render", str(sample), "-o", str(out), "--method", "resvr",
                        "--device", "cpu", *VIEW], capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    # the same view from this checkout's code and data
    from resvr.core.cli import main

    ref = tmp_path / "ref.png"
    assert main(["render", str(REPO / "core" / "assets" / "sample"), "-o", str(ref), "--method", "resvr",
                 "--device", "cpu", "-q", *VIEW]) == 0
    a, b = np.asarray(Image.open(out)), np.asarray(Image.open(ref))
    assert a.shape == (48, 64, 3) and a.std() > 1
    np.testing.assert_array_equal(a, b)


def test_install_desktop_for_the_current_user(tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    script = REPO / "packaging" / "install-desktop.sh"
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60,
                       env=_env(HOME=str(home), XDG_DATA_HOME=str(data)))
    assert r.returncode == 0, r.stderr
    app = data / "applications" / "resvr-viewer.desktop"
    icon = data / "icons" / "hicolor" / "scalable" / "apps" / "resvr-viewer.svg"
    assert app.read_bytes() == (REPO / "packaging" / "resvr-viewer.desktop").read_bytes()
    assert icon.read_bytes() == (REPO / "packaging" / "resvr-viewer.svg").read_bytes()
    lines = app.read_text().splitlines()
    assert "Exec=resvr-viewer %f" in lines and "Icon=resvr-viewer" in lines
    assert not list(home.rglob("*"))                      # XDG_DATA_HOME respected: nothing under HOME
    # without XDG_DATA_HOME: ~/.local/share
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60, env=_env(HOME=str(home)))
    assert r.returncode == 0 and (home / ".local/share/applications/resvr-viewer.desktop").is_file()
    r = subprocess.run(["bash", str(script), "--uninstall"], capture_output=True, text=True, timeout=60,
                       env=_env(HOME=str(home), XDG_DATA_HOME=str(data)))
    assert r.returncode == 0 and not app.exists() and not icon.exists()
    r = subprocess.run(["bash", str(script), "--bogus"], capture_output=True, text=True, timeout=60,
                       env=_env(HOME=str(home), XDG_DATA_HOME=str(data)))
    assert r.returncode == 2 and "usage" in r.stderr
