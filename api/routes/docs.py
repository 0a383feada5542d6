"""API documentation served entirely from this app: Swagger UI comes from npm, not a CDN,
so /docs works on an intranet without internet."""

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from api.security import PublicRoute

router = APIRouter(include_in_schema=False, route_class=PublicRoute)

SWAGGER = "/vendor/swagger-ui-dist"


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title="接口文档 API — Rebuild Tracker",
        swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
    )
