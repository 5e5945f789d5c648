"""The view directions of ``resvr eval`` and their groups (high latitude, seam)."""
from __future__ import annotations

import math

#: The 10 fixed view directions (yaw, pitch) in degrees, ordered so that every prefix is spread
#: out: the equator, the +-180 degree seam, then high latitudes (60 and 80 degrees, the last with
#: the pole inside a 90 degree vertical field of view), then the rest.
VIEW_DIRECTIONS = (
    (0.0, 0.0),       # equator, front
    (180.0, 0.0),     # seam (lon +-180 in the middle of the view)
    (90.0, 60.0),     # high latitude
    (-90.0, -60.0),   # high latitude
    (45.0, 80.0),     # near the north pole (pole inside the view)
    (-135.0, -80.0),  # near the south pole
    (-90.0, 0.0),     # equator
    (90.0, -30.0),    # mid latitude
    (-45.0, 30.0),    # mid latitude
    (180.0, 45.0),    # seam, mid latitude
)
HIGH_LAT = 60.0  # |pitch| >= this: a high-latitude view


def view_directions(n: int = 10) -> list[tuple[float, float]]:
    """The first ``n`` of :data:`VIEW_DIRECTIONS`; beyond 10, Fibonacci-sphere directions."""
    if n < 1:
        raise ValueError(f"need at least one view direction, got {n}")
    dirs = list(VIEW_DIRECTIONS[:n])
    extra = n - len(dirs)
    golden = math.pi * (3.0 - math.sqrt(5.0))
    for k in range(extra):
        z = 1.0 - 2.0 * (k + 0.5) / extra
        lat = math.degrees(math.asin(z))
        lon = math.degrees(((k * golden + math.pi) % (2 * math.pi)) - math.pi)
        dirs.append((round(lon, 2), round(lat, 2)))
    return dirs


def view_groups(yaw: float, pitch: float) -> dict:
    """high_lat: |pitch| >= 60; seam: the view is centred on lon +-180 (yaw 180)."""
    w = (yaw + 180.0) % 360.0 - 180.0
    return {"high_lat": abs(pitch) >= HIGH_LAT, "seam": abs(abs(w) - 180.0) < 1e-6}


def view_name(i: int, yaw: float, pitch: float) -> str:
    g = view_groups(yaw, pitch)
    tag = " seam" if g["seam"] else (" high" if g["high_lat"] else "")
    return f"v{i} ({yaw:g},{pitch:g}){tag}"


def compare_views(dirs) -> tuple[int, ...]:
    """Views shown in compare.png: the first seam view and the highest-latitude view."""
    seam = next((i for i, (y, p) in enumerate(dirs) if view_groups(y, p)["seam"]), 0)
    high = max(range(len(dirs)), key=lambda i: abs(dirs[i][1]))
    return tuple(sorted({seam, high}))
