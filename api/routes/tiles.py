"""Vector tiles of the layers (gis/tiles.py) as of a day, for the reader's counties."""

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from api.deps import SessionDep
from api.http import etag_matches
from api.params import County, Day
from api.security import CurrentPrincipal
from gis.tiles import TileRequest, tile

router = APIRouter(tags=["tiles"])

MVT = "application/vnd.mapbox-vector-tile"
# Private: a tile depends on the reader's counties. Short: reports move the map all day.
CACHE_CONTROL = "private, max-age=60"
Choice = Annotated[str | None, Query(max_length=40)]


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.pbf",
    summary="矢量瓦片 Mapbox vector tile of a layer (EPSG:3857 XYZ)",
    response_class=Response,
    responses={
        200: {"content": {MVT: {}}, "description": "The tile"},
        204: {"description": "Nothing in this tile"},
        304: {"description": "Not modified (If-None-Match matched)"},
    },
)
def vector_tile(
    session: SessionDep,
    principal: CurrentPrincipal,
    layer: str,
    z: int,
    x: int,
    y: int,
    day: Day,
    county: County = None,
    kind: Choice = None,
    stage: Choice = None,
    status: Choice = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    request = TileRequest(layer, z, x, y, day, county, kind, stage, status)
    body = tile(session, principal=principal, request=request)
    headers = {"Cache-Control": CACHE_CONTROL, "Vary": "Authorization, Cookie"}
    if not body:
        return Response(status_code=204, headers=headers)
    scope = ",".join(sorted(principal.counties)) if principal.counties is not None else "city"
    digest = hashlib.sha256(body + b"\0" + scope.encode()).hexdigest()[:32]
    headers["ETag"] = f'"{digest}"'
    if etag_matches(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MVT, headers=headers)
