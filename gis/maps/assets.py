"""Every script and stylesheet a map page loads: the app's own copies, never a CDN.

Folium's map and plugins name their files on public CDNs (``default_js`` / ``default_css``); an
intranet has none. Each element we use gets instance lists pointing at npm packages served under
``/vendor`` (``package.json``) or at our files under ``/static/maps``. ``inline_assets`` turns a
page into one self-contained file for ``rebuild map -o``.
"""

import base64
import mimetypes
import re
from pathlib import Path

from branca.element import Element

from gis.settings import PROJECT_ROOT

STATIC_DIR = PROJECT_ROOT / "web" / "static"  # served under /static (api/main.py)
VENDOR = "/vendor/"
STATIC = "/static/"

LEAFLET_JS = [("leaflet", "/vendor/leaflet/dist/leaflet.js")]
LEAFLET_CSS = [("leaflet_css", "/vendor/leaflet/dist/leaflet.css")]
FULLSCREEN_JS = [("Control.Fullscreen.js", "/vendor/leaflet.fullscreen/Control.FullScreen.js")]
FULLSCREEN_CSS = [("Control.FullScreen.css", "/vendor/leaflet.fullscreen/Control.FullScreen.css")]
SEARCH_JS = [("Leaflet.Search.js", "/vendor/leaflet-search/dist/leaflet-search.min.js")]
SEARCH_CSS = [("Leaflet.Search.css", "/vendor/leaflet-search/dist/leaflet-search.min.css")]
# Ours: the shared configuration, popups and the vector tile layer (pbf reads the tiles).
MAPS_JS = [
    ("pbf", "/vendor/pbf/dist/pbf.js"),
    ("rebuild_maps", "/static/maps/rebuild-maps.js"),
]
MAPS_CSS = [("rebuild_maps_css", "/static/maps/rebuild-maps.css")]


def use_local(element: Element, js: list[tuple[str, str]], css: list[tuple[str, str]]) -> Element:
    """Give ``element`` its own lists of local files, replacing its class's CDN defaults.

    Instance attributes on purpose: Folium's ``add_js_link`` edits the class's list in place,
    which would change every map in the process."""
    element.default_js = list(js)
    element.default_css = list(css)
    return element


_SCRIPT = re.compile(r'<script src="(/(?:vendor|static)/[^"]+)"></script>')
_STYLESHEET = re.compile(r'<link rel="stylesheet" href="(/(?:vendor|static)/[^"]+)"\s*/?>')
_CSS_URL = re.compile(r"url\((['\"]?)(?!data:|#)([^'\")]+)\1\)")


def local_file(url: str, *, vendor_dir: Path, static_dir: Path) -> Path:
    """The file behind a ``/vendor/...`` or ``/static/...`` URL of a page."""
    if url.startswith(VENDOR):
        root, rest = vendor_dir, url[len(VENDOR) :]
    elif url.startswith(STATIC):
        root, rest = static_dir, url[len(STATIC) :]
    else:
        raise ValueError(f"not a local asset URL: {url!r}")
    path = (root / rest).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ValueError(f"asset URL leaves its folder: {url!r}")
    return path


def _data_url(path: Path) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _css_inlined(path: Path) -> str:
    """A stylesheet with the images it refers to embedded as data URLs."""

    def embed(match: re.Match[str]) -> str:
        target = (path.parent / match.group(2)).resolve()
        return f'url("{_data_url(target)}")' if target.is_file() else match.group(0)

    return _CSS_URL.sub(embed, path.read_text(encoding="utf-8"))


def inline_assets(html: str, *, vendor_dir: Path, static_dir: Path) -> str:
    """The page with each local script and stylesheet copied into it (one file, no server)."""

    def script(match: re.Match[str]) -> str:
        body = local_file(match.group(1), vendor_dir=vendor_dir, static_dir=static_dir)
        # A literal </script> inside the code would end the element early.
        code = body.read_text(encoding="utf-8").replace("</script", "<\\/script")
        return f"<script>{code}</script>"

    def stylesheet(match: re.Match[str]) -> str:
        body = local_file(match.group(1), vendor_dir=vendor_dir, static_dir=static_dir)
        return f"<style>{_css_inlined(body)}</style>"

    html = _SCRIPT.sub(lambda m: script(m), html)
    return _STYLESHEET.sub(lambda m: stylesheet(m), html)
