"""A layer with every asset's state on a day, for QGIS: GeoPackage or GeoJSON (EPSG:4326).

Public fields for everyone; householders' names and phones only for readers who see them in
every county they read (administrators, and managers of their own counties)."""

import datetime as dt
import tempfile
from pathlib import Path

import geopandas as gpd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.access import Principal
from gis.crs import STORAGE_SRID
from gis.progress import SCOPE, scope_params, state_as_of
from gis.vocab import STAGE_ZH

_AS_OF = state_as_of("cutoff", "past")
_LAYER = text(
    f"""
    SELECT a.id, a.code, a.layer, a.kind, k.name_zh AS kind_zh, a.county_adcode,
           c.name_zh AS county_zh, a.town, a.village, a.name, a.batch, a.households,
           a.planned_investment_wan::float8 AS planned_investment_wan,
           a.funds_secured_wan::float8 AS funds_secured_wan,
           {_AS_OF.stage} AS stage,
           {_AS_OF.percent} AS percent,
           a.householder_name, a.householder_phone, a.extra, a.extra_personal,
           ST_AsBinary(a.geom) AS wkb
      FROM assets a
      {_AS_OF.join}
      JOIN counties c ON c.adcode = a.county_adcode
      JOIN asset_kinds k ON k.layer = a.layer AND k.kind = a.kind
     WHERE a.layer = :layer
       AND {SCOPE}
     ORDER BY a.id
    """
)


def layer_frame(
    session: Session,
    *,
    principal: Principal,
    layer: str,
    as_of: dt.date,
    county: str | None = None,
    today: dt.date | None = None,
) -> gpd.GeoDataFrame:
    """The layer's assets the principal may read, with their stage and percent on ``as_of``."""
    params = scope_params(session, principal, as_of=as_of, county=county, today=today)
    rows = session.execute(_LAYER, {**params, "layer": layer}).all()
    columns = [c for c in rows[0]._fields if c != "wkb"] if rows else []
    data = {c: [getattr(r, c) for r in rows] for c in columns} if rows else {"stage": []}
    geometry = shapely.from_wkb([bytes(r.wkb) for r in rows])
    frame = gpd.GeoDataFrame(data, geometry=geometry, crs=STORAGE_SRID)
    frame["stage_zh"] = frame["stage"].map(STAGE_ZH)
    frame["as_of"] = as_of.isoformat()
    if not principal.personal_everywhere_it_reads:
        frame = frame.drop(columns=["householder_name", "householder_phone"], errors="ignore")
        frame = frame.drop(columns=["extra_personal"], errors="ignore")
    return _extra_columns(frame)


def _extra_columns(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The extra attributes of imported inventories as columns under their own headers (as the
    county sent them, so that the file imports again as it was)."""
    for name in ("extra", "extra_personal"):
        if name not in frame:
            continue
        records = frame.pop(name).tolist()
        headers = list(dict.fromkeys(k for r in records for k in (r or {})))
        for header in headers:
            if header not in frame:
                frame[header] = [(r or {}).get(header) for r in records]
    return frame


def geopackage(frame: gpd.GeoDataFrame, layer: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{layer}.gpkg"
        frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
        return path.read_bytes()


def geojson(frame: gpd.GeoDataFrame) -> bytes:
    return frame.to_json(ensure_ascii=False, drop_id=True).encode()
