"""Photo evidence: uploaded before the report that carries it, idempotent by content hash."""

from typing import Annotated

from fastapi import APIRouter, File, Path, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from api.deps import SessionDep
from api.security import CurrentPrincipal
from gis import media

router = APIRouter(tags=["photos"])

PhotoId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the photo")]


@router.post(
    "/photos",
    status_code=201,
    summary="上传照片 Upload a photo (JPEG or PNG)",
    responses={200: {"description": "Already uploaded (same content): nothing changed"}},
)
def upload_photo(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="JPEG or PNG, checked by content")],
) -> JSONResponse:
    settings = request.app.state.settings
    limit = int(settings.photo_max_mb * 1_000_000)
    data = file.file.read(limit + 1)  # one byte more than allowed is enough to refuse it
    body, created = media.save_photo(
        session, principal=principal, data=data, media_dir=settings.photos_dir, max_bytes=limit
    )
    return JSONResponse(body, status_code=201 if created else 200)


def _serve(request: Request, session, principal, photo_id: str, thumbnail: bool) -> FileResponse:
    path, content_type = media.photo_file(
        session,
        principal=principal,
        photo_id=photo_id,
        media_dir=request.app.state.settings.photos_dir,
        thumbnail=thumbnail,
    )
    # Content-addressed: the bytes behind an id never change; private: only for this user.
    return FileResponse(
        path,
        media_type=content_type,
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )


@router.get("/photos/{photo_id}", summary="照片原图 A photo", response_class=FileResponse)
def photo(
    request: Request, session: SessionDep, principal: CurrentPrincipal, photo_id: PhotoId
) -> FileResponse:
    return _serve(request, session, principal, photo_id, thumbnail=False)


@router.get(
    "/photos/{photo_id}/thumbnail",
    summary="照片缩略图 A photo's thumbnail",
    response_class=FileResponse,
)
def thumbnail(
    request: Request, session: SessionDep, principal: CurrentPrincipal, photo_id: PhotoId
) -> FileResponse:
    return _serve(request, session, principal, photo_id, thumbnail=True)
