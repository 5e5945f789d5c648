"""``resvr encode --method all``: one HR panorama into a comparison bundle, every encoding method
of ``core.registry`` at the same target bpp."""
from __future__ import annotations

from pathlib import Path

from .. import registry
from ..errors import BadInput, MethodUnavailable, refuse_existing
from ..imageio import load_image
from .encoders import make_encoder


def encode_bundle(hr_path, out_dir, bpp: float = 0.3, scale: int = 4, weights: dict | None = None,
                  device="cpu", reference: bool = True, overwrite: bool = False, warn=None, progress=None,
                  skip_unavailable: bool = False) -> dict:
    """``encode --method all``: the comparison bundle in ``out_dir``: <stem>.resvr.jpg, <stem>.ht.jpg,
    <stem>.dinn.jpg, <stem>.jpeg.jpg (bicubic + standard JPEG at matched bpp), the reference <stem>.png (a copy of
    the HR image as PNG) and bundle.yaml. Nothing is overwritten unless ``overwrite``; every file is
    checked for collisions before anything is written. ``progress(done, total, step)``, when given,
    is called before each step and once at the end (done == total); an exception it raises (e.g. a
    cancel) stops the encode between steps. ``skip_unavailable`` leaves out a learned method whose
    weights cannot be loaded (``warn`` names it) instead of failing (the viewer's Compare methods…)."""
    import shutil

    from ..bundle import BUNDLE_YAML, bundle_file_name, write_bundle_yaml
    from ..imageio import save_png

    hr_path, out_dir = Path(hr_path), Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"{out_dir}: exists and is not a folder (--method all writes a bundle folder)")
    stem = hr_path.name.split(".")[0]
    names = {m: bundle_file_name(stem, m) for m in registry.encode_ids()}
    planned = list(names.values()) + [BUNDLE_YAML] + ([f"{stem}.png"] if reference else [])
    refuse_existing(out_dir, planned, overwrite)
    hr = load_image(hr_path)  # validates the input before any output
    weights = weights or {}
    encoders = {}
    for m in registry.encode_ids():   # weights first (the learned methods come first)
        if not registry.get(m).learned:
            encoders[m] = make_encoder(m, scale=scale, warn=warn)
            continue
        try:
            encoders[m] = make_encoder(m, weights.get(m), device)
        except MethodUnavailable as e:
            if not skip_unavailable:
                raise
            if warn is not None:
                warn(f"{registry.label(m)} left out: {e}")
    out_dir.mkdir(parents=True, exist_ok=True)
    ref_step = registry.reference_id()    # the step that writes the reference image
    steps = list(encoders) + ([ref_step] if reference else []) + ["bundle.yaml"]
    total = len(steps)

    def step(what):
        if progress is not None:
            progress(steps.index(what) if what in steps else total, total, what)

    results = {}
    for m, enc in encoders.items():
        step(m)
        results[m] = enc.encode(hr_path, out_dir / names[m], bpp=bpp, overwrite=overwrite)
    ref = None
    if reference:
        step(ref_step)
        ref = f"{stem}.png"
        if hr_path.suffix.lower() == ".png":
            tmp = out_dir / (ref + ".tmp")
            shutil.copyfile(hr_path, tmp)
            tmp.replace(out_dir / ref)
        else:
            save_png(out_dir / ref, hr, overwrite=True)
    H, W = hr.shape[:2]
    step("bundle.yaml")
    write_bundle_yaml(out_dir, stem, (W, H), scale, {m: {"file": names[m], "bpp": r["bpp"]} for m, r in results.items()},
                      reference=ref, overwrite=True)
    step("done")
    return results
