"""The render service: latest request wins, stale work is dropped, unavailable methods are reported."""
import os
import sys
import threading

import numpy as np
import pytest
import torch

from resvr.core.geometry import View
from resvr.viewer.render_service import BACKGROUND_NICE, RenderItem, RenderRequest, RenderService

from viewer_helpers import make_pano, save


@pytest.fixture
def service(qtbot):
    s = RenderService()
    yield s
    s.stop()


def test_latest_request_wins_and_stale_is_dropped(qtbot, service, tmp_path, monkeypatch):
    f = save(tmp_path / "p.png", make_pano(128, 64))
    gate = threading.Event()
    entered = threading.Event()
    orig = service._render

    def slow_render(name, path, view, device):
        entered.set()
        gate.wait(5)
        return orig(name, path, view, device)

    monkeypatch.setattr(service, "_render", slow_render)
    got = []
    service.resultReady.connect(got.append)
    views = [View(yaw=y, fov_h=90, fov_v=60, width=64, height=48) for y in (0, 10, 20, 30)]
    # the first request starts (and blocks); the next ones replace each other while waiting
    for i, v in enumerate(views):
        service.submit(RenderRequest([RenderItem("bilinear", "bilinear", f, v),
                                      RenderItem("bicubic", "bicubic", f, v)], device="cpu"))
        if i == 0:
            assert entered.wait(5)  # the worker is busy with the first request
    gate.set()
    qtbot.waitUntil(lambda: any(r.view.yaw == 30 for r in got) and len([r for r in got if r.view.yaw == 30]) == 2,
                    timeout=10000)
    yaws = [r.view.yaw for r in got]
    assert 10 not in yaws and 20 not in yaws          # never started: replaced by a newer request
    assert yaws.count(0) <= 1                          # abandoned between items once a newer one came
    assert service.dropped >= 2
    r = [r for r in got if r.view.yaw == 30][0]
    assert r.image.shape == (48, 64, 3) and r.image.dtype == np.float32 and r.error is None
    assert service.estimate_seconds("bilinear", 1_000_000) is not None


def test_unavailable_method_is_a_result_not_a_crash(qtbot, service, tmp_path, monkeypatch):
    import resvr.core.models.weights as weights

    monkeypatch.setattr(weights, "ASSETS", tmp_path / "no-assets")  # as on a machine without the weights
    f = save(tmp_path / "p.png", make_pano(128, 64))
    with qtbot.waitSignal(service.resultReady, timeout=10000) as blocker:
        service.submit(RenderRequest([RenderItem("resvr", "resvr", f, View(width=32, height=24))], device="cpu"))
    res = blocker.args[0]
    assert res.error is not None and "weights not found" in str(res.error)
    assert res.unavailable and res.image is None


def test_preparing_message_is_cleared_once_the_method_is_ready(qtbot, service, tmp_path):
    f = save(tmp_path / "p.png", make_pano(128, 64))
    msgs, got = [], []
    service.message.connect(msgs.append)
    service.resultReady.connect(got.append)
    service.submit(RenderRequest([RenderItem("bicubic", "bicubic", f, View(width=64, height=48))], device="cpu"))
    qtbot.waitUntil(lambda: len(got) == 1, timeout=10000)
    assert len(msgs) == 2 and msgs[0].startswith("Preparing ") and msgs[1] == ""


