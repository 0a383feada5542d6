"""OGC API - Features under /ogc, so QGIS and GDAL open the layers: Part 1 (core, GeoJSON,
HTML, OpenAPI 3.0), Part 2 (CRS: CRS84 and CGCS2000) and Part 3 (queryables, CQL2 text).

The feature JSON is built in PostGIS (gis/queries/features.py); this module parses the
request strictly (an unknown or repeated parameter is a 400, as the standard asks), adds the
envelope and the links, and renders the HTML pages.
"""

import datetime as dt
import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response

from api.deps import SessionDep
from api.http import etag_matches, public_base
from api.ogc_html import render
from api.params import ascii_int, parse_id, strict_query
from api.schemas.geojson import Feature, FeatureCollection
from api.security import CurrentPrincipal, OpenReadRoute
from gis.crs import CRS84_URI
from gis.errors import InvalidParameter, NotFound
from gis.queries import features
from gis.queries.item_filters import (
    LAT_LON_CRS,
    SUPPORTED_CRS,
    parse_bbox,
    parse_crs,
    parse_datetime,
)
from gis.vocab import LAYERS, ROAD_BATCHES

router = APIRouter(prefix="/ogc", tags=["OGC API Features"], route_class=OpenReadRoute)

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OGC = "http://www.opengis.net/spec"
CONFORMANCE = [
    f"{OGC}/ogcapi-features-1/1.0/conf/core",
    f"{OGC}/ogcapi-features-1/1.0/conf/geojson",
    f"{OGC}/ogcapi-features-1/1.0/conf/html",
    f"{OGC}/ogcapi-features-1/1.0/conf/oas30",
    f"{OGC}/ogcapi-features-2/1.0/conf/crs",
    f"{OGC}/ogcapi-features-3/1.0/conf/queryables",
    f"{OGC}/ogcapi-features-3/1.0/conf/filter",
    f"{OGC}/ogcapi-features-3/1.0/conf/features-filter",
    f"{OGC}/cql2/1.0/conf/cql2-text",
    f"{OGC}/cql2/1.0/conf/basic-cql2",
]
COLLECTIONS: dict[str, tuple[str, str]] = {
    "counties": (
        "县区边界",
        "County boundaries of Xinxiang (for tracking, not an official survey)",
    ),
    **{key: (layer.zh, layer.en) for key, layer in LAYERS.items()},
}
# The day the records start (the flood): the temporal extent of the layers, open-ended.
RECORDS_START = "2021-07-17T00:00:00+08:00"

# The query parameters each kind of request takes; anything else is a 400.
PAGE_PARAMETERS = ("f",)
ITEM_PARAMETERS = ("f", "crs")
COUNTY_ITEMS_PARAMETERS = (
    "f",
    "bbox",
    "bbox-crs",
    "crs",
    "limit",
    "offset",
    "county",
    "filter",
    "filter-lang",
)
ASSET_ITEMS_PARAMETERS = (*COUNTY_ITEMS_PARAMETERS, "datetime", "kind", "stage", "status")


def items_parameters(collection_id: str) -> tuple[str, ...]:
    if collection_id == "counties":
        return COUNTY_ITEMS_PARAMETERS
    return (*ASSET_ITEMS_PARAMETERS, *(("batch",) if collection_id == "roads" else ()))


CollectionId = Annotated[str, Path(description="counties, houses, water_works or roads")]
Text = Annotated[str | None, Query()]


def _json(body: dict, media_type: str = JSON, headers: dict | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), media_type=media_type, headers=headers)


def _wants_html(request: Request) -> bool:
    """``f=html``, or no ``f`` and a browser asking for HTML first."""
    f = request.query_params.get("f")
    if f is not None:
        if f not in ("json", "html"):
            raise InvalidParameter(
                f"f 取值 {f[:20]!r} 无效，可选 json、html",
                f"f {f[:20]!r} is not valid; use json or html.",
                field="f",
            )
        return f == "html"
    return request.headers.get("accept", "").lstrip().startswith(HTML)


def _check_collection(cid: str) -> None:
    if cid not in COLLECTIONS:
        raise NotFound(
            f"数据集 {cid} 不存在，可选：{'、'.join(COLLECTIONS)}",
            f"No collection {cid!r}; use one of {', '.join(COLLECTIONS)}.",
            field="collection_id",
        )


def _root(request: Request) -> str:
    return f"{public_base(request)}/ogc"


