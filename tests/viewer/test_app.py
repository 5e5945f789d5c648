"""Entry point pieces: sample lookup, empty state, settings file, dialogs, fps helper."""
import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QApplication

from resvr.viewer.main_window import MainWindow, sample_bundle_path
from resvr.viewer.settings import Settings


def test_missing_sample_gives_empty_state(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("RESVR_SAMPLE", str(tmp_path / "nowhere"))
    p = sample_bundle_path()
    assert p is None or (p / "bundle.yaml").is_file()
    w = MainWindow(settings=Settings(path=tmp_path / "s.yaml"))
    qtbot.addWidget(w)
    w.show()
    assert w.view._stack.currentWidget() is w.view.empty
    w.show_about()
    w.show_shortcuts()
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
