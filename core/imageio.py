"""Image loading and saving for panoramas (placeholder: the foundation helper extends it)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from .errors import BadInput


def load_image(path) -> np.ndarray:
    """Load an image file as uint8 RGB (H, W, 3)."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB")).copy()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except Exception as e:  # noqa: BLE001
        raise BadInput(f"{path}: cannot read image ({e})") from None
