"""The demo's assets, layer by layer: kinds, names, numbers, money and geometry for one county.

Each function returns a part's columns as in ``DemoData.assets``, less the ids and codes
(``identify``) and the current state (``history``). Kinds, ranges and name templates come from
``data/demo.toml``.
"""

import numpy as np

from gis.demo import names
from gis.demo.data import TEXT, Columns
from gis.demo.places import County, ewkb, ewkb_points, outline, pick_villages, scatter, walks
from gis.vocab import LAYERS


def houses(c: County, n: int, n_sites: int, config: dict, rng: np.random.Generator) -> Columns:
    """Houses around their villages, numbered within each; ``n_sites`` of them are sites."""
    places = config["places"]
    village = np.sort(pick_villages(c, rng, n))
    number = np.arange(n) - np.searchsorted(village, village) + 1
    site = np.zeros(n, dtype=bool)
    site[rng.choice(n, min(n_sites, n), replace=False)] = True
    self_share = max(0.0, places["self_rebuild_share"] * n - n_sites) / max(n - n_sites, 1)
    rebuild = np.where(rng.random(n) < self_share, "self_rebuild", "general_repair")
    kind = np.where(site, "resettlement_site", rebuild).astype(TEXT)
    sigma = np.where(site, places["site_scatter_m"], places["house_scatter_m"])
    x, y = scatter(c.inner, rng, c.villages["x"][village], c.villages["y"][village], sigma)
    people = names.person_names(rng, c.villages["surname"][village])
    lo, hi = config["households"]["range"]
    return _columns(
        c,
        "houses",
        kind,
        village,
        ewkb_points(x, y),
        config,
        rng,
        number=number.astype(TEXT),
        village_level=~site,
        households=np.where(site, rng.integers(lo, hi + 1, n), 0),
        householder_name=np.where(site, "", people),
        householder_phone=np.where(site, "", names.phone_numbers(rng, n)),
    )


def water_works(c: County, n: int, config: dict, rng: np.random.Generator) -> Columns:
    """Points (reservoirs, sluices, ...) near a village; lines (levees, rivers) from one."""
    village = pick_villages(c, rng, n)
    kind = _kinds(config["kinds"]["water_works"], rng, n)
    line = np.isin(kind, list(config["lines"]["km"]))
    geom = np.empty(n, dtype=TEXT)
    vx, vy = c.villages["x"][village], c.villages["y"][village]
    x, y = scatter(c.inner, rng, vx[~line], vy[~line], config["places"]["works_scatter_m"])
    geom[~line] = ewkb_points(x, y)
    km = _by_kind(config["lines"]["km"], kind, rng)
    geom[line] = ewkb(walks(c.inner, rng, vx[line], vy[line], km[line] * 1000, config))
    return _columns(c, "water_works", kind, village, geom, config, rng)


def roads(c: County, n: int, config: dict, rng: np.random.Generator) -> Columns:
    """Road segments from a village; prioritised areas are more often in the first batch."""
    village = pick_villages(c, rng, n)
    kind = _kinds(config["kinds"]["roads"], rng, n)
    km = _by_kind(config["lines"]["km"], kind, rng)
    vx, vy = c.villages["x"][village], c.villages["y"][village]
    lines = walks(c.inner, rng, vx, vy, km * 1000, config)
    town = c.villages["town"][village]
    priority = c.towns["worst_hit"][town] | c.towns["poverty"][town]
    h = config["history"]
    first = rng.random(n) < np.where(priority, h["batch1_priority"], h["batch1_other"])
    number = np.strings.zfill(rng.integers(1, 1000, n).astype(TEXT), 3)
    batch = np.where(first, 1, 2)
    geom = ewkb(lines)
    return _columns(c, "roads", kind, village, geom, config, rng, km=km, number=number, batch=batch)


