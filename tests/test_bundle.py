"""Comparison bundle: write/load bundle.yaml, clear errors for missing files."""
import pytest
import yaml

from resvr.core.bundle import bundle_file_name, is_bundle, load_bundle, write_bundle_yaml
from resvr.core.errors import BadInput


def _make(tmp_path, methods=("resvr", "hyperthumbnail", "jpeg"), ref=True):
    for m in methods:
        (tmp_path / bundle_file_name("pano", m)).write_bytes(b"\xff\xd8" + b"\0" * 998)
    if ref:
        (tmp_path / "pano.png").write_bytes(b"png")
    return write_bundle_yaml(tmp_path, "pano", (400, 200), 4, {m: bundle_file_name("pano", m) for m in methods},
                             reference="pano.png" if ref else None)


def test_names():
    assert [bundle_file_name("s", m) for m in ("resvr", "hyperthumbnail", "jpeg")] == [
        "s.resvr.jpg", "s.ht.jpg", "s.jpeg.jpg"]
    with pytest.raises(ValueError):
        bundle_file_name("s", "bilinear")


def test_roundtrip(tmp_path):
    y = _make(tmp_path)
    assert is_bundle(tmp_path) and is_bundle(y)
    doc = yaml.safe_load(y.read_text())
    assert doc["entries"]["jpeg"] == {"file": "pano.jpeg.jpg", "bpp": pytest.approx(1000 * 8 / 80000)}
    for src in (tmp_path, y):
        b = load_bundle(src)
        assert b.stem == "pano" and b.hr_size == (400, 200) and b.scale == 4
        assert set(b.entries) == {"resvr", "hyperthumbnail", "jpeg"}
        assert b.path("hyperthumbnail") == tmp_path / "pano.ht.jpg"
        assert b.entries["resvr"].bpp == pytest.approx(0.1)
        assert b.path("reference") == tmp_path / "pano.png"
    with pytest.raises(BadInput, match="exists"):
        _make(tmp_path)  # bundle.yaml is not overwritten silently


def test_errors(tmp_path):
    _make(tmp_path, ref=False)
    (tmp_path / "pano.ht.jpg").unlink()
    with pytest.raises(BadInput, match="pano.ht.jpg.*missing"):
        load_bundle(tmp_path)
    with pytest.raises(BadInput, match="no such bundle"):
        load_bundle(tmp_path / "nowhere")
    (tmp_path / "bundle.yaml").write_text("stem: [unclosed\n")
    with pytest.raises(BadInput, match="YAML"):
        load_bundle(tmp_path)
    (tmp_path / "bundle.yaml").write_text("stem: x\n")
    with pytest.raises(BadInput, match="field"):
        load_bundle(tmp_path)
    with pytest.raises(BadInput, match="does not exist"):
        write_bundle_yaml(tmp_path, "pano", (4, 2), 4, {"jpeg": "gone.jpg"}, overwrite=True)
