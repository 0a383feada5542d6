"""Map building (gis/maps), tested the way Folium tests itself: which elements a map holds,
their options, and normalised fragments of the JavaScript they render; never a whole page.

Data: the hand-counted houses of tests/progress_samples.py (rule houses_general_repair, due
2021-10-31). As of 2021-11-01, in 卫辉市: H1 and H2 completed (done), H3 (its completion was
rejected) and H4 (no report) overdue; in 辉县市 H5 is overdue until its completion on 11-05.
"""

import datetime as dt
import re
from pathlib import Path

import folium
import pytest
from branca.element import Element
from folium.plugins import Fullscreen, Search
from folium.utilities import normalize
from sqlalchemy.orm import Session

from gis import maps
from gis.access import TERMINAL, Principal
from gis.asset_status import ASSET_STATUS_COLOUR
from gis.errors import Forbidden, InvalidInput, InvalidStage, NotFound, TooLarge, UnknownCounty
from gis.maps import data, elements, style
from gis.maps.build import month_steps
from gis.progress import STATUS_COLOUR
from gis.queries.features import PUBLIC_PROPERTIES
from gis.settings import PROJECT_ROOT

DAY = dt.date(2021, 11, 1)
WEIHUI, HUIXIAN = "410781", "410782"
INSPECTOR = Principal(7, "weihui", "卫辉核查员", "inspector", frozenset({WEIHUI}))
EXTERNAL = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


def children(m: folium.Map, kind: type) -> list:
    return [c for c in m._children.values() if isinstance(c, kind)]


def asset_layer(m: folium.Map) -> folium.GeoJson:
    (layer,) = [g for g in children(m, folium.GeoJson) if g.layer_name in ("项目", "Assets")]
    return layer


def script(element: Element) -> str:
    """The element's rendered JavaScript, normalised, with Folium's random names made stable."""
    element.get_root().render()  # renders the children too, as a page would
    js = element._template.module.script(element)
    return re.sub(r"_[0-9a-f]{32}", "_X", normalize(js))


def every_element(root: Element):
    yield root
    for child in root._children.values():
        yield from every_element(child)


def houses_map(session: Session, *, principal: Principal = TERMINAL, **filters) -> folium.Map:
    flt = maps.AssetFilter("houses", filters.pop("as_of", DAY), **filters)
    return maps.layer_map(session, principal=principal, flt=flt)


def test_the_overview_fills_each_county_by_its_status_with_its_figures(
    session: Session, houses: dict[str, int]
) -> None:
    m = maps.overview_map(session, principal=TERMINAL, as_of=DAY, layer="houses")
    (counties,) = children(m, folium.GeoJson)
    by_code = {f["id"]: f["properties"] for f in counties.data["features"]}
    assert len(by_code) == 12
    assert by_code[WEIHUI]["status"] == "overdue"
    assert by_code[WEIHUI]["figures"] == "2 / 4（50.0%）"
    assert by_code[HUIXIAN]["status_label"] == "已逾期"
    assert by_code["410702"]["status"] is None  # no house of the rule there
    weihui = next(f for f in counties.data["features"] if f["id"] == WEIHUI)
    assert counties.style_function(weihui)["fillColor"] == STATUS_COLOUR["overdue"]
    tooltip = counties._children[next(k for k in counties._children if "tooltip" in k)]
    assert tooltip.fields[:3] == ["name", "status_label", "figures"]
    assert tooltip.aliases[0] == "县区"
    (legend,) = children(m, elements.Legend)
    labels = [e.label for _, entries in legend.sections for e in entries]
    assert labels == ["已完成", "正常", "有风险", "已逾期", "无项目"]
    assert m.options["maxZoom"] == 18 and not m.options["attributionControl"]


def test_the_overview_refuses_a_rule_of_another_layer(session: Session) -> None:
    with pytest.raises(InvalidInput) as refused:
        maps.overview_map(
            session, principal=TERMINAL, as_of=DAY, layer="houses", rule="roads_completed"
        )
    assert refused.value.field == "rule" and "houses_general_repair" in refused.value.en


