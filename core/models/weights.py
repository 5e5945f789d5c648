"""Shipped weight files: save (fp16, inference parts only) and load.

A weight file is a ``torch.save`` dict: format, name, version, the model config, a float16
state dict without the training-only entropy models, and ``meta`` (data, iterations, wall time,
validation numbers) for the model card.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import BadInput, MethodUnavailable
from .pipelines import build_model

FORMAT = "resvr-weights/1"
ASSETS = Path(os.environ.get("RESVR_ASSETS", Path(__file__).resolve().parents[2] / "assets"))
DEFAULT_WEIGHTS = {"resvr": "resvr.pt", "hyperthumbnail": "hyperthumbnail.pt"}


def default_weights_path(method: str) -> Path:
    return ASSETS / "weights" / DEFAULT_WEIGHTS[method]


def safe_load(path) -> object:
    """``torch.load`` of an untrusted file as data only (``weights_only=True``): a pickle that
    names any callable other than torch's tensor/storage rebuilders and plain containers is
    refused before anything runs. Raises :class:`BadInput` with one line on any failure."""
    import pickle
    import zipfile

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise BadInput(f"{path}: refused: not a plain weights file (it asks to run code on load)") from None
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except (OSError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile, MemoryError) as e:
        raise BadInput(f"{path}: cannot read weights ({type(e).__name__})") from None


def export_weights(checkpoint, out, name: str, version: str = "1", meta: dict | None = None) -> Path:
    ck = safe_load(checkpoint)
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in ck["model"].items()
          if ".eb_y." not in k and ".eb_c." not in k}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    torch.save({"format": FORMAT, "name": name, "version": version, "cfg": ck["cfg"]["model"],
                "state_dict": sd, "meta": dict(meta or {}, iterations=ck["iter"])}, tmp)
    os.replace(tmp, out)
    return out


def load_weights(method: str, path=None, device="cpu"):
    """-> (model in eval mode, float32, on ``device``; the weight file's dict without the state)."""
    path = Path(path) if path else default_weights_path(method)
    if not path.exists():
        raise MethodUnavailable(f"{method}: weights not found at {path}")
    try:
        blob = safe_load(path)
    except BadInput as e:
        raise MethodUnavailable(f"{method}: {e}") from None
    if isinstance(blob, dict) and "model" in blob and "cfg" in blob and "state_dict" not in blob:  # a training checkpoint
        blob = {"format": FORMAT, "name": path.stem, "version": "ckpt", "cfg": blob["cfg"]["model"],
                "state_dict": blob["model"], "meta": {"iterations": blob.get("iter")}}
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise MethodUnavailable(f"{method}: {path} is not a ResVR weight file")
    if blob["cfg"].get("type") != method:
        raise MethodUnavailable(f"{method}: {path} holds a {blob['cfg'].get('type')!r} model")
    model = build_model(blob["cfg"])
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()}, strict=False)
    bad = [k for k in missing if ".eb_y." not in k and ".eb_c." not in k]
    if bad or unexpected:
        raise MethodUnavailable(f"{method}: {path} does not match its config ({len(bad)} missing, {len(unexpected)} unexpected)")
    info = {k: v for k, v in blob.items() if k != "state_dict"}
    info["path"] = str(path)
    return model.eval().to(device), info