def _self_and_alternate(href: str, media_type: str, html: bool) -> list[dict[str, str]]:
    """``self`` in the format served and ``alternate`` in the other."""
    json_link = {"href": f"{href}?f=json", "type": media_type, "title": "JSON"}
    html_link = {"href": f"{href}?f=html", "type": HTML, "title": "HTML 网页"}
    this, other = (html_link, json_link) if html else (json_link, html_link)
    return [{**this, "rel": "self"}, {**other, "rel": "alternate"}]


def _collection(request: Request, cid: str, bbox: list[float]) -> dict[str, Any]:
    title_zh, title_en = COLLECTIONS[cid]
    base = f"{_root(request)}/collections/{cid}"
    extent: dict[str, Any] = {"spatial": {"bbox": [bbox], "crs": CRS84_URI}}
    if cid != "counties":
        extent["temporal"] = {"interval": [[RECORDS_START, None]], "trs": TRS}
    return {
        "id": cid,
        "title": f"{title_zh} {title_en}",
        "description": title_en,
        "itemType": "feature",
        "crs": list(SUPPORTED_CRS),
        "storageCrs": CRS84_URI,
        "extent": extent,
        "links": [
            *_self_and_alternate(base, JSON, False),
            {"href": f"{base}/items?f=json", "rel": "items", "type": GEOJSON, "title": title_zh},
            {"href": f"{base}/items?f=html", "rel": "items", "type": HTML, "title": title_zh},
            {
                "href": f"{base}/queryables",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "type": "application/schema+json",
                "title": "可查询字段 Queryables",
            },
        ],
    }


TRS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"


@router.get("", summary="OGC API 首页 Landing page")
def landing(request: Request) -> Response:
    strict_query(request, PAGE_PARAMETERS)
    html = _wants_html(request)
    root = _root(request)
    base = public_base(request)
    body = {
        "title": "Rebuild Tracker 灾后重建进度追踪",
        "description": "新乡市灾后重建图层 Xinxiang post-flood reconstruction layers",
        "links": [
            *_self_and_alternate(root, JSON, html),
            {"href": f"{root}/conformance", "rel": "conformance", "type": JSON},
            {"href": f"{root}/collections", "rel": "data", "type": JSON},
            {
                "href": f"{base}/openapi.json",
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
            },
            {"href": f"{base}/docs", "rel": "service-doc", "type": HTML},
        ],
    }
    if html:
        return render("landing", request, body)
    return _json(body)


@router.get("/conformance", summary="符合的标准 Conformance classes")
def conformance(request: Request) -> Response:
    strict_query(request, PAGE_PARAMETERS)
    body = {"conformsTo": CONFORMANCE}
    if _wants_html(request):
        return render("conformance", request, body)
    return _json(body)


@router.get("/collections", summary="数据集列表 Collections")
def collections(request: Request, session: SessionDep) -> Response:
    strict_query(request, PAGE_PARAMETERS)
    html = _wants_html(request)
    bbox = features.area_bbox(session)
    body = {
        "collections": [_collection(request, cid, bbox) for cid in COLLECTIONS],
        "links": _self_and_alternate(f"{_root(request)}/collections", JSON, html),
        "crs": list(SUPPORTED_CRS),
    }
    if html:
        return render("collections", request, body)
    return _json(body)


@router.get("/collections/{collection_id}", summary="数据集 Collection")
def collection(request: Request, session: SessionDep, collection_id: CollectionId) -> Response:
    strict_query(request, PAGE_PARAMETERS)
    _check_collection(collection_id)
    body = _collection(request, collection_id, features.area_bbox(session))
    if _wants_html(request):
        return render("collection", request, body)
    return _json(body)


@router.get(
    "/collections/{collection_id}/queryables",
    summary="可查询字段 Queryables (for filter)",
    response_class=Response,
)
def queryables(request: Request, collection_id: CollectionId) -> Response:
    strict_query(request, PAGE_PARAMETERS)
    _check_collection(collection_id)
    allowed = (
        features.COUNTY_QUERYABLES if collection_id == "counties" else features.ASSET_QUERYABLES
    )
    properties = {}
    for name, q in allowed.items():
        schema: dict[str, Any] = {"title": f"{q.zh} {q.en}"}
        schema.update(
            {"type": "string", "format": "date-time"} if q.type == "timestamp" else {"type": q.type}
        )
        properties[name] = schema
    body = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_root(request)}/collections/{collection_id}/queryables",
        "type": "object",
        "title": f"{COLLECTIONS[collection_id][0]} {COLLECTIONS[collection_id][1]}",
        "properties": properties,
        "additionalProperties": False,
    }
    if _wants_html(request):
        return render("queryables", request, body)
    return _json(body, "application/schema+json")


