"""GeoJSON built inside PostGIS: one query returns a page of features as JSON text.

PostGIS 3.3 lacks ``ST_AsGeoJSON(record, id_column)``, so features are assembled from JSON
text (assets) or with ``json_build_object`` (counties). Coordinates are CRS84 (lon, lat) with 7
decimals (about 1 cm).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import db
from gis.access import Principal, require_read
from gis.asset_status import ASSET_STATUSES, has_status_sql
from gis.errors import InvalidParameter, NotFound, UnknownCounty
from gis.queries.item_filters import Queryable, TimeRange, cql2_clause, time_clauses
from gis.vocab import KINDS, LAYERS, STAGES

GEOJSON_DECIMALS = 7

# How a value becomes JSON text in the features below. PostgreSQL's json_build_object looks up
# the type and output function of every argument (keys included) for every row: at 22
# properties that was 10 of the 17 ms of a 1,000-feature page at a million houses. So each
# feature is concatenated from JSON text instead: ``to_json`` only where escaping or a format is
# needed (text, numeric, timestamps), a plain cast for integers and booleans, the JSON text of
# jsonb as it is, and the names of kinds, counties and stages turned into JSON once per page in
# ASSET_JOINS. A test checks the result against json_build_object's, value for value.
ESCAPED, AS_IS = "escaped", "as_is"
_AS_JSON = {
    # text, numeric (NaN becomes "NaN") and timestamptz, through to_json
    ESCAPED: "coalesce(CAST(to_json({}) AS text), 'null')",
    # integers, booleans, jsonb, and JSON text made in ASSET_JOINS: their text is JSON
    AS_IS: "coalesce(CAST({} AS text), 'null')",
}

# Public properties of an asset: (key, SQL on ``a`` and ASSET_JOINS, how it becomes JSON).
# Householders' personal data (models.personal_columns) is never part of this list:
# PERSONAL_PROPERTIES adds it, only for roles allowed to see it.
PUBLIC_PROPERTIES: tuple[tuple[str, str, str], ...] = (
    ("code", "a.code", ESCAPED),
    ("layer", "k.layer_json", AS_IS),
    ("kind", "k.kind_json", AS_IS),
    ("kind_zh", "k.name_zh_json", AS_IS),
    ("batch", "a.batch", AS_IS),
    ("county_adcode", "c.adcode_json", AS_IS),
    ("county_zh", "c.name_zh_json", AS_IS),
    ("town", "a.town", ESCAPED),
    ("village", "a.village", ESCAPED),
    ("name", "a.name", ESCAPED),
    ("households", "a.households", AS_IS),
    ("planned_investment_wan", "a.planned_investment_wan", ESCAPED),
    ("funds_secured_wan", "a.funds_secured_wan", ESCAPED),
    ("poverty_alleviated_area", "a.poverty_alleviated_area", AS_IS),
    ("worst_hit_area", "a.worst_hit_area", AS_IS),
    ("stage", "s.stage_json", AS_IS),
    ("stage_zh", "s.name_zh_json", AS_IS),
    ("percent", "a.percent", AS_IS),
    ("stage_observed_at", "a.stage_observed_at", ESCAPED),
    ("version", "a.version", AS_IS),
    ("updated_at", "a.updated_at", ESCAPED),
    ("extra", "a.extra", AS_IS),
)
PERSONAL_PROPERTIES: tuple[tuple[str, str, str], ...] = (
    ("householder_name", "a.householder_name", ESCAPED),
    ("householder_phone", "a.householder_phone", ESCAPED),
    ("extra_personal", "a.extra_personal", AS_IS),
)

# The lookups of an asset's names, each already JSON text: made once per row of these small
# tables, not once per asset.
ASSET_JOINS = """
    JOIN (SELECT layer, kind, CAST(to_json(layer) AS text) AS layer_json,
                 CAST(to_json(kind) AS text) AS kind_json,
                 CAST(to_json(name_zh) AS text) AS name_zh_json
            FROM asset_kinds) k ON k.layer = a.layer AND k.kind = a.kind
    JOIN (SELECT adcode, CAST(to_json(adcode) AS text) AS adcode_json,
                 CAST(to_json(name_zh) AS text) AS name_zh_json
            FROM counties) c ON c.adcode = a.county_adcode
    JOIN (SELECT stage, CAST(to_json(stage) AS text) AS stage_json,
                 CAST(to_json(name_zh) AS text) AS name_zh_json
            FROM stages) s ON s.stage = a.stage
