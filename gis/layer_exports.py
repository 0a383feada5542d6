"""A layer with every asset's state on a day, for QGIS: GeoJSON or GeoPackage (EPSG:4326).

Public fields for everyone; householders' names and phones only for readers who see them in
every county they read (administrators, and managers of their own counties).

Both files are read through a server-side cursor, ``CHUNK`` assets at a time, in the caller's
transaction (one snapshot: a REPEATABLE READ transaction keeps the file consistent). The GeoJSON
is made in PostGIS and handed on chunk by chunk; the GeoPackage is written to disk chunk by
chunk. Neither holds the layer in memory: at a million houses the whole-city GeoJSON is 650 MB.
"""

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from gis import db
from gis.access import Principal
from gis.crs import STORAGE_SRID
from gis.errors import NotFound
from gis.progress import SCOPE, scope_params, state_as_of
from gis.queries.features import AS_IS, ASSET_JOINS, ESCAPED, object_sql
from gis.vocab import LAYERS, STAGE_ZH

CHUNK = 2_000  # assets per read: a GeoJSON chunk of about 1.4 MB for houses
# Assets per GeoPackage write: each write costs a transaction in the file, so larger pieces
# (about 50 MB of frame). 283,000 houses took 21 s in pieces of 2,000, 14.6 s in 10,000.
GPKG_CHUNK = 10_000

# Full precision, as GeoPandas wrote it: ST_AsGeoJSON writes the shortest decimal that reads
# back as the stored double, so a file exported and imported again keeps every coordinate.
GEOJSON_DECIMALS = 15


@dataclass(frozen=True)
class LayerExport:
    """A layer export asked for and checked: the layer, the day, whether householders' fields
    go in, and the parameters of the reader's scope (``scope_params``)."""

    layer: str
    as_of: dt.date
    personal: bool
    params: dict[str, Any]


def check_export(
    session: Session,
    *,
    principal: Principal,
    layer: str,
    as_of: dt.date,
    county: str | None = None,
    today: dt.date | None = None,
) -> LayerExport:
    """Check the layer, the day and the county asked for against what ``principal`` may read;
    everything that can refuse an export is refused here, before a byte is written."""
    if layer not in LAYERS:
        raise NotFound(
            f"图层 {layer} 不存在，可选：{'、'.join(LAYERS)}",
            f"No layer {layer!r}; use one of {', '.join(LAYERS)}.",
            field="layer",
        )
    params = scope_params(session, principal, as_of=as_of, county=county, today=today)
    return LayerExport(
        layer=layer,
        as_of=as_of,
        personal=principal.personal_everywhere_it_reads,
        params={**params, "layer": layer, "as_of": as_of.isoformat()},
    )


# The layer's assets in the reader's scope, with their stage and percent on the day.
_AS_OF = state_as_of("cutoff", "past")
_ASSETS = f"""
    SELECT a.id, a.code, a.layer, a.kind, a.county_adcode, a.town, a.village, a.name, a.batch,
           a.households, a.planned_investment_wan, a.funds_secured_wan, a.householder_name,
           a.householder_phone, a.extra, a.extra_personal, a.geom,
           {_AS_OF.stage} AS stage, {_AS_OF.percent} AS percent
      FROM assets a {_AS_OF.join}
     WHERE a.layer = :layer AND {SCOPE}
"""

# The properties of a feature, in the order of the file's columns; householders' fields only
# for those who see them; then stage_zh and as_of, then the extra attributes (_extra_keys).
_PROPERTIES = (
    ("id", "a.id", AS_IS),
    ("code", "a.code", ESCAPED),
    ("layer", "k.layer_json", AS_IS),
    ("kind", "k.kind_json", AS_IS),
    ("kind_zh", "k.name_zh_json", AS_IS),
    ("county_adcode", "c.adcode_json", AS_IS),
    ("county_zh", "c.name_zh_json", AS_IS),
    ("town", "a.town", ESCAPED),
    ("village", "a.village", ESCAPED),
    ("name", "a.name", ESCAPED),
    ("batch", "a.batch", AS_IS),
    ("households", "a.households", AS_IS),
    ("planned_investment_wan", "CAST(a.planned_investment_wan AS float8)", ESCAPED),
    ("funds_secured_wan", "CAST(a.funds_secured_wan AS float8)", ESCAPED),
    ("stage", "s.stage_json", AS_IS),
    ("percent", "a.percent", AS_IS),
)
_PERSONAL = (
    ("householder_name", "a.householder_name", ESCAPED),
    ("householder_phone", "a.householder_phone", ESCAPED),
)
_ON_THE_DAY = (("stage_zh", "s.name_zh_json", AS_IS), ("as_of", "d.as_of_json", AS_IS))


def _columns(personal: bool) -> list[str]:
    """The file's own columns, before the extra attributes."""
    members = (*_PROPERTIES, *(_PERSONAL if personal else ()), *_ON_THE_DAY)
    return [key for key, _, _ in members]


