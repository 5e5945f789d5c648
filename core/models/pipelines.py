"""The two learned pipelines, built from a config: training graphs, and their parts on their own
for inference (``build_part``).

ResVR = LearnedJPEG (downsampler + QPM + entropy) + VRModule.
HyperThumbnail = LearnedJPEG (same downsampler design) + HTDecoder.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .. import registry
from .codec import LearnedJPEG
from .hyperthumbnail import HTDecoder
from .vr import VRModule


def _codec(cfg: dict, entropy: bool = True) -> LearnedJPEG:
    d = cfg.get("downsampler", {})
    return LearnedJPEG(d.get("channels", 64), d.get("levels", 2), cfg.get("scale", 4), d.get("qpm_hidden", 192),
                       d.get("init_quality", 90.0), entropy=entropy)


def _vr(cfg: dict) -> VRModule:
    v = cfg.get("vr", {})
    return VRModule(v.get("enc_channels", 64), v.get("enc_blocks", 8), v.get("amp", 256), v.get("hidden", 128),
                    v.get("mlp_layers", 2))


def _ht_decoder(cfg: dict) -> HTDecoder:
    h = cfg.get("ht", {})
    return HTDecoder(h.get("feat", 24), h.get("freq_blocks", 16), h.get("dec_feat", 24), h.get("dec_blocks", 16),
                     cfg.get("scale", 4))


class ResVR(nn.Module):
    kind = "resvr"

    def __init__(self, cfg: dict, entropy: bool = True):
        super().__init__()
        self.cfg = cfg
        self.codec = _codec(cfg, entropy)
        self.vr = _vr(cfg)
        self.shape_kind = cfg.get("shape", "ssr")
        self.separate = bool(cfg.get("separate", False))
        # Case #1 as the paper trains it: a rescaling stage trained before (``init_codec``), kept
        # fixed while the VR module learns on its real decoded output (codec in eval mode)
        self.freeze_codec = bool(cfg.get("freeze_codec", False))
        if self.freeze_codec:
            self.codec.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_codec:
            self.codec.eval()
        return self

    def forward(self, batch: dict) -> dict:
        hr = batch["hr"]
        if self.freeze_codec:
            with torch.no_grad():
                c = self.codec(hr, qscale=self.codec.train_qscale if self.training else None)
        else:
            c = self.codec(hr)
        lr_in = c["lr_hat"].detach() if self.separate else c["lr_hat"]
        feats = self.vr.features(lr_in, wrap=False)
        lp = hr.shape[-1] / self.codec.scale
        xy = (batch["coords"] + 1.0) * 0.5 * lp                       # continuous LR patch coords
        pred = self.vr.query(feats, xy[..., 0], xy[..., 1], batch["shape"])
        c["pred"] = pred
        return c


class HyperThumbnail(nn.Module):
    kind = "hyperthumbnail"

    def __init__(self, cfg: dict, entropy: bool = True):
        super().__init__()
        self.cfg = cfg
        self.codec = _codec(cfg, entropy)
        self.decoder = _ht_decoder(cfg)

    def forward(self, batch: dict) -> dict:
        c = self.codec(batch["hr"])
        c["hr_hat"] = self.decoder(c["lr_hat"], c["deq"])
        return c


def build_model(cfg: dict, entropy: bool = True) -> nn.Module:
    """The training graph of ``cfg`` (the class ``registry.MethodInfo.model`` of its ``type``, its
    module imported only then); ``entropy=False`` without the entropy models (inference)."""
    import importlib

    kind = cfg.get("type", "resvr")
    info = registry.BY_ID.get(kind) if isinstance(kind, str) else None
    if info is None or not info.model:
        raise ValueError(f"unknown model type {kind!r}")
    module, cls = info.model.split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), cls)(cfg, entropy)


#: The submodules inference builds on their own (``weights.load_weights(part=...)``).
PARTS = {"vr": _vr, "decoder": _ht_decoder, "codec": lambda cfg: _codec(cfg, entropy=False)}


def build_part(cfg: dict, part: str) -> nn.Module:
    """Only the submodule ``part`` of the model ``cfg`` describes (its names in the full model's
    state dict start with ``part + "."``)."""
    return PARTS[part](cfg)


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
