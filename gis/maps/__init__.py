"""Maps of repair progress (Folium): the overview of counties, the layer maps, and the
standalone file of ``rebuild map``. Every script and stylesheet is the app's own (no CDN)."""

from pathlib import Path

import folium

from gis.maps.assets import STATIC_DIR, inline_assets
from gis.maps.build import Look, layer_map, month_steps, overview_map
from gis.maps.data import INLINE_MAX, AssetFilter

__all__ = [
    "INLINE_MAX",
    "STATIC_DIR",
    "AssetFilter",
    "Look",
    "layer_map",
    "month_steps",
    "overview_map",
    "render",
    "standalone",
]


def render(m: folium.Map) -> str:
    """The page of a map."""
    return m.get_root().render()


def standalone(m: folium.Map, *, vendor_dir: Path, static_dir: Path) -> str:
    """The page with its scripts and stylesheets inlined: one file that opens with no server."""
    return inline_assets(render(m), vendor_dir=vendor_dir, static_dir=static_dir)