@dataclass(frozen=True)
class _Extra:
    """An extra attribute that becomes a column: its header, where it is kept (``extra`` or
    ``extra_personal``), and what its values are over the whole layer."""

    key: str
    source: str
    present: int  # assets with a value (not missing, not null)
    numbers: bool  # every value a number
    integers: bool  # every number an integer
    booleans: bool  # every value true or false


# Every header of the extra attributes, in the order first met (by asset id, then as kept), with
# what its values are: a whole-layer pass, as a column has one type in a GeoPackage.
_EXTRA_KEYS = f"""
    SELECT x.source, x.key, min(ARRAY[x.id, x.n]) AS first,
           count(*) FILTER (WHERE jsonb_typeof(x.value) <> 'null') AS present,
           bool_and(jsonb_typeof(x.value) IN ('number', 'null')) AS numbers,
           bool_and(jsonb_typeof(x.value) <> 'number' OR CAST(x.value AS text) ~ '^-?[0-9]+$')
               AS integers,
           bool_and(jsonb_typeof(x.value) IN ('boolean', 'null')) AS booleans
      FROM (SELECT 'extra' AS source, a.id, e.key, e.value, e.n
              FROM assets a CROSS JOIN LATERAL jsonb_each(a.extra) WITH ORDINALITY e(key, value, n)
             WHERE a.layer = :layer AND {SCOPE}
            UNION ALL
            SELECT 'extra_personal', a.id, e.key, e.value, e.n
              FROM assets a
             CROSS JOIN LATERAL jsonb_each(a.extra_personal) WITH ORDINALITY e(key, value, n)
             WHERE CAST(:personal AS boolean) AND a.layer = :layer AND {SCOPE}) x
     GROUP BY x.source, x.key
     ORDER BY x.source, first
"""
_COUNTS = f"""
    SELECT count(*) AS n, count(a.batch) AS batch, count(a.households) AS households,
           count(a.planned_investment_wan) AS planned_investment_wan,
           count(a.funds_secured_wan) AS funds_secured_wan,
           array_agg(DISTINCT substr(ST_GeometryType(a.geom), 4)) AS shapes
      FROM assets a
     WHERE a.layer = :layer AND {SCOPE}
"""


def _dtype(*, present: int, rows: int, numbers: bool, integers: bool, booleans: bool) -> str:
    """The type pandas gave a column of these values when the layer was one frame: integers
    only when none is missing, NaN for a missing number, objects when all are missing."""
    if present == 0:
        return "object"
    if numbers:
        return "int64" if integers and present == rows else "float64"
    if booleans and present == rows:
        return "bool"
    return "object"


def _extra_keys(session: Session, export: LayerExport) -> list[_Extra]:
    """The extra attributes' headers that become columns: a header of the file's own columns
    keeps that column, and one in both ``extra`` and ``extra_personal`` is the public one."""
    taken = {*_columns(export.personal), "geometry"}
    found = db.driver_rows(
        session, db.pyformat(_EXTRA_KEYS), {**export.params, "personal": export.personal}
    )
    extras = []
    for row in found:
        if row.key in taken:
            continue
        taken.add(row.key)
        extras.append(
            _Extra(row.key, row.source, row.present, row.numbers, row.integers, row.booleans)
        )
    return extras


# --- GeoJSON -----------------------------------------------------------------------------------


@cache
def _features_sql(personal: bool, extra_sources: tuple[str, ...]) -> str:
    """The layer's features (JSON text, UTF-8), by id. The extra attributes' headers are data:
    each header (as JSON text) and its key are bound parameters, ``extra_name_<n>`` and
    ``extra_key_<n>``; only their number and sources shape the SQL."""
    more = [
        f"CAST(:extra_name_{n} AS text) || coalesce(CAST(a.{source} -> CAST(:extra_key_{n} AS "
        "text) AS text), 'null')"
        for n, source in enumerate(extra_sources)
    ]
    properties = object_sql((*_PROPERTIES, *(_PERSONAL if personal else ()), *_ON_THE_DAY), more)
    return db.pyformat(
        f"""
        SELECT convert_to('{{"type":"Feature","properties":' || {properties}
                          || ',"geometry":' || ST_AsGeoJSON(a.geom, {GEOJSON_DECIMALS})
                          || '}}', 'UTF8') AS feature
          FROM ({_ASSETS}) a {ASSET_JOINS}
         CROSS JOIN (SELECT CAST(to_json(CAST(:as_of AS text)) AS text) AS as_of_json) d
         ORDER BY a.id
        """
    )


def geojson_chunks(
    session: Session, export: LayerExport, *, size: int | None = None
) -> Iterator[bytes]:
    """The layer as a GeoJSON FeatureCollection (UTF-8), in pieces of ``size`` (CHUNK)
    features; the first piece comes before any query, so a client sees its download start at
    once."""
    yield b'{"type":"FeatureCollection","features":['
    db.plan_each_time(session)  # the scope and the day decide the plan, see there
    extras = _extra_keys(session, export)
    params = dict(export.params)
    for n, extra in enumerate(extras):
        params[f"extra_name_{n}"] = "," + json.dumps(extra.key, ensure_ascii=False) + ":"
        params[f"extra_key_{n}"] = extra.key
    sql = _features_sql(export.personal, tuple(extra.source for extra in extras))
    separator = b""
    for chunk in db.driver_chunks(session, sql, params, size=size or CHUNK, binary=True):
        yield separator + b",".join(row.feature for row in chunk)
        separator = b","
    yield b"]}"