def test_a_layer_map_inlines_public_properties_styled_by_status_and_stage(
    session: Session, houses: dict[str, int]
) -> None:
    m = houses_map(session)
    layer = asset_layer(m)
    features = {f["properties"]["code"]: f for f in layer.data["features"]}
    assert len(features) == 5
    status = {code: f["properties"]["status"] for code, f in features.items()}
    assert status == {
        "FW-410781-60000": "done",
        "FW-410781-60001": "done",
        "FW-410781-60002": "overdue",
        "FW-410781-60003": "overdue",
        "FW-410782-60000": "overdue",
    }
    h1 = features["FW-410781-60000"]["properties"]
    assert h1["last_report"] == "2021-10-01" and h1["due_on"] is None  # nothing left due
    h4 = features["FW-410781-60003"]["properties"]
    assert h4["last_report"] is None and h4["due_on"] == "2021-10-31"
    assert h1["stage"] == "completed" and h1["percent"] == 100
    # Only public fields, the same keys as the vector tiles.
    public = {key for key, _, _ in PUBLIC_PROPERTIES} | {"id", "county", "status"}
    public |= {"last_report", "due_on"}
    for feature in features.values():
        assert set(feature["properties"]) == set(data.ASSET_PROPERTIES) <= public
    assert "张某" not in maps.render(m) and "13900000000" not in maps.render(m)

    overdue = layer.style_function(features["FW-410781-60002"])
    done = layer.style_function(features["FW-410781-60000"])
    assert overdue["color"] == style.OVERDUE_RING and overdue["radius"] > done["radius"]
    assert done["fillColor"] == ASSET_STATUS_COLOUR["done"] and done["fillOpacity"] == 0.75
    # overdue last: drawn on top
    assert [f["properties"]["status"] for f in layer.data["features"]][-3:] == ["overdue"] * 3
    js = script(layer)
    assert "(RebuildMaps.bindAssetPopup)(feature,layer);" in js
    assert "pointToLayer: geo_json_X_pointToLayer" in js


def test_a_layer_map_has_its_controls_all_from_local_files(
    session: Session, houses: dict[str, int]
) -> None:
    m = houses_map(session)
    (search,) = children(m, Search)
    assert search.search_label == "code" and search.layer is asset_layer(m)
    assert children(m, Fullscreen) and children(m, folium.LayerControl)
    assert list(m._children.values())[-1] is children(m, folium.LayerControl)[0]  # last
    assert m.control_scale
    (config,) = children(m, elements.MapConfig)
    assert config.config["historyUrl"] == "/assets/{id}/history"
    assert config.config["styles"]["overdue"]["not_started"]["line"] == style.asset_style(
        "overdue", "not_started", "line"
    )
    (legend,) = children(m, elements.Legend)
    assert [heading for heading, _ in legend.sections] == ["期限状态（颜色）", "阶段（填充深浅）"]
    (panel,) = children(m, elements.Panel)
    assert [c.name for c in panel.content.choices] == ["county", "kind", "stage", "status"]
    assert panel.content.months[0] == ("‹ 上月", "/maps/houses?as_of=2021-10-01")
    links = [
        url
        for element in every_element(m.get_root())
        for _, url in [*getattr(element, "default_js", []), *getattr(element, "default_css", [])]
    ]
    assert links and all(url.startswith(("/vendor/", "/static/maps/")) for url in links)
    for url in links:
        path = maps.assets.local_file(
            url, vendor_dir=PROJECT_ROOT / "node_modules", static_dir=PROJECT_ROOT / "web/static"
        )
        assert path.is_file(), f"{url}: npm ci (package.json) or web/static lacks it"


@pytest.mark.parametrize("layer", ["overview", "houses", "water_works", "roads"])
def test_no_page_names_another_site(session: Session, houses: dict[str, int], layer: str) -> None:
    if layer == "overview":
        m = maps.overview_map(session, principal=TERMINAL, as_of=DAY)
    else:
        m = maps.layer_map(session, principal=TERMINAL, flt=maps.AssetFilter(layer, DAY))
    page = maps.render(m)
    assert not EXTERNAL.findall(page)
    assert '<script src="/vendor/leaflet/dist/leaflet.js"></script>' in page


def test_above_the_inline_bound_the_assets_come_as_vector_tiles(
    session: Session, houses: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "INLINE_MAX", 3)
    m = houses_map(session, county=WEIHUI, status="overdue")
    assert not [g for g in children(m, folium.GeoJson) if g.layer_name == "项目"]
    (tiles,) = children(m, elements.AssetTiles)
    assert tiles.options["url"] == (
        "/tiles/houses/{z}/{x}/{y}.pbf?as_of=2021-11-01&county=410781&status=overdue"
    )
    assert tiles.layer_name == "项目" and tiles.overlay
    assert script(tiles) == (
        'var asset_tiles_X = L.rebuildTiles({"layer": "houses","maxZoom": 18,"minZoom": 6,'
        '"url": "/tiles/houses/{z}/{x}/{y}.pbf?as_of=2021-11-01\\u0026county=410781'
        '\\u0026status=overdue"});'
    )
    (search,) = children(m, elements.RemoteCodeSearch)
    assert search.url == "/assets?layer=houses&limit=10"
    (panel,) = children(m, elements.Panel)
    assert "4 个项目" in panel.content.subtitle and "3 个" in panel.content.note
    assert "圆圈内数字：该处项目数" in children(m, elements.Legend)[0].notes
    with pytest.raises(TooLarge) as refused:
        maps.layer_map(
            session,
            principal=TERMINAL,
            flt=maps.AssetFilter("houses", DAY),
            look=maps.Look(served=False),
        )
    assert "--county" in refused.value.en


