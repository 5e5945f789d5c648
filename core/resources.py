"""Where the package's own data lives: the shipped weights (``assets/weights/``) and the sample
comparison bundle (``assets/sample/``), package data of ``resvr.core`` found through
``importlib.resources`` (so a wheel installed without ``-e`` carries them). ``$RESVR_ASSETS``
points at another assets folder."""
from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path


def _assets() -> Path:
    env = os.environ.get("RESVR_ASSETS")
    return Path(env) if env else Path(str(files("resvr.core") / "assets"))


#: the assets folder (weights/, sample/)
ASSETS = _assets()


def sample_bundle_path() -> Path | None:
    """The shipped sample comparison bundle, or None when this build has none."""
    p = ASSETS / "sample"
    return p if (p / "bundle.yaml").is_file() else None
