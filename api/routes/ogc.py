"""OGC API - Features (Part 1, core + GeoJSON) under /ogc, so QGIS and GDAL open the layers.

The feature JSON is built in PostGIS (gis/queries/features.py); this module only adds the
envelope and the links.
"""

import datetime as dt
import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response

from api.deps import SessionDep
from api.schemas.geojson import FeatureCollection
from api.security import CurrentPrincipal, OpenReadRoute
from gis.crs import CRS84_URI
from gis.errors import NotFound
from gis.queries import features
from gis.vocab import LAYERS

router = APIRouter(prefix="/ogc", tags=["OGC API Features"], route_class=OpenReadRoute)

GEOJSON = "application/geo+json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
COLLECTIONS: dict[str, tuple[str, str]] = {
    "counties": (
        "县区边界",
        "County boundaries of Xinxiang (for tracking, not an official survey)",
    ),
    **{key: (layer.zh, layer.en) for key, layer in LAYERS.items()},
}

CollectionId = Annotated[str, Path(description="counties, houses, water_works or roads")]
CountyFilter = Annotated[
    str | None,
    Query(pattern=r"^\d{6}$", description="县区代码 county adcode, e.g. 410781 (卫辉市)"),
]
Limit = Annotated[int, Query(ge=1, le=10_000, description="page size (1-10000)")]
Offset = Annotated[int, Query(ge=0, description="features to skip")]


def _json(body: dict, media_type: str = "application/json") -> Response:
    return Response(json.dumps(body, ensure_ascii=False), media_type=media_type)


def _collection(request: Request, cid: str, bbox: list[float]) -> dict:
    title_zh, title_en = COLLECTIONS[cid]
    base = str(request.url_for("collection", collection_id=cid))
    return {
        "id": cid,
        "title": f"{title_zh} {title_en}",
        "description": title_en,
        "itemType": "feature",
        "crs": [CRS84_URI],
        "extent": {"spatial": {"bbox": [bbox], "crs": CRS84_URI}},
        "links": [
            {"href": base, "rel": "self", "type": "application/json"},
            {"href": f"{base}/items", "rel": "items", "type": GEOJSON, "title": title_zh},
        ],
    }


def _check_collection(cid: str) -> None:
    if cid not in COLLECTIONS:
        raise NotFound(
            f"数据集 {cid} 不存在，可选：{'、'.join(COLLECTIONS)}",
            f"No collection {cid!r}; use one of {', '.join(COLLECTIONS)}.",
            field="collection_id",
        )


@router.get("", summary="OGC API 首页 Landing page")
def landing(request: Request) -> Response:
    root = str(request.url_for("landing"))
    return _json(
        {
            "title": "Rebuild Tracker 灾后重建进度追踪",
            "description": "新乡市灾后重建图层 Xinxiang post-flood reconstruction layers",
            "links": [
                {"href": root, "rel": "self", "type": "application/json"},
                {"href": f"{root}/conformance", "rel": "conformance", "type": "application/json"},
                {"href": f"{root}/collections", "rel": "data", "type": "application/json"},
                {
                    "href": str(request.url_for("openapi")),
                    "rel": "service-desc",
                    "type": "application/vnd.oai.openapi+json;version=3.0",
                },
                {
                    "href": str(request.url_for("docs")),
                    "rel": "service-doc",
                    "type": "text/html",
                },
            ],
        }
    )


@router.get("/conformance", summary="符合的标准 Conformance classes")
def conformance() -> Response:
    return _json({"conformsTo": CONFORMANCE})


@router.get("/collections", summary="数据集列表 Collections")
def collections(request: Request, session: SessionDep) -> Response:
    bbox = features.area_bbox(session)
    return _json(
        {
            "collections": [_collection(request, cid, bbox) for cid in COLLECTIONS],
            "links": [
                {
                    "href": str(request.url_for("collections")),
                    "rel": "self",
                    "type": "application/json",
                }
            ],
        }
    )


@router.get("/collections/{collection_id}", summary="数据集 Collection")
def collection(request: Request, session: SessionDep, collection_id: CollectionId) -> Response:
    _check_collection(collection_id)
    return _json(_collection(request, collection_id, features.area_bbox(session)))


@router.get(
    "/collections/{collection_id}/items",
    summary="要素 Features (GeoJSON)",
    response_class=Response,
    responses={200: {"model": FeatureCollection, "content": {GEOJSON: {}}}},
)
def items(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    collection_id: CollectionId,
    county: CountyFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    _check_collection(collection_id)
    if collection_id == "counties":
        page = features.county_page(session, county=county, limit=limit, offset=offset)
    else:
        page = features.asset_page(
            session,
            principal=principal,
            layer=collection_id,
            county=county,
            limit=limit,
            offset=offset,
        )
    links = _page_links(request, page, limit=limit, offset=offset)
    envelope = json.dumps(
        {
            "numberMatched": page.number_matched,
            "numberReturned": page.number_returned,
            "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "links": links,
        },
        ensure_ascii=False,
    )
    # The features array arrives from PostGIS as JSON text: splice it in instead of parsing it.
    body = f'{{"type":"FeatureCollection","features":{page.features_json},{envelope[1:]}'
    return Response(body, media_type=GEOJSON)


def _page_links(request: Request, page: features.FeaturePage, *, limit: int, offset: int):
    base = str(request.url.remove_query_params(["limit", "offset"]).replace(query=""))
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset")]

    def href(off: int) -> str:
        return f"{base}?{urlencode([*kept, ('limit', limit), ('offset', off)])}"

    links = [{"href": href(offset), "rel": "self", "type": GEOJSON}]
    if offset + page.number_returned < page.number_matched:
        links.append({"href": href(offset + limit), "rel": "next", "type": GEOJSON})
    if offset > 0:
        links.append({"href": href(max(offset - limit, 0)), "rel": "prev", "type": GEOJSON})
    return links


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="单个要素 One feature",
    response_class=Response,
)
def item(
    session: SessionDep, principal: CurrentPrincipal, collection_id: CollectionId, feature_id: str
) -> Response:
    _check_collection(collection_id)
    if collection_id == "counties":
        body = features.county_feature(session, feature_id)
    else:
        if not feature_id.isdigit():
            raise NotFound(
                f"要素编号 {feature_id} 无效：应为数字编号",
                f"Feature id {feature_id!r} must be a number (the asset id).",
                field="feature_id",
            )
        body, _ = features.asset_feature(
            session, int(feature_id), principal=principal, layer=collection_id
        )
    return Response(body, media_type=GEOJSON)