"""


# The geometry in CRS84 (longitude first), or latitude first for the EPSG CRSs that say so
# (EPSG:4326, EPSG:4490; stored coordinates are used unchanged, see gis/crs.py).
_GEOMETRY = {
    False: f"ST_AsGeoJSON(a.geom, {GEOJSON_DECIMALS})",
    True: f"ST_AsGeoJSON(ST_FlipCoordinates(a.geom), {GEOJSON_DECIMALS})",
}


def object_sql(members: Sequence[tuple[str, str, str]], more: Sequence[str] = ()) -> str:
    """SQL concatenating a JSON object (text) of ``members``: (key, SQL value, how it becomes
    JSON, one of ``_AS_JSON``). Keys are constants of the calling module. ``more``: SQL of
    further members after them, each JSON text starting with a comma (for keys that are data,
    bound as parameters)."""
    parts = []
    for index, (key, value, how) in enumerate(members):
        if not re.fullmatch(r"[a-z_]+", key):
            raise ValueError(f"not a property key: {key!r}")
        parts.append(f"""'{"{" if index == 0 else ","}"{key}":'""")
        parts.append(_AS_JSON[how].format(value))
    if more and not parts:
        raise ValueError("more members need at least one member before them")
    parts.extend(more)
    return " || ".join(parts) + " || '}'" if parts else "'{}'"


@cache
def asset_feature_sql(
    *,
    personal: bool,
    extra: tuple[tuple[str, str, str], ...] = (),  # hashable: the SQL is cached per variant
    lat_lon: bool = False,
) -> str:
    """The SQL of one asset (aliased ``a``, with ASSET_JOINS) as a GeoJSON Feature (JSON text);
    householders' personal fields only when ``personal``; ``extra`` adds properties (key, SQL,
    one of ``_AS_JSON``'s kinds); ``lat_lon`` swaps the axes (for a latitude-first CRS)."""
    properties = [*PUBLIC_PROPERTIES, *(PERSONAL_PROPERTIES if personal else ()), *extra]
    return f"""
    ('{{"type":"Feature","id":' || CAST(a.id AS text) || ',"geometry":'
     || {_GEOMETRY[lat_lon]} || ',"properties":' || {object_sql(properties)} || '}}')
    """


def county_feature_sql(*, lat_lon: bool = False) -> str:
    """The SQL of one county (aliased ``a``) as a GeoJSON Feature (JSON text)."""
    return f"""
    CAST(json_build_object(
        'type', 'Feature',
        'id', a.adcode,
        'geometry', CAST({_GEOMETRY[lat_lon]} AS json),
        'properties', json_build_object(
            'adcode', a.adcode, 'name_zh', a.name_zh, 'name_en', a.name_en
        )
    ) AS text)
"""


# What a filter may name (OGC API Features Part 3 queryables): columns, never personal ones.
ASSET_QUERYABLES: dict[str, Queryable] = {
    "code": Queryable("a.code", "string", "项目代码", "code"),
    "kind": Queryable("a.kind", "string", "类别", "kind"),
    "county_adcode": Queryable("a.county_adcode", "string", "县区代码", "county adcode"),
    "town": Queryable("a.town", "string", "乡镇", "town"),
    "village": Queryable("a.village", "string", "村", "village"),
    "name": Queryable("a.name", "string", "名称", "name"),
    "batch": Queryable("a.batch", "integer", "批次", "road batch"),
    "households": Queryable("a.households", "integer", "户数", "households"),
    "planned_investment_wan": Queryable(
        "a.planned_investment_wan", "number", "计划投资（万元）", "planned investment (10k yuan)"
    ),
    "funds_secured_wan": Queryable(
        "a.funds_secured_wan", "number", "到位资金（万元）", "funds secured (10k yuan)"
    ),
    "poverty_alleviated_area": Queryable(
        "a.poverty_alleviated_area", "boolean", "脱贫地区", "poverty-alleviated area"
    ),
    "worst_hit_area": Queryable("a.worst_hit_area", "boolean", "重灾区", "worst-hit area"),
    "stage": Queryable("a.stage", "string", "阶段", "stage"),
    "percent": Queryable("a.percent", "integer", "完成百分比", "percent done"),
    "stage_observed_at": Queryable(
        "a.stage_observed_at", "timestamp", "最近核查时间", "last observed"
    ),
    "updated_at": Queryable("a.updated_at", "timestamp", "更新时间", "updated"),
    "version": Queryable("a.version", "integer", "版本", "version"),
}
COUNTY_QUERYABLES: dict[str, Queryable] = {
    "adcode": Queryable("a.adcode", "string", "县区代码", "adcode"),
    "name_zh": Queryable("a.name_zh", "string", "中文名", "Chinese name"),
    "name_en": Queryable("a.name_en", "string", "英文名", "English name"),
}