def named_work(c: County, work: dict, config: dict, rng: np.random.Generator) -> Columns:
    """One of the works the speech names, in county ``c``."""
    village = pick_villages(c, rng, 1)
    vx, vy = c.villages["x"][village], c.villages["y"][village]
    if "length_km" in work:
        geom = ewkb(walks(c.inner, rng, vx, vy, np.array([work["length_km"] * 1000.0]), config))
    elif "radius_m" in work:
        geom = ewkb(np.array([outline(c.inner, rng, work["radius_m"])]))
    else:
        geom = ewkb_points(*scatter(c.inner, rng, vx, vy, config["places"]["works_scatter_m"]))
    name = work["name"] if len(work["counties"]) == 1 else c.name + work["name"]
    kind = np.array([work["kind"]], dtype=TEXT)
    planned = np.array([float(work["investment_wan"])])
    return _columns(
        c,
        "water_works",
        kind,
        village,
        geom,
        config,
        rng,
        name=name,
        planned_investment_wan=planned,
    )


def identify(assets: Columns, adcode: str, first_id: int) -> Columns:
    """Ids from ``first_id``; codes ``<prefix>-<adcode>-<serial>`` for one layer of a county."""
    row = np.arange(len(assets["layer"]))
    prefix = f"{LAYERS[str(assets['layer'][0])].code_prefix}-{adcode}-"
    code = np.strings.add(prefix, np.strings.zfill((row + 1).astype(TEXT), 5))
    return {"id": row + first_id, "code": code, **assets}


def _columns(
    c: County,
    layer: str,
    kind: np.ndarray,
    village: np.ndarray,
    geom: np.ndarray,
    config: dict,
    rng: np.random.Generator,
    *,
    km: np.ndarray | float = 1.0,
    number: np.ndarray | str = "",
    village_level: np.ndarray | None = None,
    **given: np.ndarray,
) -> Columns:
    """A part's asset columns: those not ``given`` come from its county, town and village."""
    n = len(kind)
    town = c.villages["town"][village]
    stem = c.villages["stem"][village]
    village_name = np.strings.add(stem, "村")
    if village_level is None:
        village_level = np.isin(kind, config["places"]["village_level"])
    number = np.broadcast_to(np.asarray(number, dtype=TEXT), (n,))
    fields = {
        "town": c.towns["name"][town],
        "village": village_name,
        "stem": stem,
        "number": number,
    }
    planned = np.round(_by_kind(config["investment_wan"], kind, rng) * km, 2)
    planned = given.pop("planned_investment_wan", planned)
    lo, hi = config["funds"]["partly_secured"]
    secured = np.where(rng.random(n) < config["funds"]["fully_secured"], 1, rng.uniform(lo, hi, n))
    columns = {
        "layer": np.full(n, layer, dtype=TEXT),
        "kind": kind,
        "batch": np.zeros(n, dtype=np.int16),
        "county_adcode": np.full(n, c.adcode, dtype=TEXT),
        "town": fields["town"],
        "village": np.where(village_level, village_name, "").astype(TEXT),
        "name": _names(config["names"], kind, fields),
        "geom": geom,
        "households": np.zeros(n, dtype=np.int16),
        "planned_investment_wan": planned,
        "funds_secured_wan": np.round(planned * secured, 2),
        "poverty_alleviated_area": c.towns["poverty"][town],
        "worst_hit_area": c.towns["worst_hit"][town],
        "householder_name": np.full(n, "", dtype=TEXT),
        "householder_phone": np.full(n, "", dtype=TEXT),
    }
    for key, values in given.items():
        columns[key] = np.broadcast_to(np.asarray(values), (n,)).astype(columns[key].dtype)
    return columns


def _names(templates: dict[str, str], kind: np.ndarray, fields: Columns) -> np.ndarray:
    """Each asset's name, from its kind's template."""
    out = np.empty(len(kind), dtype=TEXT)
    for key, template in templates.items():
        if (mask := kind == key).any():
            out[mask] = names.fill(template, mask.sum(), {k: v[mask] for k, v in fields.items()})
    return out


def _kinds(shares: dict[str, float], rng: np.random.Generator, n: int) -> np.ndarray:
    p = np.array(list(shares.values()))
    return np.array(list(shares), dtype=TEXT)[rng.choice(len(p), size=n, p=p / p.sum())]


def _by_kind(ranges: dict[str, list[float]], kind: np.ndarray, rng: np.random.Generator):
    """A value per asset, uniform in its kind's range (0 for kinds without one)."""
    out = np.zeros(len(kind))
    for key, (lo, hi) in ranges.items():
        if (mask := kind == key).any():
            out[mask] = rng.uniform(lo, hi, mask.sum())
    return out
