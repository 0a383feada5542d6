"""Where the demo's assets lie: towns and villages inside each county, and geometry around them.

Coordinates are EPSG:4326 lon/lat degrees; distances given in metres are converted with the
constant scale of Xinxiang's latitude. Every point, line and polygon lies inside its county's
boundary less a margin.
"""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from gis.crs import STORAGE_SRID
from gis.demo import names
from gis.demo.data import TEXT, Columns

M_PER_DEG_LAT = 110_900.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(35.3))  # Xinxiang spans 34.9-35.8°N: <1% off
MARGIN_DEG = 0.0005  # assets keep ~50 m inside their county, clear of any doubt at the boundary


@dataclass(frozen=True)
class County:
    """A county's boundary, settings, towns and villages, as the generator drew them."""

    adcode: str
    name: str
    inner: shapely.Geometry  # the boundary less the margin, prepared
    conf: dict[str, Any]
    towns: Columns  # name, x, y, worst_hit, poverty
    villages: Columns  # stem, x, y, town, surname, weight


def county(adcode: str, name: str, geom: Any, config: dict, rng: np.random.Generator) -> County:
    """Towns (township seats) and villages at random inside the county, and their flags."""
    conf = config["counties"].get(adcode, {"towns": 8, "damage": 1.0})
    inner = shapely.buffer(geom, -MARGIN_DEG)
    shapely.prepare(inner)
    n_towns = conf["towns"]
    tx, ty = _uniform(inner, rng, n_towns)
    worst = _flag(rng, n_towns, conf.get("worst_hit", 0.0))
    poverty = _flag(rng, n_towns, conf.get("poverty", 0.0), ty if conf.get("mountain") else None)
    n_villages = n_towns * config["places"]["villages_per_town"]
    vx, vy = _uniform(inner, rng, n_villages)
    # Each village belongs to the nearest town seat.
    dx, dy = (vx[:, None] - tx) * M_PER_DEG_LON, (vy[:, None] - ty) * M_PER_DEG_LAT
    town = np.argmin(dx**2 + dy**2, axis=1)
    stems, surnames = names.village_stems(rng, n_villages)
    heavier = np.where(worst[town], config["places"]["worst_hit_village_weight"], 1.0)
    town_names = np.array(names.town_names(rng, n_towns), dtype=TEXT)
    towns = {"name": town_names, "x": tx, "y": ty, "worst_hit": worst, "poverty": poverty}
    weight = rng.lognormal(0, 0.8, n_villages) * heavier
    villages = {
        "stem": np.array(stems, dtype=TEXT),
        "x": vx,
        "y": vy,
        "town": town,
        "surname": surnames,
        "weight": weight,
    }
    return County(adcode, name, inner, conf, towns, villages)


def _flag(rng: np.random.Generator, n: int, share: float, north: np.ndarray | None = None):
    """Flags a ``share`` of ``n`` towns: the northernmost if ``north`` (latitudes), else random."""
    order = np.argsort(-north, kind="stable") if north is not None else rng.permutation(n)
    flags = np.zeros(n, dtype=bool)
    flags[order[: round(share * n)]] = True
    return flags


def pick_villages(c: County, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` village indexes of ``c``, drawn by the villages' weights."""
    weight = c.villages["weight"]
    return rng.choice(len(weight), size=n, p=weight / weight.sum())


def _uniform(inner: shapely.Geometry, rng: np.random.Generator, n: int):
    """``n`` points uniformly inside ``inner`` (rejection sampling in its bounding box)."""
    minx, miny, maxx, maxy = inner.bounds
    xs, ys, found = [], [], 0
    while found < n:
        x, y = rng.uniform(minx, maxx, 2 * n + 16), rng.uniform(miny, maxy, 2 * n + 16)
        inside = shapely.contains_xy(inner, x, y)
        xs.append(x[inside])
        ys.append(y[inside])
        found += inside.sum()
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def scatter(inner: shapely.Geometry, rng: np.random.Generator, cx, cy, sigma_m):
    """Points normally scattered around centres inside ``inner``, redrawn until inside too."""
    x, y = np.array(cx, dtype=float), np.array(cy, dtype=float)
    sigma = np.broadcast_to(np.asarray(sigma_m, dtype=float), x.shape)
    todo = np.arange(len(x))
    while len(todo):
        x[todo] = cx[todo] + rng.normal(0.0, 1.0, len(todo)) * sigma[todo] / M_PER_DEG_LON
        y[todo] = cy[todo] + rng.normal(0.0, 1.0, len(todo)) * sigma[todo] / M_PER_DEG_LAT
        todo = todo[~shapely.contains_xy(inner, x[todo], y[todo])]
    return x, y


def walks(inner: shapely.Geometry, rng: np.random.Generator, x0, y0, length_m, config: dict):
    """Random-walk LineStrings from (x0, y0); those leaving ``inner`` are redrawn 10% shorter."""
    lo, hi = config["lines"]["segments"]
    turn = math.radians(config["lines"]["turn_degrees"])
    out = np.empty(len(x0), dtype=object)
    length = np.array(length_m, dtype=float)
    todo = np.arange(len(x0))
    while len(todo):
        k = len(todo)
        segments = rng.integers(lo, hi + 1, k)
        heading = rng.uniform(0, 2 * math.pi, (k, 1)) + np.cumsum(rng.normal(0, turn, (k, hi)), 1)
        step = (length[todo] / segments)[:, None]
        east = np.cumsum(np.c_[np.zeros(k), step * np.cos(heading)], axis=1) / M_PER_DEG_LON
        north = np.cumsum(np.c_[np.zeros(k), step * np.sin(heading)], axis=1) / M_PER_DEG_LAT
        x, y = x0[todo, None] + east, y0[todo, None] + north
        keep = np.arange(hi + 1) <= segments[:, None]
        lines = shapely.linestrings(x[keep], y[keep], indices=np.nonzero(keep)[0])
        inside = shapely.contains(inner, lines)
        out[todo[inside]] = lines[inside]
        todo = todo[~inside]
        length[todo] *= 0.9
    return out


def outline(inner: shapely.Geometry, rng: np.random.Generator, radius_m: float):
    """A lake-like Polygon of about ``radius_m`` somewhere inside ``inner``."""
    angle = np.linspace(0, 2 * math.pi, 24, endpoint=False)
    while True:
        (x,), (y,) = _uniform(inner, rng, 1)
        r = radius_m * rng.uniform(0.75, 1.25, len(angle))
        east, north = r * np.cos(angle) / M_PER_DEG_LON, 0.7 * r * np.sin(angle) / M_PER_DEG_LAT
        polygon = shapely.Polygon(np.c_[x + east, y + north])
        if shapely.contains(inner, polygon):
            return polygon


def ewkb(geoms: np.ndarray) -> np.ndarray:
    """Hex EWKB of lon/lat geometries, with the storage SRID."""
    with_srid = shapely.set_srid(geoms, STORAGE_SRID)
    return shapely.to_wkb(with_srid, hex=True, include_srid=True).astype(TEXT)


_EWKB_POINT = np.dtype(
    [("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")]
)


def ewkb_points(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Hex EWKB of SRID 4326 points written directly: the same bytes as shapely, 10x faster."""
    record = np.empty(len(x), dtype=_EWKB_POINT)
    record["order"], record["type"], record["srid"] = 1, 0x20000001, STORAGE_SRID
    record["x"], record["y"] = x, y
    return np.frombuffer(record.tobytes().hex().upper().encode(), dtype="S50").astype(TEXT)