# A bbox (CRS84 degrees) as the index-backed test pygeoapi uses.
ENVELOPE = "ST_Intersects(ST_MakeEnvelope(:west, :south, :east, :north, 4326), a.geom)"

# numberMatched is counted only on a first page, and only up to this many: a count of a
# million rows would cost more than the page itself. Beyond it numberMatched is left out (the
# standard makes it optional) and the next links lead on; a last page always knows it.
COUNT_CAP = 10_000


@dataclass(frozen=True)
class FeaturePage:
    """A page of features as a JSON array (UTF-8), and how many match in all (None: not
    counted, more than COUNT_CAP)."""

    features_json: bytes
    number_matched: int | None
    number_returned: int


@dataclass(frozen=True)
class ItemQuery:
    """What an items request asks for. Coordinates in CRS84 (lon, lat); ``lat_lon`` puts the
    answer's coordinates latitude first."""

    limit: int
    offset: int = 0
    bbox: tuple[float, float, float, float] | None = None
    county: str | None = None
    kind: str | None = None
    stage: str | None = None
    batch: int | None = None
    status: str | None = None
    observed: TimeRange | None = None
    filter: str | None = None
    lat_lon: bool = False


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


def _choice(value: str | None, allowed: tuple[str, ...], field: str) -> None:
    if value is not None and value not in allowed:
        raise InvalidParameter(
            f"{field} 取值 {value[:40]!r} 无效，可选：{'、'.join(allowed)}",
            f"{field} {value[:40]!r} is not valid; use one of {', '.join(allowed)}.",
            field=field,
        )


def _page(
    session: Session,
    *,
    table: str,
    key: str,
    feature: str,
    clauses: list[str],
    params: dict,
    query: ItemQuery,
    joins: str = "",
    keys_first: bool = False,
) -> FeaturePage:
    """A page of ``table`` (aliased ``a``) as features, ordered by ``key``; every piece of SQL
    here is a constant of this module, every value in ``params``. ``keys_first``: for filters
    that an index on (..., key) answers, see below."""
    where = " AND ".join(clauses) or "TRUE"
    params = {**params, "limit": query.limit, "offset": query.offset, "cap": COUNT_CAP + 1}
    # A first page counts the matches too (up to the cap), in the same statement.
    count = (
        f"(SELECT count(*) FROM (SELECT 1 FROM {table} a WHERE {where} LIMIT :cap) x)"
        if query.offset == 0
        else "CAST(NULL AS bigint)"
    )
    db.plan_each_time(session, parallel=False)  # one plan per bbox, see there
    # ``keys_first``: the page's keys first (an array), then its rows by key. Asked for whole
    # rows, PostgreSQL walked the ids in order and filtered: a county whose houses were loaded
    # after 459,000 others took 103 ms for 100 of them, 6-7 ms now; its keys alone come from
    # an index (layer, county, id). As an array the keys are looked up in the primary key (as
    # a join PostgreSQL hashed them against the whole table). Otherwise the rows are read
    # once: the GiST index finds a bbox's, and an unfiltered page is the first ids in order
    # (fetching them a second time by key cost 2-4 ms a 1,000-house page).
    order = f"ORDER BY a.{key} LIMIT :limit OFFSET :offset"
    rows = (
        f"SELECT a.* FROM {table} a WHERE a.{key} = "
        f"ANY(ARRAY(SELECT a.{key} FROM {table} a WHERE {where} {order}))"
        if keys_first
        else f"SELECT a.* FROM {table} a WHERE {where} {order}"
    )
    # On the driver, in binary: the page arrives as the bytes of its UTF-8 text (a megabyte
    # decoded into a str and encoded back cost milliseconds).
    features, returned, counted = db.driver_rows(
        session,
        db.pyformat(
            f"""
            WITH page AS ({rows})
            SELECT convert_to(
                       '[' || coalesce(string_agg({feature}, ',' ORDER BY a.{key}), '') || ']',
                       'UTF8'),
                   count(*) AS returned, {count} AS counted
              FROM page a {joins}
            """
        ),
        params,
        binary=True,
    )[0]
    matched: int | None = None
    if returned < query.limit and (returned > 0 or query.offset == 0):
        matched = query.offset + returned  # the last page: known without counting
    elif counted is not None and counted <= COUNT_CAP:
        matched = counted
    return FeaturePage(features, matched, returned)


def _scope(principal: Principal) -> list[str] | None:
    return None if principal.counties is None else sorted(principal.counties)


