"""GeoJSON built inside PostGIS: one query returns a page of features as JSON text.

PostGIS 3.3 lacks ``ST_AsGeoJSON(record, id_column)``, so features are assembled with
``json_build_object``. Coordinates are CRS84 (lon, lat) with 7 decimals (about 1 cm).
"""

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.access import Principal, require_read
from gis.errors import NotFound, UnknownCounty
from gis.vocab import LAYERS

GEOJSON_DECIMALS = 7

# Public properties of an asset. Householders' personal data (models.personal_columns) is never
# part of this list: PERSONAL_PROPERTIES adds it, only for roles allowed to see it.
PUBLIC_PROPERTIES = """
        'code', a.code,
        'layer', a.layer,
        'kind', a.kind,
        'kind_zh', k.name_zh,
        'batch', a.batch,
        'county_adcode', a.county_adcode,
        'county_zh', c.name_zh,
        'town', a.town,
        'village', a.village,
        'name', a.name,
        'households', a.households,
        'planned_investment_wan', a.planned_investment_wan,
        'funds_secured_wan', a.funds_secured_wan,
        'poverty_alleviated_area', a.poverty_alleviated_area,
        'worst_hit_area', a.worst_hit_area,
        'stage', a.stage,
        'stage_zh', s.name_zh,
        'percent', a.percent,
        'stage_observed_at', a.stage_observed_at,
        'version', a.version,
        'updated_at', a.updated_at,
        'extra', a.extra
"""
PERSONAL_PROPERTIES = """,
        'householder_name', a.householder_name,
        'householder_phone', a.householder_phone,
        'extra_personal', a.extra_personal
"""

ASSET_JOINS = """
    JOIN asset_kinds k ON k.layer = a.layer AND k.kind = a.kind
    JOIN counties c ON c.adcode = a.county_adcode
    JOIN stages s ON s.stage = a.stage
"""


def asset_feature_sql(*, personal: bool, extra: str = "") -> str:
    """The SQL of one asset (aliased ``a``, with ASSET_JOINS) as a GeoJSON Feature; householders'
    personal fields only when ``personal``; ``extra`` adds ``, 'key', value`` properties."""
    properties = PUBLIC_PROPERTIES + (PERSONAL_PROPERTIES if personal else "") + extra
    return f"""
    json_build_object(
        'type', 'Feature',
        'id', a.id,
        'geometry', ST_AsGeoJSON(a.geom, {GEOJSON_DECIMALS})::json,
        'properties', json_build_object({properties})
    )
    """


COUNTY_FEATURE = f"""
    json_build_object(
        'type', 'Feature',
        'id', a.adcode,
        'geometry', ST_AsGeoJSON(a.geom, {GEOJSON_DECIMALS})::json,
        'properties', json_build_object(
            'adcode', a.adcode, 'name_zh', a.name_zh, 'name_en', a.name_en
        )
    )
"""


@dataclass(frozen=True)
class FeaturePage:
    """A page of features as a JSON array (text), and how many features match in all."""

    features_json: str
    number_matched: int
    number_returned: int


def check_county(session: Session, adcode: str) -> None:
    """Raise UnknownCounty unless ``adcode`` is one of the loaded counties."""
    known = session.execute(text("SELECT adcode, name_zh FROM counties ORDER BY adcode")).all()
    if adcode not in {row.adcode for row in known}:
        choices = "，".join(f"{row.adcode} {row.name_zh}" for row in known)
        raise UnknownCounty(
            f"县区代码 {adcode} 不存在。可用的县区代码：{choices}",
            f"Unknown county adcode {adcode}. Use one of: "
            + ", ".join(row.adcode for row in known),
            field="county",
        )


def _page(
    session: Session,
    *,
    table: str,
    key: str,
    feature: str,
    where: str,
    params: dict,
    joins: str = "",
) -> FeaturePage:
    """A page of ``table`` (aliased ``a``) as features, ordered by ``key``, with the match count."""
    matched = session.execute(
        text(f"SELECT count(*) FROM {table} a WHERE {where}"), params
    ).scalar_one()
    row = session.execute(
        text(
            f"""
            WITH page AS (
                SELECT a.* FROM {table} a WHERE {where}
                 ORDER BY a.{key} LIMIT :limit OFFSET :offset
            )
            SELECT coalesce(json_agg({feature} ORDER BY a.{key}), '[]'::json)::text, count(*)
              FROM page a {joins}
            """
        ),
        params,
    ).one()
    return FeaturePage(row[0], matched, row[1])


def _scope(principal: Principal) -> list[str] | None:
    return None if principal.counties is None else sorted(principal.counties)


