"""The dashboard and the maps in a real Chromium against a live server: each page loads with no
console error and no request leaving 127.0.0.1, draws what it should, and opens an asset's popup
on a click. Above the inline bound (a small demo data set), the assets come as vector tiles whose
clusters account for every house. A screenshot of each page is kept in the test's folder."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import users
from gis.demo import load_demo
from gis.maps import INLINE_MAX
from gis.settings import Settings
from tests.browser.conftest import HOUSES, Live
from tests.conftest import Databases, test_db_name
from tests.live import live_server

DEMO_SCALE = 0.08  # about 2,400 houses: more than INLINE_MAX, so the houses map draws tiles
DRAWN_TIMEOUT_MS = 20_000


@dataclass
class Visit:
    """A logged-in browser that records what a page does wrong: console errors, uncaught
    exceptions, and requests to any host but the server's (which are refused)."""

    context: BrowserContext
    problems: list[str]

    def open(self, path: str) -> Page:
        page = self.context.new_page()
        page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
            ),
        )
        page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))
        page.goto(path)
        return page


def visit(browser: Browser, base: str, account: tuple[str, str]) -> Iterator[Visit]:
    context = browser.new_context(
        base_url=base, viewport={"width": 1280, "height": 860}, locale="zh-CN"
    )
    context.set_default_timeout(10_000)
    problems: list[str] = []
    host = urlsplit(base).netloc

    def only_here(route) -> None:
        if urlsplit(route.request.url).netloc == host or route.request.url.startswith("data:"):
            route.continue_()
        else:
            problems.append(f"request left 127.0.0.1: {route.request.url}")
            route.abort()

    context.route("**/*", only_here)
    page = context.new_page()
    page.goto("/login")
    page.fill("input[name=username]", account[0])
    page.fill("input[name=password]", account[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.close()
    yield Visit(context, problems)
    context.close()


@pytest.fixture
def admin(browser: Browser, live: Live) -> Iterator[Visit]:
    yield from visit(browser, live.base, live.admin)


def settle(page: Page) -> None:
    page.wait_for_load_state("networkidle")


def test_the_dashboard_shows_the_figures_and_embeds_the_overview(
    admin: Visit, tmp_path: Path
) -> None:
    page = admin.open("/")
    expect(page.locator("h1")).to_have_text("新乡市灾后重建进度追踪")
    expect(page.locator("details[data-rule='houses_general_repair'] summary")).to_contain_text(
        "0 / 5"
    )
    overview = page.frame_locator("#overview")
    expect(overview.locator("path.leaflet-interactive")).to_have_count(12)
    settle(page)
    page.screenshot(path=tmp_path / "dashboard.png", full_page=True)
    page.click("#lang")
    expect(page.locator("h1")).to_have_text("Xinxiang post-flood rebuilding")
    assert not admin.problems, admin.problems


def test_the_overview_colours_the_twelve_counties(admin: Visit, tmp_path: Path) -> None:
    page = admin.open("/maps/overview?layer=houses")
    counties = page.locator(".leaflet-overlay-pane path.leaflet-interactive")
    expect(counties).to_have_count(12)
    expect(page.locator(".rebuild-legend li")).to_have_count(5)
    counties.nth(0).hover()
    expect(page.locator(".leaflet-tooltip")).to_contain_text("县区")
    settle(page)
    page.screenshot(path=tmp_path / "overview.png")
    assert not admin.problems, admin.problems


def test_a_layer_map_draws_each_house_and_opens_its_popup(admin: Visit, tmp_path: Path) -> None:
    page = admin.open("/maps/houses")
    markers = page.locator(".leaflet-overlay-pane path.leaflet-interactive")
    expect(markers).to_have_count(len(HOUSES))  # county outlines are not interactive
    markers.nth(0).click(force=True)
    popup = page.locator(".leaflet-popup .asset-popup")
    expect(popup).to_be_visible()
    code = popup.get_attribute("data-code")
    assert code in {h.code for h in HOUSES}
    expect(popup).to_contain_text("测试村")
    expect(popup.locator("a.history")).to_have_attribute(
        "href", f"/assets/{_id(page, code)}/history"
    )
    controls = ".leaflet-control-scale .leaflet-control-layers .leaflet-control-search"
    controls += " .leaflet-control-zoom-fullscreen .rebuild-legend .rebuild-panel"
    for control in controls.split():
        expect(page.locator(control)).to_be_visible()
    settle(page)
    page.screenshot(path=tmp_path / "houses.png")
    # The month step goes back one month and the filter form keeps the layer.
    page.click(".rebuild-panel a.month >> nth=0")
    expect(page.locator(".rebuild-panel input[name=as_of]")).not_to_have_value("")
    assert "as_of=" in page.url
    page.select_option(".rebuild-panel select[name=status]", "pending")
    page.click(".rebuild-panel button[type=submit]")
    page.wait_for_url("**/maps/houses?status=pending*")
    assert "county=" not in page.url  # "all" is left out of the query
    assert not admin.problems, admin.problems


def _id(page: Page, code: str) -> int:
    found = page.evaluate(
        "code => fetch('/assets?q=' + code).then(r => r.json()).then(c => c.features[0].id)", code
    )
    return int(found)


@pytest.mark.parametrize("layer", ["water_works", "roads"])
def test_empty_layers_load_cleanly(admin: Visit, tmp_path: Path, layer: str) -> None:
    page = admin.open(f"/maps/{layer}?lang=en")
    expect(page.locator(".rebuild-panel h1")).to_be_visible()
    expect(page.locator(".rebuild-legend")).to_contain_text("Deadline status")
    settle(page)
    page.screenshot(path=tmp_path / f"{layer}.png")
    assert not admin.problems, admin.problems


# --- above the inline bound: vector tiles ----------------------------------------------------

ADMIN = ("tiles-admin", "admin-tiles-2022")


@dataclass(frozen=True)
class Busy:
    base: str
    houses: int


# More roads than a page draws inline, so that the roads map draws them as vector tiles too:
# short lines on a grid in 卫辉市, 0.0004° (about 40 m) apart.
ROADS_GRID = 46  # 46 x 46 = 2,116 > INLINE_MAX
ROADS = """
    INSERT INTO assets (code, layer, kind, batch, county_adcode, village, name, geom)
    SELECT format('DL-410781-T%s-%s', i, j), 'roads', 'village_road', 1, '410781', '测试村',
           format('测试路 %s-%s', i, j),
           ST_MakeLine(ST_MakePoint(114.06 + i * 0.0004, 35.39 + j * 0.0004),
                       ST_MakePoint(114.06 + i * 0.0004 + 0.0003, 35.39 + j * 0.0004))
      FROM generate_series(0, :n - 1) i CROSS JOIN generate_series(0, :n - 1) j
"""


@pytest.fixture(scope="module")
def busy(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Busy]:
    """A server whose database holds the demo data set at a small scale, and an administrator."""
    houses: list[int] = []

    def seed(session: Session) -> None:
        # The demo loader commits on a connection of its own and alters tables: before this
        # session holds any lock, or the two would wait for each other.
        load_demo(session.get_bind(), Settings(), scale=DEMO_SCALE)
        count = "SELECT count(*) FROM assets WHERE layer = 'houses'"
        houses.append(session.execute(text(count)).scalar_one())
        session.execute(text(ROADS), {"n": ROADS_GRID})
        users.add_user(session, username=ADMIN[0], password=ADMIN[1], role="admin")

    home = tmp_path_factory.mktemp("busy")
    with live_server(databases, test_db_name("_maps_tiles"), home=home, seed=seed) as base:
        yield Busy(base, houses[0])


def test_above_the_bound_houses_come_as_tiles_that_count_every_house(
    browser: Browser, busy: Busy, tmp_path: Path
) -> None:
    assert busy.houses > INLINE_MAX
    for v in visit(browser, busy.base, ADMIN):
        page = v.open("/maps/houses")
        expect(page.locator(".rebuild-panel .mode")).to_contain_text("矢量图块")
        page.wait_for_function(
            "() => RebuildMaps.tileLayers.length === 1 && !RebuildMaps.tileLayers[0].isLoading()"
            " && RebuildMaps.tileLayers[0].counts().tiles > 0",
            timeout=DRAWN_TIMEOUT_MS,
        )
        counts = page.evaluate("RebuildMaps.tileLayers[0].counts()")
        assert counts["clusters"] > 0
        assert counts["assets"] + counts["clustered"] == busy.houses, counts
        settle(page)  # and let the tiles fade in
        page.screenshot(path=tmp_path / "houses-tiles.png")
        # Close in on one house: at the deepest zoom, a click on it opens its popup.
        house = page.evaluate(
            "fetch('/assets?q=FW-410781').then(r => r.json()).then(c => c.features[0])"
        )
        lon, lat = house["geometry"]["coordinates"]
        page.evaluate(
            f"""() => {{ const layer = RebuildMaps.tileLayers[0];
                layer._map.setView([{lat}, {lon}], 18, {{animate: false}}); }}"""
        )
        page.wait_for_function(
            "() => !RebuildMaps.tileLayers[0].isLoading()"
            " && RebuildMaps.tileLayers[0].counts().assets > 0",
            timeout=DRAWN_TIMEOUT_MS,
        )
        box = page.locator(".leaflet-container").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        popup = page.locator(".leaflet-popup .asset-popup")
        expect(popup).to_be_visible()
        expect(popup).to_have_attribute("data-code", house["properties"]["code"])
        page.screenshot(path=tmp_path / "houses-tiles-popup.png")
        assert not v.problems, v.problems


def test_roads_above_the_bound_come_as_tiles_and_a_click_on_a_line_opens_its_popup(
    browser: Browser, busy: Busy, tmp_path: Path
) -> None:
    assert ROADS_GRID**2 > INLINE_MAX
    for v in visit(browser, busy.base, ADMIN):
        page = v.open("/maps/roads")
        expect(page.locator(".rebuild-panel .mode")).to_contain_text("矢量图块")
        # The middle of one road of the grid, away from its ends: only a line is there.
        i, j = ROADS_GRID // 2, ROADS_GRID // 3
        lon, lat = 114.06 + i * 0.0004 + 0.00015, 35.39 + j * 0.0004
        page.evaluate(
            f"""() => RebuildMaps.tileLayers[0]._map.setView([{lat}, {lon}], 17,
                                                              {{animate: false}})"""
        )
        page.wait_for_function(
            "() => RebuildMaps.tileLayers.length === 1 && !RebuildMaps.tileLayers[0].isLoading()"
            " && RebuildMaps.tileLayers[0].counts().assets > 0",
            timeout=DRAWN_TIMEOUT_MS,
        )
        box = page.locator(".leaflet-container").bounding_box()
        # 3 px off the line (the tolerance is 6): a line is hit by its distance, not a box
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2 + 3)
        popup = page.locator(".leaflet-popup .asset-popup")
        expect(popup).to_be_visible()
        expect(popup).to_have_attribute("data-code", f"DL-410781-T{i}-{j}")
        settle(page)
        page.screenshot(path=tmp_path / "roads-tiles-popup.png")
        # Between two rows of roads (20 px from each at this zoom) nothing opens.
        page.locator(".leaflet-popup-close-button").click()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2 + 18)
        expect(page.locator(".leaflet-popup")).to_have_count(0)
        assert not v.problems, v.problems
