"""One asset with its current state; its version is the ETag (later: If-Match on reports)."""

from typing import Annotated

from fastapi import APIRouter, Header, Path, Response

from api.deps import SessionDep
from api.schemas.geojson import Feature
from gis.queries import features

router = APIRouter(prefix="/assets", tags=["assets"])

AssetId = Annotated[int, Path(ge=1, description="项目编号 asset id")]


def etag(version: int) -> str:
    return f'"{version}"'


@router.get(
    "/{asset_id}",
    summary="单个项目及当前进度 One asset and its current state",
    response_class=Response,
    responses={
        200: {"model": Feature, "content": {"application/geo+json": {}}},
        304: {"description": "Not modified (If-None-Match matched the current version)"},
        404: {"description": "No such asset"},
    },
)
def get_asset(
    session: SessionDep,
    asset_id: AssetId,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    body, version = features.asset_feature(session, asset_id)
    tag = etag(version)
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if if_none_match and tag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/geo+json", headers=headers)
