"""Training data: ERP panoramas from a folder and ERP panoramas synthesised from photographs.

* ``list_images`` + ``load_rgb``: real ERP images (kept in RAM as uint8 tensors).
* ``synth_cubemap_erp``: six photographs as the faces of a cube map, each a random square crop,
  rotated by a multiple of 90 degrees and flipped at random, converted to a 2:1 ERP. Real
  photographic texture with true ERP distortion at any resolution.
* ``ERPPool`` keeps a pool of panoramas and hands out random crops (with a horizontal roll, i.e.
  a random longitude, and a random mirror) for the samplers.

The documented split (configs/split.yaml) lists which photographs and panoramas validate; the
rest train.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from ..geometry import erp_to_lonlat, lonlat_to_vec

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
SPLIT_FILE = Path(__file__).with_name("configs") / "split.yaml"


def load_split(path=SPLIT_FILE) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def list_images(folder, exclude=(), include=None) -> list[Path]:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTS and "_mask" not in p.stem)
    if include is not None:
        files = [p for p in files if p.name in set(include)]
    return [p for p in files if p.name not in set(exclude)]


def load_rgb(path, max_side: int | None = None) -> torch.Tensor:
    with Image.open(path) as im:
        if max_side:
            im.draft("RGB", (max_side, max_side))
        im = im.convert("RGB")
        if max_side and max(im.size) > max_side:
            im.thumbnail((max_side, max_side), Image.BICUBIC)
        return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).contiguous()


def synth_cubemap_erp(photos: list[torch.Tensor], height: int, rng: random.Random) -> torch.Tensor:
    """Six random photos as cube faces -> uint8 ERP (3, height, 2*height)."""
    face = max(8, height // 2)
    faces = []
    for img in rng.sample(photos, 6) if len(photos) >= 6 else [rng.choice(photos) for _ in range(6)]:
        _, h, w = img.shape
        s = min(h, w)
        s = rng.randint(max(8, int(0.5 * s)), s)
        y0, x0 = rng.randint(0, h - s), rng.randint(0, w - s)
        crop = img[:, y0:y0 + s, x0:x0 + s].float()[None] / 255.0
        crop = F.interpolate(crop, size=(face, face), mode="bicubic", align_corners=False, antialias=True)[0]
        crop = torch.rot90(crop, rng.randint(0, 3), dims=(1, 2))
        if rng.random() < 0.5:
            crop = crop.flip(-1)
        faces.append(crop.clamp(0, 1))
    W = 2 * height
    v, u = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    lon, lat = erp_to_lonlat(u, v, height, W)
    d = lonlat_to_vec(lon, lat)
    axis = d.abs().argmax(-1)
    out = torch.zeros(3, height, W)
    for k in range(6):
        a, sign = k // 2, (1 if k % 2 == 0 else -1)
        m = (axis == a) & (torch.sign(d[..., a]) == sign)
        if not bool(m.any()):
            continue
        others = [i for i in range(3) if i != a]
        dm = d[m]
        uu = dm[:, others[0]] / dm[:, a].abs()
        vv = dm[:, others[1]] / dm[:, a].abs()
        grid = torch.stack((uu, vv), -1)[None, None]
        out[:, m] = F.grid_sample(faces[k][None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0]
    return (out * 255.0 + 0.5).clamp(0, 255).to(torch.uint8)


class ERPPool:
    """A pool of uint8 ERP panoramas (real and synthetic) with random crops."""

    def __init__(self, real: list[torch.Tensor], photos: list[torch.Tensor], synth_count: int = 0,
                 synth_heights=(512, 1024), real_prob: float = 0.2, seed: int = 0):
        self.rng = random.Random(seed)
        self.real, self.photos, self.synth_heights = real, photos, list(synth_heights)
        self.synth = [self.new_synth() for _ in range(synth_count)]
        self.real_prob = real_prob if (real and self.synth) else (1.0 if real else 0.0)

    def new_synth(self) -> torch.Tensor:
        return synth_cubemap_erp(self.photos, self.rng.choice(self.synth_heights), self.rng)

    def refresh(self, n: int = 1):
        """Replace ``n`` random synthetic panoramas by new ones (variety over a long run)."""
        for _ in range(n if self.synth else 0):
            self.synth[self.rng.randrange(len(self.synth))] = self.new_synth()

    def pick(self) -> torch.Tensor:
        src = self.real if self.rng.random() < self.real_prob else self.synth
        erp = self.rng.choice(src)
        return erp.flip(-1) if self.rng.random() < 0.5 else erp

    def crop_origin(self, erp: torch.Tensor, p: int):
        H, W = erp.shape[-2:]
        return self.rng.randrange(W), self.rng.randint(0, H - p)


def crop_wrap(erp: torch.Tensor, a: int, b: int, p: int) -> torch.Tensor:
    """p x p crop at column a (wrapping) and row b."""
    W = erp.shape[-1]
    cols = torch.arange(a, a + p) % W
    return erp[..., b:b + p, :].index_select(-1, cols)


def build_pool(data_cfg: dict, root: Path, seed: int = 0) -> ERPPool:
    """From a config's ``data`` section: photos folder + ERP folder, minus the validation split."""
    split = load_split()
    photos, real = [], []
    if data_cfg.get("photos"):
        for p in list_images(root / data_cfg["photos"], exclude=split["val_photos"]):
            photos.append(load_rgb(p, max_side=data_cfg.get("photo_max_side", 1280)))
    if data_cfg.get("erp_folder"):
        for p in list_images(root / data_cfg["erp_folder"], exclude=split["val_panoramas"] + split.get("excluded", [])):
            img = load_rgb(p)
            if img.shape[-1] == 2 * img.shape[-2] and img.shape[-2] >= data_cfg.get("min_erp_height", 256):
                real.append(img)
    return ERPPool(real, photos, data_cfg.get("synth_count", 0), data_cfg.get("synth_heights", (512, 1024)),
                   data_cfg.get("real_prob", 0.2), seed)