# --- GeoPackage --------------------------------------------------------------------------------


@cache
def _rows_sql(personal: bool) -> str:
    personal_columns = "a.householder_name, a.householder_phone, " if personal else ""
    return db.pyformat(
        f"""
        SELECT a.id, a.code, a.layer, a.kind, k.name_zh AS kind_zh, a.county_adcode,
               c.name_zh AS county_zh, a.town, a.village, a.name, a.batch, a.households,
               CAST(a.planned_investment_wan AS float8) AS planned_investment_wan,
               CAST(a.funds_secured_wan AS float8) AS funds_secured_wan,
               a.stage, a.percent, {personal_columns}
               a.extra, a.extra_personal, ST_AsBinary(a.geom) AS wkb
          FROM ({_ASSETS}) a
          JOIN counties c ON c.adcode = a.county_adcode
          JOIN asset_kinds k ON k.layer = a.layer AND k.kind = a.kind
         ORDER BY a.id
        """
    )


def _geometry_type(shapes: list[str]) -> tuple[str, bool]:
    """The layer's geometry type and whether to promote single geometries to multi, as pyogrio
    decides them for a whole frame (one type; or single and multi of one kind, as multi)."""
    if len(shapes) == 1:
        return shapes[0], False
    for single in ("Point", "LineString", "Polygon"):
        if set(shapes) == {single, f"Multi{single}"}:
            return f"Multi{single}", True
    return "Unknown", False


def write_geopackage(
    session: Session, export: LayerExport, path: Path, *, size: int | None = None
) -> None:
    """Write the layer to a GeoPackage at ``path`` (layer named as the export's), ``size``
    (GPKG_CHUNK) assets at a time, every column typed for the whole layer."""
    db.plan_each_time(session)
    counts = db.driver_rows(session, db.pyformat(_COUNTS), export.params)[0]
    extras = _extra_keys(session, export)
    dtypes = {"id": "int64", "percent": "int64"}
    for name, integers in (
        ("batch", True),
        ("households", True),
        ("planned_investment_wan", False),
        ("funds_secured_wan", False),
    ):
        present = getattr(counts, name)
        dtypes[name] = _dtype(
            present=present, rows=counts.n, numbers=True, integers=integers, booleans=False
        )
    for extra in extras:
        dtypes[extra.key] = _dtype(
            present=extra.present,
            rows=counts.n,
            numbers=extra.numbers,
            integers=extra.integers,
            booleans=extra.booleans,
        )
    geometry_type, promote = _geometry_type(counts.shapes or [])
    columns = [*_columns(export.personal), *(extra.key for extra in extras)]
    mode = "w"
    rows_sql = _rows_sql(export.personal)
    for chunk in db.driver_chunks(session, rows_sql, export.params, size=size or GPKG_CHUNK):
        frame = _frame(chunk, export, extras, columns, dtypes)
        frame.to_file(
            path,
            layer=export.layer,
            driver="GPKG",
            engine="pyogrio",
            mode=mode,
            geometry_type=geometry_type,
            promote_to_multi=promote,
            use_arrow=True,
        )
        mode = "a"
    if mode == "w":  # no assets: an empty layer with the file's columns
        frame = _frame([], export, extras, columns, dtypes)
        frame.to_file(
            path, layer=export.layer, driver="GPKG", engine="pyogrio", geometry_type="Unknown"
        )


def _frame(
    rows: list[Any],
    export: LayerExport,
    extras: list[_Extra],
    columns: list[str],
    dtypes: dict[str, str],
) -> gpd.GeoDataFrame:
    """One chunk of assets as a frame with the file's columns and types."""
    data: dict[str, Any] = {}
    for name in columns:
        if name == "stage_zh":
            data[name] = [STAGE_ZH[row.stage] for row in rows]
        elif name == "as_of":
            data[name] = [export.as_of.isoformat()] * len(rows)
        elif name in _ROW_COLUMNS:
            data[name] = [getattr(row, name) for row in rows]
    for extra in extras:
        data[extra.key] = [(getattr(row, extra.source) or {}).get(extra.key) for row in rows]
    series = {
        name: pd.Series(values, dtype=dtypes[name]) if name in dtypes else pd.Series(values)
        for name, values in data.items()
    }
    geometry = shapely.from_wkb([bytes(row.wkb) for row in rows])
    return gpd.GeoDataFrame(series, geometry=geometry, crs=STORAGE_SRID)


_ROW_COLUMNS = {key for key, _, _ in (*_PROPERTIES, *_PERSONAL)} | {"kind_zh", "county_zh"}
