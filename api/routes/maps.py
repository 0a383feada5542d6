"""The map pages (gis/maps): the overview of counties and the layer maps, for the reader's
counties. Folium pages whose scripts and styles are the app's own (works on an intranet)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep
from api.params import County, Day
from api.security import CurrentPrincipal
from gis import maps

router = APIRouter(tags=["maps"], include_in_schema=False)

Lang = Annotated[str, Query(pattern="^(zh|en)$", description="zh (default) or en")]
Word = Annotated[str | None, Query(max_length=40)]  # checked against the vocabulary in gis/


def _look(request: Request, lang: str) -> maps.Look:
    settings = request.app.state.settings
    return maps.Look(
        lang=lang,
        basemap_url=settings.basemap_url,
        basemap_attribution=settings.basemap_attribution,
    )


def _page(m) -> HTMLResponse:
    return HTMLResponse(maps.render(m), headers={"Cache-Control": "private, no-store"})


@router.get("/maps/overview", response_class=HTMLResponse)
def overview(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    day: Day,
    layer: Word = None,
    rule: Word = None,
    lang: Lang = "zh",
) -> HTMLResponse:
    m = maps.overview_map(
        session, principal=principal, as_of=day, layer=layer, rule=rule, look=_look(request, lang)
    )
    return _page(m)


@router.get("/maps/{layer}", response_class=HTMLResponse)
def layer_map(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    layer: str,
    day: Day,
    county: County = None,
    kind: Word = None,
    stage: Word = None,
    status: Word = None,
    lang: Lang = "zh",
) -> HTMLResponse:
    flt = maps.AssetFilter(layer, day, county=county, kind=kind, stage=stage, status=status)
    return _page(maps.layer_map(session, principal=principal, flt=flt, look=_look(request, lang)))
