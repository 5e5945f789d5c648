"""Compare methods… (CompareJob) reuses a comparison bundle only when it was made from the same
files: the HR panorama and every weights file the encode reads, so new weights make a new encode
(real encodes of a small panorama with a copy of the shipped ResVR weights; the other learned
methods are left out by pointing at weights that do not exist). It encodes on the device the core
resolver picks for the setting."""
import shutil

import pytest
import torch
from PySide6.QtCore import Qt

from resvr.core.bundle import bundle_file_name
from resvr.core.device import pick_device
from resvr.core.models.weights import default_weights_path, safe_load
from resvr.viewer.compare_worker import STAMP, CompareJob

from viewer_helpers import make_pano, save


@pytest.fixture
def weights(tmp_path):
    d = tmp_path / "weights"
    d.mkdir()
    shutil.copyfile(default_weights_path("resvr"), d / "resvr.pt")
    return {"resvr": d / "resvr.pt", "hyperthumbnail": d / "absent-ht.pt", "dinn360": d / "absent-dinn.pt"}


def _new_weights(path) -> None:
    """Rewrite the weights file with other (still valid) weights: the sign of the downsampler's
    last layer (its residual over bicubic) flipped, so the LR pixels change whatever the weights."""
    blob = safe_load(path)
    w = blob["state_dict"]["codec.down.tail.weight"]
    blob["state_dict"]["codec.down.tail.weight"] = -w
    torch.save(blob, path)


def _run(qtbot, hr, where, weights, device=None):
    """Run one CompareJob to its end: (job, the progress texts, the outcome)."""
    job = CompareJob(hr, where, device=device, weights=weights)
    steps, outcome = [], []
    direct = Qt.ConnectionType.DirectConnection
    job.progressed.connect(lambda _, what: steps.append(what), direct)
    job.succeeded.connect(lambda f: outcome.append(("ok", f)), direct)
    job.failed.connect(lambda m: outcome.append(("failed", m)), direct)
    job.start()
    qtbot.waitUntil(job.isFinished, timeout=120000)
    job.wait()
    return job, steps, outcome


def _encoded(steps) -> bool:
    return "Encoding ResVR" in steps and "Done (already built)" not in steps


def test_new_weights_make_a_new_bundle_in_the_cache(qtbot, tmp_path, monkeypatch, weights):
    monkeypatch.setenv("RESVR_VIEWER_CACHE", str(tmp_path / "cache"))
    hr = save(tmp_path / "room.png", make_pano(256, 128, seed=5))
    lr = bundle_file_name("room", "resvr")
    first, steps, outcome = _run(qtbot, hr, "cache", weights)
    assert outcome == [("ok", str(first.out_dir))] and _encoded(steps)
    assert first.resolved_device == pick_device("auto")                # no device setting: "auto"
    again, steps, outcome = _run(qtbot, hr, "cache", weights)          # same files: reused
    assert again.out_dir == first.out_dir and steps == ["Done (already built)"]
    _new_weights(weights["resvr"])
    new, steps, outcome = _run(qtbot, hr, "cache", weights)
    assert outcome == [("ok", str(new.out_dir))] and _encoded(steps)   # a real encode, into a new bundle
    assert new.out_dir != first.out_dir and new.out_dir.parent == first.out_dir.parent
    assert (new.out_dir / lr).read_bytes() != (first.out_dir / lr).read_bytes()   # made with the new weights


def test_new_weights_replace_a_bundle_beside_the_file(qtbot, tmp_path, weights):
    hr = save(tmp_path / "hall.png", make_pano(256, 128, seed=6))
    lr = bundle_file_name("hall", "resvr")
    first, steps, outcome = _run(qtbot, hr, "beside", weights)
    out = tmp_path / "hall.compare"
    assert first.out_dir == out and outcome == [("ok", str(out))] and _encoded(steps)
    assert (out / STAMP).read_text().strip() == first.key
    old_lr = (out / lr).read_bytes()
    _, steps, _ = _run(qtbot, hr, "beside", weights)
    assert steps == ["Done (already built)"]
    _new_weights(weights["resvr"])
    new, steps, outcome = _run(qtbot, hr, "beside", weights)
    assert outcome == [("ok", str(out))] and _encoded(steps) and new.key != first.key
    assert (out / STAMP).read_text().strip() == new.key and (out / lr).read_bytes() != old_lr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hall.compare", "hall.png", "weights"]   # no leftovers
    # a folder there that Compare methods… did not make is left alone (one line)
    (out / STAMP).unlink()
    _new_weights(weights["resvr"])
    _, steps, outcome = _run(qtbot, hr, "beside", weights)
    assert outcome and outcome[0][0] == "failed" and "move it away first" in outcome[0][1]
    assert not (out / STAMP).exists() and sorted(p.name for p in tmp_path.iterdir()) == ["hall.compare", "hall.png",
                                                                                          "weights"]


def test_the_device_setting_is_resolved_by_the_core_resolver(qtbot, tmp_path, monkeypatch, weights):
    monkeypatch.setenv("RESVR_VIEWER_CACHE", str(tmp_path / "cache"))
    hr = save(tmp_path / "room.png", make_pano(256, 128, seed=5))
    job, _, outcome = _run(qtbot, hr, "cache", weights, device="cpu")
    assert job.resolved_device == torch.device("cpu") and outcome == [("ok", str(job.out_dir))]
    if not torch.cuda.is_available():   # "cuda" without CUDA: the resolver's one line, nothing written
        job, steps, outcome = _run(qtbot, hr, "beside", weights, device="cuda")
        assert outcome == [("failed", "CUDA was requested but no CUDA device is available")] and steps == []
        assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "room.png", "weights"]
    # "auto" is CUDA whenever torch sees a CUDA device (before, the viewer encoded on the CPU then);
    # without a real GPU the encode itself then fails, which is not what this checks
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    job, _, _ = _run(qtbot, tmp_path / "room.png", "beside", weights, device="auto")
    assert job.resolved_device == torch.device("cuda")