def test_county_people_see_their_county_only(session: Session, houses: dict[str, int]) -> None:
    m = houses_map(session, principal=INSPECTOR)
    assert {f["properties"]["county"] for f in asset_layer(m).data["features"]} == {WEIHUI}
    boundaries = next(g for g in children(m, folium.GeoJson) if g.layer_name == "县区边界")
    assert [f["id"] for f in boundaries.data["features"]] == [WEIHUI]
    (panel,) = children(m, elements.Panel)
    assert panel.content.choices[0].options == [(WEIHUI, "卫辉市")]
    overview = maps.overview_map(session, principal=INSPECTOR, as_of=DAY)
    assert [f["id"] for f in children(overview, folium.GeoJson)[0].data["features"]] == [WEIHUI]
    with pytest.raises(Forbidden):
        houses_map(session, principal=INSPECTOR, county=HUIXIAN)


def test_filters_and_days(session: Session, houses: dict[str, int]) -> None:
    later = houses_map(session, county=HUIXIAN, as_of=dt.date(2021, 11, 10))
    (h5,) = asset_layer(later).data["features"]
    assert h5["properties"]["status"] == "done" and h5["properties"]["last_report"] == "2021-11-05"
    done = houses_map(session, status="done")
    assert len(asset_layer(done).data["features"]) == 2
    started = houses_map(session, stage="started", as_of=dt.date(2021, 9, 2))
    assert [f["properties"]["code"] for f in asset_layer(started).data["features"]] == [
        "FW-410781-60001"
    ]
    # An empty selection draws no search box (Folium's Search needs a feature to index).
    assert not children(houses_map(session, kind="self_rebuild"), Search)


@pytest.mark.parametrize(
    ("filters", "error", "field"),
    [
        ({"kind": "levee"}, InvalidInput, "kind"),
        ({"stage": "finished"}, InvalidStage, "stage"),
        ({"status": "late"}, InvalidInput, "status"),
        ({"county": "999999"}, UnknownCounty, "county"),
        ({"as_of": dt.date(2021, 7, 1)}, InvalidInput, "as_of"),
    ],
)
def test_bad_filters_are_named(session: Session, filters: dict, error: type, field: str) -> None:
    with pytest.raises(error) as refused:
        houses_map(session, **filters)
    assert refused.value.field == field and refused.value.zh and refused.value.en


def test_an_unknown_layer_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        maps.layer_map(session, principal=TERMINAL, flt=maps.AssetFilter("bridges", DAY))


def test_a_basemap_comes_with_its_attribution_and_no_leaflet_link(session: Session) -> None:
    look = maps.Look(basemap_url="/basemap/{z}/{x}/{y}.png", basemap_attribution="Local tiles")
    m = maps.overview_map(session, principal=TERMINAL, as_of=DAY, look=look)
    (tiles,) = children(m, folium.TileLayer)
    assert tiles.tiles == "/basemap/{z}/{x}/{y}.png" and tiles.options["max_zoom"] == 18
    (credit,) = children(m, elements.Attribution)
    assert 'L.control.attribution({prefix: false}).addAttribution("Local tiles")' in script(credit)


def test_the_standalone_file_carries_its_scripts_styles_and_images(
    session: Session, houses: dict[str, int]
) -> None:
    m = maps.layer_map(
        session,
        principal=TERMINAL,
        flt=maps.AssetFilter("houses", DAY),
        look=maps.Look(served=False),
    )
    root = PROJECT_ROOT
    page = maps.standalone(m, vendor_dir=root / "node_modules", static_dir=root / "web/static")
    assert "<script src=" not in page and 'rel="stylesheet"' not in page
    assert "L.RebuildTiles = L.GridLayer.extend" in page  # our script, inlined
    assert "data:image/png;base64," in page  # Leaflet's layer-control icon
    assert "/assets/" not in page.split("RebuildMaps.configure(")[1].split(");")[0]
    assert not EXTERNAL.findall(page.split("<body>")[1])  # the map itself links nowhere
    (panel,) = children(m, elements.Panel)
    assert not panel.content.choices and not panel.content.links


def test_local_files_stay_in_their_folders(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="leaves its folder"):
        maps.assets.local_file("/vendor/../secret", vendor_dir=tmp_path, static_dir=tmp_path)


@pytest.mark.parametrize(
    ("day", "today", "steps"),
    [
        (dt.date(2022, 3, 31), dt.date(2023, 1, 1), (dt.date(2022, 2, 28), dt.date(2022, 4, 30))),
        (dt.date(2021, 8, 5), dt.date(2023, 1, 1), (dt.date(2021, 7, 17), dt.date(2021, 9, 5))),
        (dt.date(2021, 7, 17), dt.date(2023, 1, 1), (None, dt.date(2021, 8, 17))),
        (dt.date(2022, 12, 20), dt.date(2023, 1, 1), (dt.date(2022, 11, 20), dt.date(2023, 1, 1))),
        (dt.date(2023, 1, 1), dt.date(2023, 1, 1), (dt.date(2022, 12, 1), None)),
    ],
)
def test_month_steps_stay_between_the_disaster_and_today(day, today, steps) -> None:
    assert month_steps(day, today=today) == steps
