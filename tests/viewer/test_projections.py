"""Issue 14.6: little-planet (stereographic) and fisheye projections in the GL pane and in the
learned pane, against resvr.core.geometry: a bright spot at a known direction is drawn where the
geometry's forward map puts it, by the shader (GL read-back) and by ResVR (its render); the whole
GL view equals the CPU bilinear view of the same projection."""
import math

import numpy as np
import pytest
import torch
from PIL import Image

from resvr.core.geometry import View, lonlat_to_view
from resvr.core.imageio import to_uint8
from resvr.viewer.main_window import MainWindow
from resvr.viewer.settings import Settings

from viewer_helpers import psnr, rand_lpips, save, torch_view

# (lon, lat) in degrees of the spots; all visible in the views below
SPOTS = [(0.0, -60.0), (100.0, -35.0), (-140.0, -20.0)]
SIGMA = 7.0   # degrees


def spot_pano(width=512, height=256):
    """Dark ERP with Gaussian spots (angular sigma SIGMA) at SPOTS, each in its own colour channel."""
    u = (np.arange(width) + 0.5) / width
    v = (np.arange(height) + 0.5) / height
    lon, lat = np.meshgrid((u - 0.5) * 2 * math.pi, (0.5 - v) * math.pi)
    d = np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], -1)
    img = np.full((height, width, 3), 0.08)
    for c, (lo, la) in enumerate(SPOTS):
        lo, la = math.radians(lo), math.radians(la)
        s = np.array([math.cos(la) * math.sin(lo), math.sin(la), math.cos(la) * math.cos(lo)])
        ang = np.arccos(np.clip(d @ s, -1, 1))
        img[..., c] += 0.9 * np.exp(-0.5 * (ang / math.radians(SIGMA)) ** 2)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def centroid(img: np.ndarray, c: int, view: View, expect) -> tuple[float, float]:
    """Intensity-weighted centre of channel ``c`` above half its peak, near the expected spot."""
    a = img[..., c].astype(np.float64) / (255.0 if img.dtype == np.uint8 else 1.0)
    rr, cc = np.mgrid[0:a.shape[0], 0:a.shape[1]]
    near = np.hypot(cc - expect[0], rr - expect[1]) < 25
    w = np.where(near & (a > 0.5 * a[near].max()), a - 0.08, 0.0)
    return float((w * cc).sum() / w.sum()), float((w * rr).sum() / w.sum())


@pytest.fixture
def spot_bundle(tmp_path):
    from resvr.core.bundle import write_bundle_yaml

    folder = tmp_path / "spots"
    folder.mkdir()
    hr = spot_pano()
    lr = np.asarray(Image.fromarray(hr).resize((128, 64), Image.Resampling.BOX))
    save(folder / "s.png", hr)
    save(folder / "s.resvr.jpg", lr, quality=95)
    save(folder / "s.jpeg.jpg", lr, quality=95)
    write_bundle_yaml(folder, "s", (512, 256), 4, {"jpeg": "s.jpeg.jpg", "resvr": "s.resvr.jpg"}, reference="s.png")
    return folder, hr, lr


@pytest.mark.parametrize("projection", ["stereographic", "fisheye"])
def test_projection_gl_and_learned_panes_agree_with_core_geometry(qtbot, tmp_path, spot_bundle, projection):
    folder, hr, lr = spot_bundle
    win = MainWindow(settings=Settings(path=tmp_path / "settings.yaml"))
    win.service.lpips_metric = rand_lpips()
    win.camera.inertia_enabled = False
    qtbot.addWidget(win)
    win.resize(760, 560)
    win.show()
    qtbot.waitExposed(win)
    try:
        assert win.open_path(folder)
        win.set_mode("single")
        win.view.set_current("resvr")
        win.set_projection(projection)
        if projection == "fisheye":
            win.camera.set_view(yaw=0.0, pitch=-50.0, fov_v=200.0)
        pane = win.view.panes["resvr"]
        qtbot.waitUntil(lambda: not win.camera.moving and win.view.all_settled(), timeout=60000)
        view = pane.gl.view()
        assert view.projection == projection and view.fx == pytest.approx(view.fy)
        assert pane.result.view == view
        # where core.geometry's forward map puts each spot
        lon = torch.tensor([math.radians(s[0]) for s in SPOTS], dtype=torch.float64)
        lat = torch.tensor([math.radians(s[1]) for s in SPOTS], dtype=torch.float64)
        col, row, ok = lonlat_to_view(lon, lat, view)
        assert ok.all()
        pane.gl.show_overlay = False
        try:
            live = pane.gl.grab_image()             # the shader's own projection of the LR texture
        finally:
            pane.gl.show_overlay = True
        learned = to_uint8(pane.result.image)       # ResVR's render (SSR from the same back-map)
        assert live.shape == learned.shape == (view.height, view.width, 3)
        for c in range(len(SPOTS)):
            exp = (float(col[c]), float(row[c]))
            for img in (live, learned):
                got = centroid(img, c, view, exp)
                assert math.hypot(got[0] - exp[0], got[1] - exp[1]) < 1.0, (c, got, exp)
        # every GL pixel: the live view equals the CPU bilinear render of the same projected view
        assert psnr(live, torch_view(lr, view, "bilinear")) >= 40.0
        # and the shown pane is exactly ResVR's render
        assert np.array_equal(pane.shown_image(), learned)
        # the status bar reports the projection and the fov actually rendered
        assert f"fov {view.fov_h:.1f}°×{view.fov_v:.1f}°" in win.view_label.text()
    finally:
        win.service.stop()


def test_little_planet_looks_down_and_zooms_within_its_limits(qtbot):
    from resvr.viewer.navigation import FOV_LIMITS, Camera

    cam = Camera(fov_h=120.0, fov_v=90.0)
    cam.fov_mode = "square"
    cam.set_projection("stereographic")
    v = cam.view(400, 300)
    assert v.projection == "stereographic" and v.pitch == -90.0 and v.fov_v == 250.0
    assert v.fx == pytest.approx(v.fy)
    for _ in range(40):
        cam.zoom(1 / 0.9)
    assert max(cam.fov_h, cam.fov_v) == pytest.approx(FOV_LIMITS["stereographic"][1])
    g = 2 * math.tan(math.radians(cam.fov_v) / 4)
    cam.zoom(0.9)      # zoom scales the stereographic radius 2 tan(fov/4) by the factor
    assert 2 * math.tan(math.radians(cam.fov_v) / 4) == pytest.approx(0.9 * g)
    cam.set_projection("rectilinear")
    assert cam.view(400, 300).projection == "rectilinear" and cam.pitch == 0.0 and cam.fov_v == 90.0
