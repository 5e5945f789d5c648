"""Shipped weight files: save (fp16, inference parts only) and load.

A weight file is a ``torch.save`` dict: format, name, version, the model config, a float16
state dict without the training-only entropy models, and ``meta`` (data, iterations, wall time,
validation numbers) for the model card.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .. import registry, resources
from ..errors import BadInput, MethodUnavailable
from .pipelines import build_model, build_part

FORMAT = "resvr-weights/1"
ASSETS = resources.ASSETS
def default_weights_path(method: str) -> Path:
    """The shipped weights of a learned method (``registry.MethodInfo.weights``)."""
    return ASSETS / "weights" / registry.get(method).weights


def safe_load(path) -> object:
    """``torch.load`` of an untrusted file as data only (``weights_only=True``): a pickle that
    names any callable other than torch's tensor/storage rebuilders and plain containers is
    refused before anything runs. Raises :class:`BadInput` with one line on any failure."""
    import pickle
    import zipfile

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "global" in str(e).lower():  # the pickle names a callable: torch refused to run it
            raise BadInput(f"{path}: refused: not a plain weights file (it asks to run code on load)") from None
        raise BadInput(f"{path}: cannot read weights (corrupt pickle)") from None
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except (OSError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile, MemoryError) as e:
        raise BadInput(f"{path}: cannot read weights ({type(e).__name__})") from None


def export_weights(checkpoint, out, name: str, version: str = "1", meta: dict | None = None) -> Path:
    ck = safe_load(checkpoint)
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in ck["model"].items() if not _entropy(k)}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    torch.save({"format": FORMAT, "name": name, "version": version, "cfg": ck["cfg"]["model"],
                "state_dict": sd, "meta": dict(meta or {}, iterations=ck["iter"])}, tmp)
    os.replace(tmp, out)
    return out


#: The model config a weights file may carry: key -> (type, low, high) for numbers, or the allowed
#: strings. Values outside these ranges are refused before any module is built (a config that asks
#: for a billion channels must not allocate them).
_CFG_TOP = {"scale": (int, 1, 8), "shape": ("ssr", "2d"), "separate": (bool,), "freeze_codec": (bool,)}
_CFG_SECTIONS = {
    "downsampler": {"channels": (int, 1, 512), "levels": (int, 1, 8), "qpm_hidden": (int, 1, 2048),
                    "init_quality": ((int, float), 1, 100)},
    "vr": {"enc_channels": (int, 1, 512), "enc_blocks": (int, 0, 64), "amp": (int, 2, 2048),
           "hidden": (int, 1, 2048), "mlp_layers": (int, 0, 16)},
    "ht": {"feat": (int, 1, 512), "freq_blocks": (int, 0, 64), "dec_feat": (int, 1, 512),
           "dec_blocks": (int, 0, 64)},
    "dinn": {"feat": (int, 1, 256), "blocks": (int, 0, 32), "attention": (bool,), "cond_feat": (int, 1, 256),
             "proj_feat": (int, 1, 256), "proj_blocks": (int, 0, 32), "eval_quality": ((int, float), 1, 100)},
}


def _check_value(where: str, key: str, v, rule) -> None:
    if isinstance(rule[0], str):
        if v not in rule:
            raise ValueError(f"{where}{key} must be one of {', '.join(rule)}, got {str(v)[:40]!r}")
        return
    kind = rule[0]
    if kind is bool:
        if not isinstance(v, bool):
            raise ValueError(f"{where}{key} must be true or false, got {type(v).__name__}")
        return
    if isinstance(v, bool) or not isinstance(v, kind) or not (rule[1] <= v <= rule[2]):
        raise ValueError(f"{where}{key} must be a number in {rule[1]}..{rule[2]}, got {str(v)[:40]!r}")


def check_config(cfg, method: str) -> dict:
    """The model config of a weights file, checked: a mapping whose ``type`` is ``method`` and whose
    known keys hold numbers/strings of the right type in sane ranges. ValueError (one line) otherwise."""
    if not isinstance(cfg, dict):
        raise ValueError(f"its config is a {type(cfg).__name__}, not a mapping")
    if cfg.get("type") != method:
        raise ValueError(f"it holds a {str(cfg.get('type'))[:40]!r} model, not {method!r}")
    for key, rule in _CFG_TOP.items():
        if key in cfg:
            _check_value("config ", key, cfg[key], rule)
    for sec, rules in _CFG_SECTIONS.items():
        if sec not in cfg:
            continue
        if not isinstance(cfg[sec], dict):
            raise ValueError(f"config {sec} is a {type(cfg[sec]).__name__}, not a mapping")
        for key, rule in rules.items():
            if key in cfg[sec]:
                _check_value(f"config {sec}.", key, cfg[sec][key], rule)
    return cfg


def _entropy(name: str) -> bool:
    """A tensor of the entropy models (training only: shipped files leave them out)."""
    return ".eb_y." in name or ".eb_c." in name


def check_state_dict(sd, expected: dict) -> None:
    """``sd`` (name -> tensor) against the model's own state dict ``expected``: every name present
    (entropy models excepted), no extra names, the same shapes, finite values. ValueError otherwise."""
    if not isinstance(sd, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()):
        raise ValueError("its state_dict is not a mapping of names to tensors")
    missing = [k for k in expected if k not in sd and not _entropy(k)]
    extra = [k for k in sd if k not in expected and not _entropy(k)]
    if missing or extra:
        first = (missing or extra)[0]
        raise ValueError(f"it does not match its config ({len(missing)} missing, {len(extra)} unexpected "
                         f"tensors, e.g. {first[:80]!r})")
    for k, v in sd.items():
        if k not in expected:   # an entropy model's tensor (training only; never loaded)
            continue
        if tuple(v.shape) != tuple(expected[k].shape):
            raise ValueError(f"tensor {k[:80]!r} has shape {tuple(v.shape)}, the model expects "
                             f"{tuple(expected[k].shape)}")
        if v.is_floating_point() != expected[k].is_floating_point():
            raise ValueError(f"tensor {k[:80]!r} has dtype {v.dtype}, the model expects {expected[k].dtype}")
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise ValueError(f"tensor {k[:80]!r} holds NaN or infinite values")


def load_weights(method: str, path=None, device="cpu", part: str | None = None):
    """-> (model in eval mode, float32, on ``device``; the weight file's dict without the state).

    ``part`` (``pipelines.PARTS``: "vr", "decoder", "codec") builds and loads only that submodule
    (what inference needs); None the whole model. Either way without the entropy models, which
    only training uses (so compressai is never imported here).

    The file is read as data only (:func:`safe_load`); its config (:func:`check_config`) and every
    tensor's name and shape (:func:`check_state_dict`, against the whole model built on the meta
    device, which allocates nothing) are checked before the real module is built and loaded.
    MethodUnavailable with one line for any problem."""
    path = Path(path) if path else default_weights_path(method)
    # named by label ("ResVR weights: ..."): the method id "resvr" would read as the program's own
    # prefix in the CLI's "resvr: error: ..." line
    who = f"{registry.label(method)} weights"
    if not path.exists():
        raise MethodUnavailable(f"{who} not found at {path}")
    try:
        blob = safe_load(path)
    except BadInput as e:
        raise MethodUnavailable(f"{who}: {e}") from None
    if (isinstance(blob, dict) and "model" in blob and "state_dict" not in blob
            and isinstance(blob.get("cfg"), dict) and "model" in blob["cfg"]):  # a training checkpoint
        blob = {"format": FORMAT, "name": path.stem, "version": "ckpt", "cfg": blob["cfg"]["model"],
                "state_dict": blob["model"], "meta": {"iterations": blob.get("iter")}}
    if not isinstance(blob, dict) or "state_dict" not in blob or "cfg" not in blob:
        raise MethodUnavailable(f"{who}: {path} is not a ResVR weight file")
    try:
        cfg = check_config(blob["cfg"], method)
        with torch.device("meta"):
            expected = build_model(cfg, entropy=False).state_dict()
        check_state_dict(blob["state_dict"], expected)
    except (ValueError, TypeError) as e:
        raise MethodUnavailable(f"{who}: {path}: refused: {' '.join(str(e).split())}") from None
    prefix = f"{part}." if part else ""
    model = build_part(cfg, part) if part else build_model(cfg, entropy=False)
    model.load_state_dict({k[len(prefix):]: v.float() if v.is_floating_point() else v
                           for k, v in blob["state_dict"].items() if k in expected and k.startswith(prefix)})
    info = {k: v for k, v in blob.items() if k != "state_dict"}
    info["path"] = str(path)
    return model.eval().to(device), info
