"""How assets and counties look: one table, used by the inline layers (Folium, in Python) and by
the vector tile layer (in the browser, from the configuration ``MapConfig`` writes).

Colour says the asset's standing against its deadlines (``gis.asset_status``); the fill says how
far its stage has come (pale: not started, solid: accepted); overdue assets are larger, ringed
in dark red and drawn on top. Lines (levees, roads) are dashed until work starts.
"""

from typing import Any

from gis.asset_status import ASSET_STATUS_COLOUR, ASSET_STATUSES
from gis.progress import STATUS_COLOUR
from gis.vocab import STAGE_ORDER, STAGES

GEOMETRY_KINDS = ("point", "line", "polygon")
OVERDUE_RING = "#67000d"
NO_ASSETS_COLOUR = "#eeeeee"  # a county with nothing in scope of the rule
COUNTY_OUTLINE = "#4d4d4d"


def stage_fill(stage: str) -> float:
    """Fill opacity by stage: 0.15 not started ... 0.95 accepted."""
    return round(0.15 + 0.2 * STAGE_ORDER[stage], 2)


def asset_style(status: str, stage: str, kind: str) -> dict[str, Any]:
    """Leaflet path options for an asset with this status, stage and geometry kind."""
    colour = ASSET_STATUS_COLOUR[status]
    overdue = status == "overdue"
    if kind == "line":
        style: dict[str, Any] = {"color": colour, "weight": 5 if overdue else 3, "opacity": 0.9}
        if stage == "not_started":
            style["dashArray"] = "6,4"
        return style
    return {
        "fill": True,  # Folium's CircleMarker defaults to no fill, which is also not clickable
        "color": OVERDUE_RING if overdue else colour,
        "weight": 3 if overdue else 1.5,
        "fillColor": colour,
        "fillOpacity": stage_fill(stage),
        "radius": 7 if overdue else 5,
    }


# status -> stage -> geometry kind -> options: what the browser's tile layer looks up.
STYLE_TABLE = {
    status: {
        stage.key: {kind: asset_style(status, stage.key, kind) for kind in GEOMETRY_KINDS}
        for stage in STAGES
    }
    for status in ASSET_STATUSES
}


def feature_style(feature: dict[str, Any]) -> dict[str, Any]:
    """Folium ``style_function`` of an asset feature (GeoJSON, properties as in the tiles)."""
    kind = {"Point": "point", "MultiPoint": "point", "LineString": "line"}.get(
        feature["geometry"]["type"], "line" if "Line" in feature["geometry"]["type"] else "polygon"
    )
    properties = feature["properties"]
    return asset_style(properties["status"], properties["stage"], kind)


def county_style(feature: dict[str, Any]) -> dict[str, Any]:
    """Folium ``style_function`` of a county on the overview: filled by its status."""
    status = feature["properties"].get("status")
    return {
        "color": COUNTY_OUTLINE,
        "weight": 1.5,
        "fillColor": STATUS_COLOUR.get(status, NO_ASSETS_COLOUR),
        "fillOpacity": 0.85,
    }


def boundary_style(feature: dict[str, Any]) -> dict[str, Any]:
    """The county boundaries drawn under a layer map (the base when there is no basemap)."""
    return {"color": COUNTY_OUTLINE, "weight": 1.2, "fillColor": "#ffffff", "fillOpacity": 0.4}
