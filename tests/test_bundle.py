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


# ----------------------------------------------------------------------------- untrusted bundle.yaml (issue 12)
def _yaml(tmp_path, text):
    (tmp_path / "bundle.yaml").write_text(text)
    return tmp_path


GOOD = "stem: pano\nhr_width: 400\nhr_height: 200\nscale: 4\nentries:\n  jpeg: {file: pano.jpeg.jpg, bpp: 0.3}\n"


def test_files_must_stay_inside_the_folder(tmp_path):
    import os

    b = tmp_path / "b"
    b.mkdir()
    (b / "pano.jpeg.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "outside.png").write_bytes(b"png")
    assert load_bundle(_yaml(b, GOOD)).entries["jpeg"].file == b / "pano.jpeg.jpg"
    for name in ("../outside.png", str(tmp_path / "outside.png"), "sub/../../outside.png", ".."):
        with pytest.raises(BadInput, match="inside the bundle folder"):
            load_bundle(_yaml(b, GOOD.replace("pano.jpeg.jpg", name)))
        with pytest.raises(BadInput, match="inside the bundle folder"):
            load_bundle(_yaml(b, GOOD + f"reference: {name}\n"))
    os.symlink(tmp_path / "outside.png", b / "link.png")
    with pytest.raises(BadInput, match="points outside the bundle folder"):
        load_bundle(_yaml(b, GOOD + "reference: link.png\n"))


@pytest.mark.parametrize("text,msg", [
    ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nstem: *b\n", "aliases"),
    ("stem: " + "[" * 20000 + "]" * 20000 + "\n", "nested deeper|nesting depth"),
    ("stem: " + "[" * 9 + "]" * 9 + "\n", "nested deeper"),
    (GOOD.replace("hr_width: 400", "hr_width: .inf"), "hr_width must be a whole number"),
    (GOOD.replace("hr_width: 400", "hr_width: 0"), "hr_width must be a whole number"),
    (GOOD.replace("hr_width: 400", "hr_width: 400.5"), "hr_width must be a whole number"),
    (GOOD.replace("hr_width: 400", "hr_width: true"), "hr_width must be a whole number"),
    (GOOD.replace("hr_width: 400", "hr_width: 99999").replace("hr_height: 200", "hr_height: 99999"), "above the limit"),
    (GOOD.replace("scale: 4", "scale: .nan"), "scale must be a finite positive number"),
    (GOOD.replace("bpp: 0.3", "bpp: -.inf"), "bpp of 'jpeg' must be a finite positive number"),
    (GOOD.replace("stem: pano", "stem: [1, 2]"), "stem must be a non-empty string"),
    (GOOD.replace("stem: pano", "stem: !!python/object/apply:os.system [touch x]"), "not valid YAML"),
    (GOOD.replace("pano.jpeg.jpg", "{a: b}"), "must be a non-empty string"),
])
def test_values_are_plain_scalars_of_their_type(tmp_path, text, msg):
    (tmp_path / "pano.jpeg.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(BadInput, match=msg) as ei:
        load_bundle(_yaml(tmp_path, text))
    assert "\n" not in str(ei.value)
    assert not (tmp_path / "x").exists()


def test_size_cap_checked_before_parsing(tmp_path, monkeypatch):
    from resvr.core import bundle

    (tmp_path / "pano.jpeg.jpg").write_bytes(b"\xff\xd8")
    _yaml(tmp_path, GOOD + "# " + "x" * bundle.MAX_YAML_BYTES + "\n")
    monkeypatch.setattr(yaml, "parse", lambda *a, **k: pytest.fail("parsed a file above the cap"))
    with pytest.raises(BadInput, match="above the limit of 1048576 bytes"):
        load_bundle(tmp_path)


def test_parsed_with_the_c_safe_loader_when_available():
    from resvr.core import bundle

    assert bundle._SafeLoader is getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    assert issubclass(bundle._SafeLoader, (yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
