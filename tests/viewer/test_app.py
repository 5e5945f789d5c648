"""Entry point pieces: sample lookup, empty state, settings file, dialogs, fps helper."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QApplication

from resvr.viewer.main_window import MainWindow, sample_bundle_path
from resvr.viewer.settings import Settings


REPO = Path(__file__).resolve().parents[2]


def test_sample_lookup_order(tmp_path, monkeypatch):
    from resvr.core import resources

    # RESVR_SAMPLE wins when it holds a bundle
    own = tmp_path / "own"
    own.mkdir()
    (own / "bundle.yaml").write_text("stem: x\n")
    monkeypatch.setenv("RESVR_SAMPLE", str(own))
    assert sample_bundle_path() == own
    # a RESVR_SAMPLE without a bundle falls through to the sample shipped in the package
    monkeypatch.setenv("RESVR_SAMPLE", str(tmp_path / "nowhere"))
    assert (REPO / "core" / "assets" / "sample" / "bundle.yaml").is_file()
    assert sample_bundle_path() == REPO / "core" / "assets" / "sample"
    # nothing anywhere (a build without the sample): None
    monkeypatch.setattr(resources, "ASSETS", tmp_path / "no-assets")
    assert sample_bundle_path() is None


def test_empty_state_about_and_shortcuts(qtbot, tmp_path):
    import platform

    import torch
    from PySide6.QtCore import qVersion
    from PySide6.QtGui import QAction, QKeySequence
    from PySide6.QtWidgets import QDialog, QMessageBox, QTableWidget

    w = MainWindow(settings=Settings(path=tmp_path / "s.yaml"))
    qtbot.addWidget(w)
    w.show()
    assert w.document is None
    assert w.view._stack.currentWidget() is w.view.empty
    # About names the versions actually running
    w.show_about()
    box = next(b for b in w.findChildren(QMessageBox) if b.windowTitle() == "About ResVR viewer")
    qtbot.waitUntil(box.isVisible)
    text = box.text()
    for want in (platform.python_version(), qVersion(), torch.__version__.split("+")[0]):
        assert want in text, want
    box.close()
    # the shortcut help lists every key bound to a menu action (read from the actions themselves)
    w.show_shortcuts()
    dlg = next(d for d in w.findChildren(QDialog) if d.windowTitle() == "Keyboard shortcuts")
    qtbot.waitUntil(dlg.isVisible)
    table = dlg.findChild(QTableWidget)
    listed = set()
    for r in range(table.rowCount()):
        for part in table.item(r, 0).text().replace(" or ", "/").split("/"):
            listed.add(part.strip())
        assert table.item(r, 1).text().strip()
    bound = {s.toString(QKeySequence.SequenceFormat.PortableText) for a in w.findChildren(QAction)
             for s in a.shortcuts()}
    assert {"Ctrl+O", "F1", "H"} <= bound
    assert bound <= listed, bound - listed
    dlg.reject()
    assert not dlg.isVisible()
    w.service.stop()


def test_settings_defaults_and_bad_file(tmp_path):
    p = tmp_path / "settings.yaml"
    p.write_text("device: [oops\n")
    s = Settings.load(p)
    assert s.device == "auto" and s.default_fov == [120.0, 90.0] and s.export_size == [2048, 1536]
    assert (tmp_path / "settings.yaml.bad").exists()
    s.device, s.export_size = "cpu", [640, 480]
    s.save()
    t = Settings.load(p)
    assert t.device == "cpu" and t.export_size == [640, 480]
    p.write_text("device: quantum\nexport_size: [0, 5]\n")
    u = Settings.load(p)
    assert u.device == "auto" and u.export_size == [2048, 1536]


def test_measure_gl_fps_runs(qtbot):
    from resvr.viewer.fps import measure_gl_fps

    r = measure_gl_fps(160, 120, seconds=0.3)
    assert r["width"] == 160 and r["draw_fps"] > 0 and r["present_fps"] > 0


def test_measure_gl_fps_with_a_background_render(qtbot, tmp_path):
    from resvr.viewer.fps import measure_gl_fps

    lr = tmp_path / "lr.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 128, 3), dtype=np.uint8)).save(lr)
    r = measure_gl_fps(160, 120, seconds=0.6, background_render=True, method="bicubic", lr_path=lr)
    assert r["background_error"] is None and r["background_method"] == "bicubic"
    assert r["background_renders"] >= 1 and r["draw_fps"] > 0 and r["present_fps"] > 0
    r = measure_gl_fps(160, 120, seconds=0.3, background_render=True, method="resvr", lr_path=lr,
                       weights=tmp_path / "missing.pt")
    assert r["background_renders"] == 0 and "weights not found" in r["background_error"]


def test_shipped_sample_is_a_full_sphere_non_training_panorama():
    """Issue 14.3: the sample is >= 2048x1024, 2:1, says it was not trained on, records its
    licence, and opens on its initial view with every method."""
    import yaml

    from resvr.core.bundle import load_bundle
    from resvr.viewer.document import open_document

    folder = REPO / "core" / "assets" / "sample"
    b = load_bundle(folder)
    assert b.hr_width >= 2048 and b.hr_height >= 1024 and b.hr_width == 2 * b.hr_height
    with Image.open(b.reference) as im:
        assert im.size == (b.hr_width, b.hr_height)
    doc = yaml.safe_load((folder / "bundle.yaml").read_text())
    assert doc["source"]["in_training_split"] is False and doc["source"]["licence"]
    assert "licen" in (folder / "SOURCE.md").read_text().lower() or "public domain" in (folder / "SOURCE.md").read_text()
    d = open_document(folder)
    assert d.kind == "bundle" and not d.in_training
    assert d.initial_view == {"yaw": doc["initial_view"]["yaw"], "pitch": doc["initial_view"]["pitch"]}
    assert {"resvr", "hyperthumbnail", "reference"} <= {p.key for p in d.panes}