def asset_page(
    session: Session, *, principal: Principal, layer: str, query: ItemQuery
) -> FeaturePage:
    """Assets of one layer that ``principal`` may read, filtered by ``query``, by id."""
    if layer not in LAYERS:
        raise NotFound(f"图层 {layer} 不存在", f"No layer {layer!r}; use one of {list(LAYERS)}.")
    _choice(query.kind, tuple(t.key for t in KINDS[layer]), "kind")
    _choice(query.stage, tuple(t.key for t in STAGES), "stage")
    _choice(query.status, ASSET_STATUSES, "status")
    clauses, params = ["a.layer = :layer"], {"layer": layer}
    if principal.counties is not None:
        clauses.append("a.county_adcode = ANY(:scope)")
        params["scope"] = _scope(principal)
    if query.county is not None:
        check_county(session, query.county)
        require_read(principal, query.county)
        clauses.append("a.county_adcode = :county")
        params["county"] = query.county
    if query.bbox is not None:
        clauses.append(ENVELOPE)
        params.update(zip(("west", "south", "east", "north"), query.bbox, strict=True))
    for name in ("kind", "stage", "batch"):
        if getattr(query, name) is not None:
            clauses.append(f"a.{name} = :{name}")
            params[name] = getattr(query, name)
    if query.status is not None:
        from gis.progress import china_today  # gis.progress imports this module

        clauses.append(has_status_sql("status_day", "status"))
        params.update(status=query.status, status_day=china_today())
    if query.observed is not None:
        clauses += time_clauses(query.observed, "a.stage_observed_at", params)
    if query.filter is not None:
        clauses.append(cql2_clause(query.filter, ASSET_QUERYABLES, params))
    return _page(
        session,
        table="assets",
        key="id",
        feature=asset_feature_sql(
            personal=principal.personal_everywhere_it_reads, lat_lon=query.lat_lon
        ),
        joins=ASSET_JOINS,
        clauses=clauses,
        params=params,
        query=query,
        keys_first=query.bbox is None and len(clauses) > 1,  # filtered beyond the layer
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
    extra: tuple[tuple[str, str, str], ...] = ()
    order = "a.id"
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
            (
                "distance_m",
                "round(ST_Distance(a.geom::geography, CAST(:here AS geography))::numeric, 1)",
                ESCAPED,
            ),
        )
        order = "a.geom <-> CAST(:here AS geometry)"
    here = f"SRID=4326;POINT({near[0]!r} {near[1]!r})" if near is not None else None
    escaped = (query or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    feature = asset_feature_sql(personal=principal.personal_everywhere_it_reads, extra=extra)
    return session.execute(
        text(
            f"""
            SELECT '{{"type":"FeatureCollection","features":['
                   || coalesce(string_agg(f, ',' ORDER BY n), '') || ']}}'
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


def county_page(session: Session, *, query: ItemQuery) -> FeaturePage:
    """County boundaries, ordered by adcode."""
    clauses: list[str] = []
    params: dict = {}
    if query.county is not None:
        check_county(session, query.county)
        clauses.append("a.adcode = :county")
        params["county"] = query.county
    if query.bbox is not None:
        clauses.append(ENVELOPE)
        params.update(zip(("west", "south", "east", "north"), query.bbox, strict=True))
    if query.filter is not None:
        clauses.append(cql2_clause(query.filter, COUNTY_QUERYABLES, params))
    return _page(
        session,
        table="counties",
        key="adcode",
        feature=county_feature_sql(lat_lon=query.lat_lon),
        clauses=clauses,
        params=params,
        query=query,
    )


def asset_feature(
    session: Session,
    asset_id: int,
    *,
    principal: Principal,
    layer: str | None = None,
    lat_lon: bool = False,
) -> tuple[str, int]:
    """One asset as a GeoJSON Feature (text) and its version, for the ETag. Raises NotFound,
    or Forbidden when the asset lies outside the principal's counties."""
    public = asset_feature_sql(personal=False, lat_lon=lat_lon)
    personal = asset_feature_sql(personal=True, lat_lon=lat_lon)
    row = session.execute(
        text(
            f"SELECT a.county_adcode, {public}::text, "
            f"{personal}::text, a.version FROM assets a {ASSET_JOINS} "
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


def county_feature(session: Session, adcode: str, *, lat_lon: bool = False) -> str:
    """One county boundary as a GeoJSON Feature (text)."""
    feature = county_feature_sql(lat_lon=lat_lon)
    body = session.execute(
        text(f"SELECT {feature}::text FROM counties a WHERE a.adcode = :adcode"),
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
