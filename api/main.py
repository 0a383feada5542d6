"""The FastAPI application: ``create_app(settings)``; ``app`` for ``uvicorn api.main:app``."""

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from starlette.middleware.gzip import GZipMiddleware

from api import errors
from api.deps import database_slots, download_slots
from api.http import HeadAsGet, PublicFiles, TrustedHosts
from api.limits import BodyLimit
from api.routes import (
    assets,
    auth,
    deadlines,
    docs,
    exports,
    health,
    imports,
    inspect,
    maps,
    ogc,
    pages,
    photos,
    progress,
    reports,
    tiles,
)
from api.security import BasicCache, LoginThrottle, guard
from gis import db
from gis.evidence import read_rules
from gis.reports import FieldRules
from gis.settings import Settings

GZIP_LEVEL = 4
STATIC = Path(__file__).resolve().parents[1] / "web" / "static"

DESCRIPTION = """
灾后重建进度追踪 — 新乡市水毁农房、水利设施、农村公路重建进度与汛期前节点。

Post-flood reconstruction tracker for Xinxiang: damaged rural houses, water works and rural
roads, with their repair progress against the city's flood-season deadlines. Layers are served
as OGC API Features under `/ogc` (open them in QGIS or GDAL).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Connect only: installing packages or starting the local cluster is the CLI's job.
        engine = db.make_engine(db.served_url(settings))
        app.state.engine = engine
        app.state.sessions = db.session_factory(engine)
        app.state.database_slots = database_slots()
        app.state.download_slots = download_slots()
        yield
        engine.dispose()

    app = FastAPI(
        title="Rebuild Tracker 灾后重建进度追踪",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by api/routes/docs.py from local files, not a CDN
        redoc_url=None,
        # Closed by default: every route needs a login unless its router says otherwise
        # (api/security.py). Static files are mounted apps and stay public.
        dependencies=[Depends(guard)],
    )
    app.state.settings = settings
    app.state.basic_cache = BasicCache()
    app.state.login_throttle = LoginThrottle()
    app.state.field_rules = FieldRules(
        evidence=read_rules(settings.evidence_file),
        max_distance_m=settings.report_max_distance_m,
    )
    errors.install(app)
    app.add_middleware(
        BodyLimit,
        default=settings.body_max_mb_int,
        photos=int(settings.photo_max_mb * 1_000_000) + 100_000,  # multipart framing
    )
    # Compressed when asked (Accept-Encoding: gzip); level 4 gives most of level 9's saving on
    # GeoJSON at a fraction of its cost (see README, Measurements). Photos are left alone.
    app.add_middleware(GZipMiddleware, minimum_size=1400, compresslevel=GZIP_LEVEL)
    app.add_middleware(HeadAsGet)
    app.add_middleware(TrustedHosts, allowed=settings.allowed_hosts)
    for router in (
        health.router,
        auth.router,
        auth.me_router,
        ogc.router,
        assets.router,
        reports.router,
        progress.router,
        tiles.router,
        deadlines.router,
        exports.router,
        photos.router,
        imports.router,
        inspect.router,
        maps.router,
        pages.router,
        docs.router,
    ):
        app.include_router(router)
    # check_dir=False: a missing node_modules gives 404s on /vendor, not a crash at start-up;
    # `make run` and `make test` always install it.
    app.mount("/vendor", PublicFiles(directory=settings.vendor_dir, check_dir=False), "vendor")
    app.mount("/static", PublicFiles(directory=STATIC, check_dir=False), "static")
    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn api.main:app` builds the app on first access, not at import time, so that
    # importing this module (tests, the CLI) never touches the database.
    if name == "app":
        return create_app()
    raise AttributeError(name)
