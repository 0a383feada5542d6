"""Uploading a county's inventory: the same import as `rebuild import`, for administrators and
for county managers (rows of their own counties only)."""

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse, Response

from api.deps import SessionDep
from api.security import CurrentPrincipal
from gis.imports import ImportOptions, ImportRejected, import_inventory
from gis.imports.read import unpack
from gis.imports.report import write_report

router = APIRouter(tags=["imports"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.post(
    "/imports",
    summary="导入台账 Import an inventory (GeoPackage, Shapefile as .zip, GeoJSON, KML, CSV, XLSX)",
    responses={
        200: {"description": "The summary (JSON), or the report workbook with report=xlsx"},
        422: {"description": "Bad rows: nothing stored; the problems, row by row"},
    },
)
def upload_inventory(
    session: SessionDep,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="the inventory; a Shapefile as a .zip")],
    layer: Annotated[Literal["houses", "water_works", "roads"], Form()],
    mode: Annotated[Literal["create", "update"], Form()] = "create",
    crs: Annotated[str | None, Form(description="WGS84, GCJ-02, BD-09, EPSG:4547 ...")] = None,
    encoding: Annotated[str | None, Form()] = None,
    header_row: Annotated[
        int | None,
        Form(description="Excel and CSV: the header's row, from 1 as Excel numbers rows"),
    ] = None,
    sheet: Annotated[str | None, Form(description="Excel sheet or GeoPackage layer")] = None,
    mapping: Annotated[UploadFile | None, File(description="a mapping file (TOML)")] = None,
    skip_invalid: Annotated[bool, Form()] = False,
    dry_run: Annotated[bool, Form()] = False,
    observed_at: Annotated[dt.datetime | None, Form()] = None,
    report: Annotated[Literal["json", "xlsx"], Query()] = "json",
) -> Response:
    with tempfile.TemporaryDirectory() as folder:
        path = _unpacked(file, Path(folder))
        mapping_path = None
        if mapping is not None and mapping.filename:
            mapping_path = Path(folder) / "mapping.toml"
            mapping_path.write_bytes(mapping.file.read())
        options = ImportOptions(
            mode=mode, crs=crs, encoding=encoding, header_row=header_row, sheet=sheet,
            mapping=mapping_path, skip_invalid=skip_invalid, dry_run=dry_run,
            observed_at=observed_at,
        )  # fmt: skip
        try:
            summary = import_inventory(
                session, path=path, layer=layer, options=options, principal=principal,
                name=file.filename,
            )  # fmt: skip
        except ImportRejected as exc:
            if report != "xlsx":
                raise
            return _workbook(exc.summary, Path(folder), status=422)
        if report == "xlsx":
            return _workbook(summary, Path(folder), status=200)
    return JSONResponse(summary.as_dict())


def _unpacked(upload: UploadFile, folder: Path) -> Path:
    """The upload on disk under its own name; a .zip (a Shapefile's parts) is unpacked and its
    .shp (or single file) returned."""
    name = Path(upload.filename or "upload").name
    path = folder / name
    path.write_bytes(upload.file.read())
    return unpack(path) if path.suffix.lower() == ".zip" else path


def _workbook(summary, folder: Path, *, status: int) -> Response:
    path = folder / "report.xlsx"
    write_report(summary, path)
    return Response(
        path.read_bytes(),
        status_code=status,
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="import-report.xlsx"'},
    )