def test_one_panes_failure_stays_in_that_pane(qtbot, service, tmp_path, monkeypatch):
    """Bad weights, a corrupt LR file and a method that crashes (an IndexError, as a bug would) each
    fail only their own pane, with a one-line error; the panes after them still render, and the
    next request renders again."""
    import resvr.core.methods as methods
    import resvr.core.models.weights as weights
    from tests.helpers import TINY_HT, save_tiny_checkpoint

    assets = tmp_path / "assets"
    (assets / "weights").mkdir(parents=True)
    (assets / "weights" / "resvr.pt").write_bytes(np.random.default_rng(0).bytes(4096))     # not weights
    save_tiny_checkpoint(assets / "weights" / "hyperthumbnail.pt", TINY_HT)
    monkeypatch.setattr(weights, "ASSETS", assets)

    def crash(self, view):
        raise IndexError("index 9 is out of bounds")

    monkeypatch.setattr(methods.Bicubic, "render", crash)
    pano = make_pano(128, 64)
    f = save(tmp_path / "p.png", pano)
    lr = save(tmp_path / "lr.jpg", pano, quality=90, subsampling=0)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(lr.read_bytes()[:len(lr.read_bytes()) // 2] + b"\xff\xd9")            # scan cut short
    v = View(yaw=20, fov_h=90, fov_v=60, width=32, height=24)
    items = [RenderItem("a", "bilinear", f, v), RenderItem("b", "resvr", lr, v),
             RenderItem("c", "hyperthumbnail", cut, v), RenderItem("d", "bicubic", f, v),
             RenderItem("e", "reference", f, v)]
    got, msgs = [], []
    service.resultReady.connect(got.append)
    service.message.connect(msgs.append)
    service.submit(RenderRequest(items, device="cpu"))
    qtbot.waitUntil(lambda: len(got) == 5, timeout=60000)
    by = {r.key: r for r in got}
    for k in "ae":
        assert by[k].error is None and by[k].image.shape == (24, 32, 3)
    assert by["b"].unavailable and "cannot read weights" in by["b"].error
    assert not by["c"].unavailable and "corrupt JPEG" in by["c"].error
    assert by["d"].error == "IndexError: index 9 is out of bounds"
    for k in "bcd":
        assert by[k].image is None and "\n" not in by[k].error
    assert not any(m.startswith("render failed") for m in msgs)   # the request itself never failed
    # the bilinear pane's pixels are the bilinear method's own view of the file
    ref = methods.get_method("bilinear", device="cpu")
    ref.prepare(f)
    assert np.array_equal(by["a"].image, ref.render(v))
    service.submit(RenderRequest([RenderItem("a", "bilinear", f, View(yaw=40, width=32, height=24))], device="cpu"))
    qtbot.waitUntil(lambda: len(got) == 6, timeout=10000)
    assert got[-1].error is None and got[-1].view.yaw == 40


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_the_worker_and_the_threads_it_starts_run_at_background_priority(qtbot, service, tmp_path, monkeypatch):
    """The GUI thread keeps its priority; the render worker and every thread started while it
    renders (torch's OpenMP pool for a learned view) run at nice BACKGROUND_NICE, so the GL pane
    is not starved on a 2-core machine. Read from /proc, independently of the code under test."""
    def nice_of_threads() -> dict[int, int]:
        out = {}
        for t in os.listdir("/proc/self/task"):
            try:
                stat = open(f"/proc/self/task/{t}/stat").read()
            except OSError:
                continue
            out[int(t)] = int(stat.rsplit(")", 1)[1].split()[16])     # field 19: nice
        return out

    main_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    if main_nice >= BACKGROUND_NICE:
        pytest.skip(f"the tests run at nice {main_nice}: the worker has nothing to lower")
    low = BACKGROUND_NICE
    before = nice_of_threads()
    seen = {}
    orig = service._render

    def spy(name, path, view, device):
        seen["tid"] = threading.get_native_id()
        return orig(name, path, view, device)

    monkeypatch.setattr(service, "_render", spy)
    torch.set_num_threads(2)
    f = save(tmp_path / "p.png", make_pano(256, 128))
    with qtbot.waitSignal(service.resultReady, timeout=180000) as blocker:
        service.submit(RenderRequest([RenderItem("resvr", "resvr", f, View(width=128, height=96))], device="cpu"))
    assert blocker.args[0].error is None
    after = nice_of_threads()
    new = {t: n for t, n in after.items() if t not in before}
    assert seen["tid"] in new and new[seen["tid"]] == low
    assert len(new) >= 2                      # the worker and at least one compute thread it started
    assert all(n == low for n in new.values()), new
    assert after[threading.get_native_id()] == main_nice


def test_a_view_already_rendered_is_reused_with_its_metrics(qtbot, service, tmp_path, monkeypatch):
    """The same (method, file, view) again is not rendered twice, nor are its metrics computed
    twice; another view, a changed file or clear_cache() renders again."""
    f = save(tmp_path / "p.png", make_pano(256, 128))
    ref = save(tmp_path / "ref.png", make_pano(256, 128, seed=3))
    calls, metric_calls = [], []
    orig = service._render
    monkeypatch.setattr(service, "_render", lambda *a: (calls.append(a[0]), orig(*a))[1])
    import resvr.viewer.render_service as rs
    orig_metrics = rs.compute_metrics
    monkeypatch.setattr(rs, "compute_metrics", lambda *a: (metric_calls.append(1), orig_metrics(*a))[1])
    service.lpips_metric = type("NoLpips", (), {"available": False, "reason": "test"})()

    def run(view, **kw):
        got = []
        service.resultReady.connect(got.append)
        service.submit(RenderRequest([RenderItem("bicubic", "bicubic", f, view)], reference=ref, metrics=True,
                                     device="cpu", **kw))
        qtbot.waitUntil(lambda: len(got) == 1, timeout=30000)
        service.resultReady.disconnect(got.append)
        return got[0]

    v = View(yaw=20, fov_h=90, fov_v=60, width=64, height=48)
    a = run(v)
    assert calls == ["bicubic", "reference"] and len(metric_calls) == 1
    b = run(v)                                               # a metrics-only refresh of the same view
    assert calls == ["bicubic", "reference"] and len(metric_calls) == 1 and service.reused >= 1
    assert np.array_equal(a.image, b.image) and a.metrics == b.metrics
    with pytest.raises(ValueError):
        b.image[0, 0, 0] = 0.5                               # shared: read-only
    run(View(yaw=21, fov_h=90, fov_v=60, width=64, height=48))
    assert calls[2:] == ["bicubic", "reference"]             # another view renders
    save(f, make_pano(256, 128, seed=9))                     # the file changes on disk
    c = run(v)
    assert calls[4:] == ["bicubic"] and not np.array_equal(c.image, a.image)
    service.clear_cache()
    run(v)
    assert calls[5:] == ["bicubic", "reference"]


def test_idle_worker_builds_the_rest_of_the_resvr_table_and_still_answers(qtbot, service, tmp_path):
    """After a ResVR view the worker, idle, builds the rest of the lazily built table block by
    block (ending with the whole table, equal to building it at once); a request that arrives
    meanwhile is still served."""
    from resvr.core.methods import get_method

    f = save(tmp_path / "p.png", make_pano(512, 256))
    got = []
    service.resultReady.connect(got.append)
    v = View(yaw=0, pitch=0, fov_h=60, fov_v=45, width=64, height=48)
    service.submit(RenderRequest([RenderItem("resvr", "resvr", f, v)], device="cpu"))
    qtbot.waitUntil(lambda: len(got) == 1, timeout=60000)
    (m,) = [m for m in service._methods.values() if not isinstance(m, Exception)]
    qtbot.waitUntil(lambda: m.tiles_built() == 1.0, timeout=60000)
    # the same table as one built whole at once
    whole = get_method("resvr", device="cpu")
    whole.prepare(f, lazy=False)
    a, b = m.renderer.feats["table"], whole.renderer.feats["table"]
    assert torch.allclose(a.float(), b.float(), atol=2e-2, rtol=1e-2)
    # a later view is served (and renders as the whole-table method does)
    v2 = View(yaw=150, pitch=-30, fov_h=60, fov_v=45, width=64, height=48)
    service.submit(RenderRequest([RenderItem("resvr", "resvr", f, v2)], device="cpu"))
    qtbot.waitUntil(lambda: len(got) == 2, timeout=60000)
    assert got[1].error is None
    assert np.abs(got[1].image - whole.render(v2)).max() < 2e-2


def test_idle_work_stops_between_blocks_for_a_new_request(qtbot, service, tmp_path, monkeypatch):
    """Idle work is done in pieces: a request submitted while it runs is served after the current
    piece, not after the whole table."""
    from resvr.core.methods import ResVRMethod

    f = save(tmp_path / "p.png", make_pano(512, 256))
    steps, gate = [], threading.Event()
    orig = ResVRMethod.idle_step

    def slow_step(self):
        steps.append(1)
        gate.wait(0.5)              # each piece takes a while
        return orig(self)

    monkeypatch.setattr(ResVRMethod, "idle_step", slow_step)
    got = []
    service.resultReady.connect(got.append)
    v = View(yaw=0, pitch=0, fov_h=60, fov_v=45, width=32, height=24)
    service.submit(RenderRequest([RenderItem("resvr", "resvr", f, v)], device="cpu"))
    qtbot.waitUntil(lambda: len(got) == 1 and len(steps) >= 1, timeout=60000)
    service.submit(RenderRequest([RenderItem("bilinear", "bilinear", f, v)], device="cpu"))
    qtbot.waitUntil(lambda: len(got) == 2, timeout=10000)
    (m,) = [m for m in service._methods.values() if isinstance(m, ResVRMethod)]
    assert m.tiles_built() < 1.0           # served before the idle work finished the table