def asset_page(
    session: Session,
    *,
    principal: Principal,
    layer: str,
    county: str | None,
    limit: int,
    offset: int,
) -> FeaturePage:
    """Assets of one layer that ``principal`` may read, optionally in one county, by id."""
    if layer not in LAYERS:
        raise NotFound(f"图层 {layer} 不存在", f"No layer {layer!r}; use one of {list(LAYERS)}.")
    if county is not None:
        check_county(session, county)
        require_read(principal, county)
    return _page(
        session,
        table="assets",
        key="id",
        feature=asset_feature_sql(personal=principal.personal_everywhere_it_reads),
        joins=ASSET_JOINS,
        where="a.layer = :layer AND (CAST(:county AS text) IS NULL OR a.county_adcode = :county)"
        " AND (CAST(:scope AS text[]) IS NULL OR a.county_adcode = ANY(:scope))",
        params={
            "layer": layer,
            "county": county,
            "scope": _scope(principal),
            "limit": limit,
            "offset": offset,
        },
    )


def find_assets(
    session: Session,
    *,
    principal: Principal,
    near: tuple[float, float] | None,
    radius_m: float,
    query: str | None,
    layer: str | None,
    limit: int,
) -> str:
    """Assets ``principal`` may read near a point (EPSG:4326 lon, lat; nearest first, within
    ``radius_m``) and/or matching ``query`` (code prefix, or part of the village or name), as a
    FeatureCollection (text)."""
    clauses = ["(CAST(:scope AS text[]) IS NULL OR a.county_adcode = ANY(:scope))"]
    extra, order = "", "a.id"
    if layer is not None:
        clauses.append("a.layer = :layer")
    if query:
        clauses.append(
            "(a.code LIKE :prefix ESCAPE '\\' OR a.village LIKE :part ESCAPE '\\' "
            "OR a.name LIKE :part ESCAPE '\\')"
        )
    if near is not None:
        clauses.append("ST_DWithin(a.geom::geography, CAST(:here AS geography), :radius)")
        extra = (
            ", 'distance_m', "
            "round(ST_Distance(a.geom::geography, CAST(:here AS geography))::numeric, 1)"
        )
        order = "a.geom <-> CAST(:here AS geometry)"
    here = f"SRID=4326;POINT({near[0]!r} {near[1]!r})" if near is not None else None
    escaped = (query or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    feature = asset_feature_sql(personal=principal.personal_everywhere_it_reads, extra=extra)
    return session.execute(
        text(
            f"""
            SELECT json_build_object('type', 'FeatureCollection', 'features',
                                     coalesce(json_agg(f ORDER BY n), '[]'::json))::text
              FROM (SELECT {feature} AS f, row_number() OVER (ORDER BY {order}) AS n
                      FROM (SELECT a.* FROM assets a WHERE {" AND ".join(clauses)}
                             ORDER BY {order} LIMIT :limit) a
                      {ASSET_JOINS}) found
            """
        ),
        {
            "scope": _scope(principal),
            "layer": layer,
            "prefix": f"{escaped}%",
            "part": f"%{escaped}%",
            "here": here,
            "radius": radius_m,
            "limit": limit,
        },
    ).scalar_one()


def county_page(session: Session, *, county: str | None, limit: int, offset: int) -> FeaturePage:
    """County boundaries, ordered by adcode."""
    if county is not None:
        check_county(session, county)
    return _page(
        session,
        table="counties",
        key="adcode",
        feature=COUNTY_FEATURE,
        where="CAST(:county AS text) IS NULL OR a.adcode = :county",
        params={"county": county, "limit": limit, "offset": offset},
    )


def asset_feature(
    session: Session, asset_id: int, *, principal: Principal, layer: str | None = None
) -> tuple[str, int]:
    """One asset as a GeoJSON Feature (text) and its version, for the ETag. Raises NotFound,
    or Forbidden when the asset lies outside the principal's counties."""
    row = session.execute(
        text(
            f"SELECT a.county_adcode, {asset_feature_sql(personal=False)}::text, "
            f"{asset_feature_sql(personal=True)}::text, a.version FROM assets a {ASSET_JOINS} "
            "WHERE a.id = :id AND (CAST(:layer AS text) IS NULL OR a.layer = :layer)"
        ),
        {"id": asset_id, "layer": layer},
    ).first()
    if row is None:
        where_zh = f"图层 {layer} 中" if layer else ""
        raise NotFound(
            f"{where_zh}编号为 {asset_id} 的项目不存在，请核对编号或在地图上重新查找。",
            f"No asset with id {asset_id}{f' in {layer}' if layer else ''}. Check the id, "
            "or find the asset on the map again.",
            field="id",
        )
    county, public, personal, version = row
    require_read(principal, county)
    return (personal if principal.sees_personal(county) else public), version


def county_feature(session: Session, adcode: str) -> str:
    """One county boundary as a GeoJSON Feature (text)."""
    body = session.execute(
        text(f"SELECT {COUNTY_FEATURE}::text FROM counties a WHERE a.adcode = :adcode"),
        {"adcode": adcode},
    ).scalar_one_or_none()
    if body is None:
        raise NotFound(
            f"县区代码 {adcode} 不存在", f"No county with adcode {adcode!r}.", field="feature_id"
        )
    return body


def area_bbox(session: Session) -> list[float]:
    """[minlon, minlat, maxlon, maxlat] of all loaded counties (CRS84)."""
    row = session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom) AS e FROM counties) x"
        )
    ).one()
    return [round(v, 6) for v in row] if row[0] is not None else []
