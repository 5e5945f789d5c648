"""The two learned pipelines, built from a config: training graphs and inference helpers.

ResVR = LearnedJPEG (downsampler + QPM + entropy) + VRModule.
HyperThumbnail = LearnedJPEG (same downsampler design) + HTDecoder.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .codec import LearnedJPEG
from .hyperthumbnail import HTDecoder
from .vr import VRModule


def _codec(cfg: dict) -> LearnedJPEG:
    d = cfg.get("downsampler", {})
    return LearnedJPEG(d.get("channels", 64), d.get("levels", 2), cfg.get("scale", 4), d.get("qpm_hidden", 192),
                       d.get("init_quality", 90.0))


class ResVR(nn.Module):
    kind = "resvr"

    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = cfg
        v = cfg.get("vr", {})
        self.codec = _codec(cfg)
        self.vr = VRModule(v.get("enc_channels", 64), v.get("enc_blocks", 8), v.get("amp", 256), v.get("hidden", 128),
                           v.get("mlp_layers", 2))
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

    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = cfg
        h = cfg.get("ht", {})
        self.codec = _codec(cfg)
        self.decoder = HTDecoder(h.get("feat", 24), h.get("freq_blocks", 16), h.get("dec_feat", 24),
                                 h.get("dec_blocks", 16), cfg.get("scale", 4))

    def forward(self, batch: dict) -> dict:
        c = self.codec(batch["hr"])
        c["hr_hat"] = self.decoder(c["lr_hat"], c["deq"])
        return c


def build_model(cfg: dict) -> nn.Module:
    kind = cfg.get("type", "resvr")
    if kind == "resvr":
        return ResVR(cfg)
    if kind == "hyperthumbnail":
        return HyperThumbnail(cfg)
    raise ValueError(f"unknown model type {kind!r}")


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
