"""Exports for county offices and GIS: the progress workbook, CSV and zip (gis/exports.py) and
the layers with their state on a day (gis/layer_exports.py), for the reader's counties, with
householders' personal data only for those allowed to see it."""

import datetime as dt
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse

from api.deps import Download, DownloadDep, SessionDep
from api.http import answers_head
from api.params import County, Day
from api.security import CurrentPrincipal
from gis import exports, layer_exports

router = APIRouter(prefix="/exports", tags=["exports"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GPKG = "application/geopackage+sqlite3"
GEOJSON = "application/geo+json"

LayerName = Annotated[str, PathParam(pattern="^(houses|water_works|roads)$")]


def _headers(filename: str, filename_zh: str | None = None) -> dict[str, str]:
    """An attachment; the Chinese name for browsers that read RFC 6266, ASCII for the rest."""
    disposition = f'attachment; filename="{filename}"'
    if filename_zh:
        disposition += f"; filename*=UTF-8''{quote(filename_zh)}"
    return {"Content-Disposition": disposition, "Cache-Control": "private, no-store"}


def _download(body: bytes, media_type: str, filename: str, filename_zh: str | None = None):
    return Response(body, media_type=media_type, headers=_headers(filename, filename_zh))


def _layer_file(
    request: Request,
    chunks: Iterator[bytes],
    media_type: str,
    layer: str,
    day: dt.date,
    county: str | None,
) -> StreamingResponse:
    """A layer streamed as it is read: every check passed before the first chunk. A HEAD gets
    the same headers without the layer being read at all (its body would be thrown away)."""
    suffix = "gpkg" if media_type == GPKG else "geojson"
    filename = f"rebuild-{layer}-{county or 'city'}-{day}.{suffix}"
    body = iter(()) if answers_head(request) else chunks
    return StreamingResponse(body, media_type=media_type, headers=_headers(filename))


def _names(day: dt.date, county: str | None, suffix: str) -> tuple[str, str]:
    return (
        f"rebuild-progress-{county or 'city'}-{day}.{suffix}",
        f"新乡市灾后重建进度_{county or '全市'}_{day}.{suffix}",
    )


@router.get(
    "/progress.xlsx",
    summary="进度表（Excel）The progress workbook",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
)
def progress_xlsx(
    session: SessionDep, principal: CurrentPrincipal, day: Day, county: County = None
) -> Response:
    body = exports.progress_workbook(session, principal=principal, as_of=day, county=county)
    return _download(body, XLSX, *_names(day, county, "xlsx"))


@router.get(
    "/progress.csv",
    summary="进度汇总（CSV，UTF-8 带 BOM）The progress summary as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def progress_csv(
    session: SessionDep, principal: CurrentPrincipal, day: Day, county: County = None
) -> Response:
    body = exports.progress_csv(session, principal=principal, as_of=day, county=county)
    return _download(body, "text/csv; charset=utf-8", *_names(day, county, "csv"))


@router.get(
    "/progress.zip",
    summary="各县区进度表（每县一个 Excel）One workbook per county, zipped",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def progress_zip(session: SessionDep, principal: CurrentPrincipal, day: Day) -> Response:
    body = exports.progress_zip(session, principal=principal, as_of=day)
    return _download(body, "application/zip", f"rebuild-progress-counties-{day}.zip")


# Pieces of a finished GeoPackage as they are read from disk.
FILE_PIECE = 1 << 20


@router.get(
    "/{layer}.gpkg",
    summary="图层（GeoPackage，QGIS）A layer with its state on a day",
    response_class=StreamingResponse,
    responses={200: {"content": {GPKG: {}}}},
)
def layer_gpkg(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    layer: LayerName,
    day: Day,
    download: DownloadDep,
    county: County = None,
) -> StreamingResponse:
    export = layer_exports.check_export(
        session, principal=principal, layer=layer, as_of=day, county=county
    )
    chunks = download.stream(_geopackage(download, export))
    return _layer_file(request, chunks, GPKG, layer, day, county)


def _geopackage(download: Download, export: layer_exports.LayerExport) -> Generator[bytes]:
    """The GeoPackage written to a temporary file (it is sent once whole), then the file."""
    with tempfile.TemporaryDirectory(prefix="rebuild-export-") as folder:
        path = Path(folder) / f"{export.layer}.gpkg"
        layer_exports.write_geopackage(download.snapshot(), export, path)
        download.end_snapshot()  # the file holds what it read
        with path.open("rb") as file:
            while piece := file.read(FILE_PIECE):
                yield piece


@router.get(
    "/{layer}.geojson",
    summary="图层（GeoJSON）A layer with its state on a day",
    response_class=StreamingResponse,
    responses={200: {"content": {GEOJSON: {}}}},
)
def layer_geojson(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    layer: LayerName,
    day: Day,
    download: DownloadDep,
    county: County = None,
) -> StreamingResponse:
    export = layer_exports.check_export(
        session, principal=principal, layer=layer, as_of=day, county=county
    )
    chunks = download.stream(_geojson(download, export))
    return _layer_file(request, chunks, GEOJSON, layer, day, county)


def _geojson(download: Download, export: layer_exports.LayerExport) -> Generator[bytes]:
    """The FeatureCollection as PostGIS writes it, chunk by chunk."""
    yield from layer_exports.geojson_chunks(download.snapshot(), export)
