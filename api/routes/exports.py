"""Exports for county offices: the progress workbook (gis/exports.py), for the reader's
counties, with householders' personal data only for those allowed to see it."""

import datetime as dt
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response

from api.deps import SessionDep
from api.security import CurrentPrincipal
from gis import exports, layer_exports
from gis.progress import CHINA

router = APIRouter(prefix="/exports", tags=["exports"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/progress.xlsx",
    summary="进度表（Excel）The progress workbook",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
)
def progress_xlsx(
    session: SessionDep,
    principal: CurrentPrincipal,
    as_of: Annotated[dt.date | None, Query(description="YYYY-MM-DD (default: today)")] = None,
    county: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
) -> Response:
    day = as_of or dt.datetime.now(CHINA).date()
    body = exports.progress_workbook(session, principal=principal, as_of=day, county=county)
    name = f"新乡市灾后重建进度_{county or '全市'}_{day}.xlsx"
    ascii_name = f"rebuild-progress-{county or 'city'}-{day}.xlsx"
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return Response(
        body,
        media_type=XLSX,
        headers={"Content-Disposition": disposition, "Cache-Control": "private, no-store"},
    )


@router.get(
    "/progress.csv",
    summary="进度汇总（CSV，UTF-8 带 BOM）The progress summary as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def progress_csv(
    session: SessionDep,
    principal: CurrentPrincipal,
    as_of: Annotated[dt.date | None, Query(description="YYYY-MM-DD (default: today)")] = None,
    county: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
) -> Response:
    day = as_of or dt.datetime.now(CHINA).date()
    body = exports.progress_csv(session, principal=principal, as_of=day, county=county)
    name = f"新乡市灾后重建进度_{county or '全市'}_{day}.csv"
    ascii_name = f"rebuild-progress-{county or 'city'}-{day}.csv"
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": disposition, "Cache-Control": "private, no-store"},
    )


@router.get(
    "/progress.zip",
    summary="各县区进度表（每县一个 Excel）One workbook per county, zipped",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def progress_zip(
    session: SessionDep,
    principal: CurrentPrincipal,
    as_of: Annotated[dt.date | None, Query(description="YYYY-MM-DD (default: today)")] = None,
) -> Response:
    day = as_of or dt.datetime.now(CHINA).date()
    body = exports.progress_zip(session, principal=principal, as_of=day)
    return Response(
        body,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="rebuild-progress-counties-{day}.zip"',
            "Cache-Control": "private, no-store",
        },
    )


LayerName = Annotated[str, Path(pattern="^(houses|water_works|roads)$")]


def _layer(session, principal, layer, as_of, county):
    day = as_of or dt.datetime.now(CHINA).date()
    frame = layer_exports.layer_frame(
        session, principal=principal, layer=layer, as_of=day, county=county
    )
    return frame, f"rebuild-{layer}-{county or 'city'}-{day}"


@router.get(
    "/{layer}.gpkg",
    summary="图层（GeoPackage，QGIS）A layer with its state on a day",
    response_class=Response,
    responses={200: {"content": {"application/geopackage+sqlite3": {}}}},
)
def layer_gpkg(
    session: SessionDep,
    principal: CurrentPrincipal,
    layer: LayerName,
    as_of: Annotated[dt.date | None, Query(description="YYYY-MM-DD (default: today)")] = None,
    county: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
) -> Response:
    frame, name = _layer(session, principal, layer, as_of, county)
    return Response(
        layer_exports.geopackage(frame, layer),
        media_type="application/geopackage+sqlite3",
        headers={"Content-Disposition": f'attachment; filename="{name}.gpkg"'},
    )


@router.get(
    "/{layer}.geojson",
    summary="图层（GeoJSON）A layer with its state on a day",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def layer_geojson(
    session: SessionDep,
    principal: CurrentPrincipal,
    layer: LayerName,
    as_of: Annotated[dt.date | None, Query(description="YYYY-MM-DD (default: today)")] = None,
    county: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
) -> Response:
    frame, name = _layer(session, principal, layer, as_of, county)
    return Response(
        layer_exports.geojson(frame),
        media_type="application/geo+json",
        headers={"Content-Disposition": f'attachment; filename="{name}.geojson"'},
    )