def _items_query(request: Request, collection_id: str) -> features.ItemQuery:
    """The items request, parsed: every value checked here or in gis/ before any SQL."""
    strict_query(request, items_parameters(collection_id))
    q = request.query_params
    max_limit = request.app.state.settings.ogc_max_limit
    limit = ascii_int(q["limit"], field="limit", low=1, high=max_limit) if "limit" in q else 100
    offset = ascii_int(q["offset"], field="offset", low=0, high=10**9) if "offset" in q else 0
    crs = parse_crs(q["crs"], "crs") if "crs" in q else CRS84_URI
    bbox_crs = parse_crs(q["bbox-crs"], "bbox-crs") if "bbox-crs" in q else CRS84_URI
    county = q.get("county")
    if county is not None and not (len(county) == 6 and county.isascii() and county.isdigit()):
        raise InvalidParameter(
            f"county 应为 6 位县区代码（阿拉伯数字），如 410781；收到 {county[:20]!r}",
            f"county must be a 6-digit adcode in ASCII digits, e.g. 410781; got {county[:20]!r}.",
            field="county",
        )
    if q.get("filter-lang", "cql2-text") != "cql2-text":
        raise InvalidParameter(
            "filter-lang 只支持 cql2-text", "filter-lang: only cql2-text is supported.",
            field="filter-lang",
        )  # fmt: skip
    batch = None
    if "batch" in q:
        batches = ROAD_BATCHES
        batch = ascii_int(q["batch"], field="batch", low=min(batches), high=max(batches))
    return features.ItemQuery(
        limit=limit,
        offset=offset,
        bbox=parse_bbox(q["bbox"], bbox_crs) if "bbox" in q else None,
        county=county,
        kind=q.get("kind"),
        stage=q.get("stage"),
        batch=batch,
        status=q.get("status"),
        observed=parse_datetime(q["datetime"]) if "datetime" in q else None,
        filter=q.get("filter"),
        lat_lon=crs in LAT_LON_CRS,
    )


