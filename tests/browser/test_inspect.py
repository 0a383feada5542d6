"""The inspector's phone page in a real Chromium: log in, find, report with a photo, go offline,
report twice, reload offline, come back, and every report arrives exactly once."""

import io
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Live
from tests.samples import WEIHUI_HOUSE

INSPECT = Path(__file__).resolve().parents[2] / "web" / "static" / "inspect"
SYNC_TIMEOUT_MS = 20_000


def jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def photo(colour: tuple[int, int, int]) -> dict:
    return {"name": "site.jpg", "mimeType": "image/jpeg", "buffer": jpeg(colour)}


@pytest.fixture
def admin(live: Live) -> Iterator[httpx.Client]:
    """A second, independent client: the server's own account of what arrived."""
    username, password = live.admin
    token = httpx.post(
        f"{live.base}/auth/token", data={"username": username, "password": password}
    ).json()["access_token"]
    with httpx.Client(base_url=live.base, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture
def phone(browser: Browser, live: Live) -> Iterator[BrowserContext]:
    """A 360-px phone in Xinxiang, standing at the test house, that lets the page locate it."""
    context = browser.new_context(
        base_url=live.base,
        viewport={"width": 360, "height": 780},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        geolocation={"longitude": WEIHUI_HOUSE.geometry.x, "latitude": WEIHUI_HOUSE.geometry.y},
        permissions=["geolocation"],
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


def open_logged_in(context: BrowserContext, live: Live) -> Page:
    page = context.new_page()
    page.goto("/inspect")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#username", live.inspector[0])
    page.fill("#password", live.inspector[1])
    page.click("#login-form button[type=submit]")
    expect(page.locator("#user-name")).to_have_text("卫辉核查员")
    expect(page.locator("#user-role")).to_have_text("核查员")
    expect(page.locator("#user-counties")).to_have_text("卫辉市")
    return page


def find_and_select(page: Page) -> None:
    page.fill("#q", WEIHUI_HOUSE.code)
    page.press("#q", "Enter")
    page.click(f"#results [data-code='{WEIHUI_HOUSE.code}']")
    expect(page.locator("#asset .code.big")).to_have_text(WEIHUI_HOUSE.code)


def report(page: Page, percent: int, colour: tuple[int, int, int]) -> None:
    """Fill and submit the form; return once the outbox has taken the report."""
    page.select_option("#stage", "started")
    page.fill("#percent", str(percent))
    page.set_input_files("#photo", photo(colour))
    expect(page.locator("#photo-count")).to_have_text("已选 1 张照片")
    page.click("#submit")
    # Queued: the form starts again from the state just reported, without the photo.
    expect(page.locator("#photo-count")).to_have_text("")
    expect(page.locator("#percent")).to_have_value(str(percent))


def history(admin: httpx.Client, asset_id: int) -> list[dict]:
    response = admin.get(f"/assets/{asset_id}/history")
    assert response.status_code == 200, response.text
    return response.json()["events"]


def test_reports_made_online_and_offline_arrive_exactly_once(
    phone: BrowserContext, live: Live, admin: httpx.Client, tmp_path: Path
) -> None:
    requested: list[str] = []
    phone.on("request", lambda request: requested.append(request.url))
    before = {e["id"] for e in history(admin, live.asset_id)}

    page = open_logged_in(phone, live)
    find_and_select(page)
    expect(page.locator("#asset-now")).to_have_text("当前：未开工 0%")

    # Online: the report goes through the outbox and is applied at once.
    report(page, 30, (200, 120, 40))
    expect(page.locator("#pending")).to_have_text("待上传 0 条", timeout=SYNC_TIMEOUT_MS)
    expect(page.locator("#asset-now")).to_have_text("当前：已开工 30%")
    first = page.locator("#history li[data-percent='30']")
    expect(first).to_contain_text("未开工 0% → 已开工 30%")
    expect(first).to_contain_text("卫辉核查员")
    thumbnail = first.locator("img")
    expect(thumbnail).to_be_visible()
    assert thumbnail.evaluate("img => img.complete && img.naturalWidth > 0")
    events = [e for e in history(admin, live.asset_id) if e["id"] not in before]
    assert [(e["stage"], e["percent"], len(e["photos"])) for e in events] == [("started", 30, 1)]
    page.screenshot(path=tmp_path / "1-online.png", full_page=True)

    # The shell is in the service worker's cache before the network goes.
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    phone.set_offline(True)
    report(page, 50, (40, 120, 200))
    expect(page.locator("#pending")).to_have_text("待上传 1 条")
    report(page, 70, (40, 200, 120))
    expect(page.locator("#pending")).to_have_text("待上传 2 条")
    expect(page.locator("#net")).to_have_text("离线")

    # Reloading offline: the shell comes from the service worker, the outbox from IndexedDB.
    page.reload()
    expect(page.locator("h1")).to_have_text("现场巡查")
    expect(page.locator("#pending")).to_have_text("待上传 2 条")
    expect(page.locator("#outbox-list li.pending")).to_have_count(2)
    expect(page.locator("#asset .code.big")).to_have_text(WEIHUI_HOUSE.code)
    page.screenshot(path=tmp_path / "2-offline.png", full_page=True)

    phone.set_offline(False)
    expect(page.locator("#pending")).to_have_text("待上传 0 条", timeout=SYNC_TIMEOUT_MS)
    expect(page.locator("#net")).to_have_text("在线")
    expect(page.locator("#asset-now")).to_have_text("当前：已开工 70%")
    expect(page.locator("#history li.event")).to_have_count(len(before) + 3)
    page.screenshot(path=tmp_path / "3-back-online.png", full_page=True)

    events = [e for e in history(admin, live.asset_id) if e["id"] not in before]
    assert sorted(e["percent"] for e in events) == [30, 50, 70]
    assert len({e["id"] for e in events}) == 3
    assert all(e["reporter"]["username"] == live.inspector[0] for e in events)
    assert all(len(e["photos"]) == 1 and e["location"] is not None for e in events)
    assert all(not e["flags"] for e in events), [e["flags"] for e in events]
    asset = admin.get(f"/assets/{live.asset_id}").json()["properties"]
    assert (asset["stage"], asset["percent"]) == ("started", 70)

    # Every request the page and its service worker made went to this server.
    hosts = {urlsplit(url).netloc for url in requested if not url.startswith(("data:", "blob:"))}
    assert hosts == {urlsplit(live.base).netloc}


def test_language_switch_is_remembered(phone: BrowserContext, live: Live) -> None:
    page = open_logged_in(phone, live)
    page.click("#lang")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#pending")).to_have_text("0 pending")
    expect(page.locator("#user-role")).to_have_text("Field inspector")
    page.reload()
    expect(page.locator("h1")).to_have_text("Field inspection")
    expect(page.locator("#lang")).to_have_text("中文")


def test_a_refused_report_stays_visible_until_discarded(
    phone: BrowserContext, live: Live, admin: httpx.Client, tmp_path: Path
) -> None:
    before = len(history(admin, live.asset_id))
    page = open_logged_in(phone, live)
    find_and_select(page)
    page.select_option("#stage", "started")
    page.fill("#percent", "90")
    not_an_image = {"name": "site.jpg", "mimeType": "image/jpeg", "buffer": b"not a picture"}
    page.set_input_files("#photo", not_an_image)
    page.click("#submit")

    refused = page.locator("#outbox-list li.rejected")
    expect(refused).to_have_count(1, timeout=SYNC_TIMEOUT_MS)
    expect(refused).to_contain_text("被退回")
    expect(page.locator("#pending")).to_have_text("待上传 0 条 · 1 条被退回")
    page.screenshot(path=tmp_path / "refused.png", full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    refused.get_by_role("button", name="删除").click()
    expect(page.locator("#outbox-list li")).to_have_count(0)
    expect(page.locator("#outbox")).to_be_hidden()
    assert len(history(admin, live.asset_id)) == before


def test_service_worker_precaches_every_file_of_the_page() -> None:
    """A file the worker does not pre-cache would be missing when the page opens offline."""
    worker = (INSPECT / "sw.js").read_text(encoding="utf-8")
    shell = set(re.findall(r'^\s*"(/[^"]+)",$', worker, re.MULTILINE))
    own = {f"/static/inspect/{p.name}" for p in INSPECT.iterdir() if p.suffix in (".js", ".css")}
    assert own - {"/static/inspect/sw.js"} | {"/inspect"} <= shell
    page = (INSPECT / "index.html").read_text(encoding="utf-8")
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert url in shell, f"{url} is loaded by the page but not pre-cached"
    assert not re.search(r"https?://", page + worker), "the page must name no external URL"
