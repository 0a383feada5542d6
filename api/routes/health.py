"""Liveness and readiness: /healthz checks the database, not just the process."""

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import SessionDep
from api.security import PublicRoute
from gis.health import database_health

router = APIRouter(tags=["health"], route_class=PublicRoute)


class HealthPublic(BaseModel):
    status: str
    postgres: str
    postgis: str
    schema_revision: str | None
    counties: int


@router.get("/healthz", summary="服务与数据库状态 Service and database health")
def healthz(session: SessionDep) -> HealthPublic:
    info = database_health(session)
    return HealthPublic(
        status="ok",
        postgres=str(info["postgres"]),
        postgis=str(info["postgis"]),
        schema_revision=info["schema"],
        counties=int(info["counties"] or 0),
    )
