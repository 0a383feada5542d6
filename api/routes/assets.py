"""Assets: find them (near a point, or by code / village), and one with its current state;
its version is the ETag that reports must send back in If-Match."""

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response

from api.deps import SessionDep
from api.http import etag_matches
from api.params import parse_id, strict_query
from api.schemas.geojson import Feature, FeatureCollection
from api.security import CurrentPrincipal, OpenReadRoute
from gis import crs
from gis.errors import InvalidInput
from gis.queries import features
from gis.vocab import LAYERS

router = APIRouter(prefix="/assets", tags=["assets"], route_class=OpenReadRoute)

# A string, parsed by parse_id: a non-numeric id names no asset (404, as under /ogc).
AssetId = Annotated[str, Path(description="项目编号 asset id (a positive whole number)")]
FIND_PARAMETERS = ("near", "crs", "radius_m", "q", "layer", "limit")
GEOJSON = "application/geo+json"


def etag(version: int) -> str:
    return f'"{version}"'


def _point(near: str, crs_name: str) -> tuple[float, float]:
    try:
        lon, lat = (float(v) for v in near.split(","))
    except ValueError:
        raise InvalidInput(
            f"near 参数 {near!r} 无效：应为“经度,纬度”，如 114.07,35.40",
            f"near {near!r} must be 'lon,lat', e.g. 114.07,35.40.",
            field="near",
        ) from None
    return crs.to_storage(lon, lat, crs.normalise_crs(crs_name))


@router.get(
    "",
    summary="查找项目 Find assets near a point or by code / village",
    response_class=Response,
    responses={200: {"model": FeatureCollection, "content": {GEOJSON: {}}}},
)
def find(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    near: Annotated[str | None, Query(max_length=60, description="lon,lat — nearest first")] = None,
    crs_name: Annotated[
        str, Query(alias="crs", max_length=40, description="CRS of near: EPSG:4326, GCJ-02…")
    ] = "EPSG:4326",
    radius_m: Annotated[float, Query(gt=0, le=50_000)] = 3000,
    q: Annotated[
        str | None, Query(min_length=1, max_length=60, description="code prefix, village, name")
    ] = None,
    layer: Annotated[Literal["houses", "water_works", "roads"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 30,
) -> Response:
    strict_query(request, FIND_PARAMETERS)
    if near is None and q is None:
        raise InvalidInput(
            "请给出 near（经度,纬度）或 q（代码、村名或项目名称）",
            "Give near=lon,lat or q=<code, village or name>.",
            field="q",
        )
    body = features.find_assets(
        session,
        principal=principal,
        near=_point(near, crs_name) if near is not None else None,
        radius_m=radius_m,
        query=q.strip() if q else None,
        layer=layer if layer in LAYERS else None,
        limit=limit,
    )
    return Response(body, media_type=GEOJSON)


@router.get(
    "/{asset_id}",
    summary="单个项目及当前进度 One asset and its current state",
    response_class=Response,
    responses={
        200: {"model": Feature, "content": {GEOJSON: {}}},
        304: {"description": "Not modified (If-None-Match matched the current version)"},
        404: {"description": "No such asset"},
    },
)
def get_asset(
    session: SessionDep,
    principal: CurrentPrincipal,
    asset_id: AssetId,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    body, version = features.asset_feature(
        session, parse_id(asset_id, field="asset_id"), principal=principal
    )
    tag = etag(version)
    # The body depends on who asks (personal fields), so caches must keep it per user.
    headers = {"ETag": tag, "Cache-Control": "private, no-cache", "Vary": "Authorization, Cookie"}
    if etag_matches(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=GEOJSON, headers=headers)