@router.get(
    "/collections/{collection_id}/items",
    summary="要素 Features (GeoJSON)",
    response_class=Response,
    responses={200: {"model": FeatureCollection, "content": {GEOJSON: {}, HTML: {}}}},
)
def items(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    collection_id: CollectionId,
    bbox: Annotated[
        str | None,
        Query(
            description="minlon,minlat,maxlon,maxlat (CRS84 unless bbox-crs), e.g. "
            "114.0,35.3,114.2,35.5"
        ),
    ] = None,
    bbox_crs: Annotated[
        str | None, Query(alias="bbox-crs", description=f"CRS of bbox: {', '.join(SUPPORTED_CRS)}")
    ] = None,
    crs: Annotated[
        str | None, Query(description=f"CRS of the answer: {', '.join(SUPPORTED_CRS)}")
    ] = None,
    datetime: Annotated[
        str | None,
        Query(
            description="最近核查时间 last observation: an RFC 3339 instant or interval, "
            "e.g. 2022-01-01/.. or 2021-10-01/2022-05-31"
        ),
    ] = None,
    limit: Annotated[str | None, Query(description="page size, 1-10000 (default 100)")] = None,
    offset: Annotated[str | None, Query(description="features to skip (default 0)")] = None,
    county: Annotated[str | None, Query(description="县区代码 county adcode, e.g. 410781")] = None,
    kind: Annotated[
        str | None, Query(description="类别 kind of asset, e.g. general_repair")
    ] = None,
    stage: Annotated[str | None, Query(description="阶段 stage, e.g. started")] = None,
    batch: Annotated[str | None, Query(description="批次 road batch (roads only): 1 or 2")] = None,
    status: Annotated[
        str | None, Query(description="对照节点 status today: done, pending, overdue, none")
    ] = None,
    filter: Annotated[
        str | None,
        Query(description="CQL2 text, e.g. stage='started' AND county_adcode='410781'"),
    ] = None,
    filter_lang: Annotated[str | None, Query(alias="filter-lang")] = None,
    f: Annotated[str | None, Query(description="json (default) or html")] = None,
) -> Response:
    _check_collection(collection_id)
    query = _items_query(request, collection_id)
    html = _wants_html(request)
    if collection_id == "counties":
        page = features.county_page(session, query=query)
    else:
        page = features.asset_page(session, principal=principal, layer=collection_id, query=query)
    links = _page_links(request, collection_id, page, query, html)
    crs_uri = _crs(request)
    if html:
        return render(
            "items",
            request,
            {
                "collection": collection_id,
                "title": COLLECTIONS[collection_id],
                "features": json.loads(page.features_json),
                "numberMatched": page.number_matched,
                "numberReturned": page.number_returned,
                "offset": query.offset,
                "links": links,
            },
        )
    envelope: dict[str, Any] = {"numberReturned": page.number_returned}
    if page.number_matched is not None:
        envelope["numberMatched"] = page.number_matched
    envelope["timeStamp"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    envelope["links"] = links
    tail = json.dumps(envelope, ensure_ascii=False).encode()
    # The features array arrives from PostGIS as JSON: spliced in, never parsed.
    head = b'{"type":"FeatureCollection","features":'
    body = b"".join((head, page.features_json, b",", tail[1:]))
    return Response(body, media_type=GEOJSON, headers={"Content-Crs": f"<{crs_uri}>"})


def _crs(request: Request) -> str:
    value = request.query_params.get("crs")
    return parse_crs(value, "crs") if value else CRS84_URI


def _page_links(
    request: Request,
    collection_id: str,
    page: features.FeaturePage,
    query: features.ItemQuery,
    html: bool,
) -> list[dict[str, str]]:
    base = f"{_root(request)}/collections/{collection_id}/items"
    kept = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset", "f")
    ]

    def href(offset: int, f: str) -> str:
        return f"{base}?{urlencode([*kept, ('limit', query.limit), ('offset', offset), ('f', f)])}"

    this, other = ("html", "json") if html else ("json", "html")
    types = {"json": GEOJSON, "html": HTML}
    links = [
        {"href": href(query.offset, this), "rel": "self", "type": types[this]},
        {"href": href(query.offset, other), "rel": "alternate", "type": types[other]},
        {
            "href": f"{_root(request)}/collections/{collection_id}",
            "rel": "collection",
            "type": JSON,
        },
    ]
    end = query.offset + page.number_returned
    more = (
        end < page.number_matched
        if page.number_matched is not None
        else page.number_returned == query.limit
    )
    if more:
        links.append({"href": href(end, this), "rel": "next", "type": types[this]})
    if query.offset > 0:
        previous = max(query.offset - query.limit, 0)
        links.append({"href": href(previous, this), "rel": "prev", "type": types[this]})
    return links


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="单个要素 One feature",
    response_class=Response,
    responses={
        200: {"model": Feature, "content": {GEOJSON: {}, HTML: {}}},
        304: {"description": "Not modified (If-None-Match matched the asset's version)"},
    },
)
def item(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    collection_id: CollectionId,
    feature_id: str,
    crs: Annotated[
        str | None, Query(description=f"CRS of the answer: {', '.join(SUPPORTED_CRS)}")
    ] = None,
    f: Annotated[str | None, Query(description="json (default) or html")] = None,
) -> Response:
    strict_query(request, ITEM_PARAMETERS)
    _check_collection(collection_id)
    crs_uri = _crs(request)
    html = _wants_html(request)
    lat_lon = crs_uri in LAT_LON_CRS
    headers = {"Content-Crs": f"<{crs_uri}>"}
    if collection_id == "counties":
        if not (len(feature_id) == 6 and feature_id.isascii() and feature_id.isdigit()):
            raise NotFound(
                f"县区代码 {feature_id[:20]!r} 不存在：应为 6 位数字，如 410781",
                f"No county {feature_id[:20]!r}: adcodes are 6 digits, e.g. 410781.",
                field="feature_id",
            )
        body = features.county_feature(session, feature_id, lat_lon=lat_lon)
    else:
        asset_id = parse_id(feature_id, field="feature_id")
        body, version = features.asset_feature(
            session, asset_id, principal=principal, layer=collection_id, lat_lon=lat_lon
        )
        # The body depends on who asks (personal fields): caches keep it per user.
        headers |= {
            "ETag": f'"{version}"',
            "Cache-Control": "private, no-cache",
            "Vary": "Authorization, Cookie",
        }
        if etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)
    if html:
        page = render(
            "item",
            request,
            {"collection": collection_id, "title": COLLECTIONS[collection_id],
             "feature": json.loads(body)},
        )  # fmt: skip
        page.headers.update(headers)
        return page
    return Response(body, media_type=GEOJSON, headers=headers)
