"""The inspector's phone page in a real Chromium against a live server: log in, find, report with
a photo, go offline, report twice, reload offline, come back, and every report arrives once."""

import datetime as dt
import hashlib
import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import HOUSES, Live

ROOT = Path(__file__).resolve().parents[2]
INSPECT = ROOT / "web" / "static" / "inspect"
SYNC_TIMEOUT_MS = 20_000
HERE = HOUSES[0].geometry  # every test house stands here, in 卫辉市


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
    form = {"username": username, "password": password}
    token = httpx.post(f"{live.base}/auth/token", data=form).json()["access_token"]
    with httpx.Client(base_url=live.base, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture
def phone(browser: Browser, live: Live) -> Iterator[BrowserContext]:
    """A 360-px phone in Xinxiang, standing at the test houses, that lets the page locate it."""
    context = browser.new_context(
        base_url=live.base,
        viewport={"width": 360, "height": 780},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        geolocation={"longitude": HERE.x, "latitude": HERE.y, "accuracy": 8},
        permissions=["geolocation"],
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


def log_in(page: Page, live: Live) -> None:
    expect(page.locator("#login")).to_be_visible()
    page.fill("#username", live.inspector[0])
    page.fill("#password", live.inspector[1])
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login")).to_be_hidden()


def open_logged_in(context: BrowserContext, live: Live) -> Page:
    page = context.new_page()
    page.goto("/inspect")
    log_in(page, live)
    expect(page.locator("#user-name")).to_have_text("卫辉核查员")
    expect(page.locator("#user-role")).to_have_text("核查员")
    expect(page.locator("#user-counties")).to_have_text("卫辉市")
    return page


def search_and_select(page: Page, code: str) -> None:
    page.fill("#q", code)
    page.press("#q", "Enter")
    page.click(f"#results [data-code='{code}']")
    expect(page.locator("#asset .code.big")).to_have_text(code)


def report(page: Page, percent: int, colour: tuple[int, int, int], stage: str = "started") -> None:
    """Fill and submit the form; return once the outbox has taken the report."""
    page.select_option("#stage", stage)
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


def state(admin: httpx.Client, asset_id: int) -> tuple[str, int]:
    properties = admin.get(f"/assets/{asset_id}").json()["properties"]
    return properties["stage"], properties["percent"]


def test_reports_made_online_and_offline_arrive_exactly_once(
    phone: BrowserContext, live: Live, admin: httpx.Client, tmp_path: Path
) -> None:
    house = HOUSES[0]
    asset_id = live.assets[house.code]
    requested: list[str] = []
    phone.on("request", lambda request: requested.append(request.url))

    page = open_logged_in(phone, live)
    search_and_select(page, house.code)
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
    events = history(admin, asset_id)
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
    expect(page.locator("#asset .code.big")).to_have_text(house.code)
    page.screenshot(path=tmp_path / "2-offline.png", full_page=True)

    phone.set_offline(False)
    expect(page.locator("#pending")).to_have_text("待上传 0 条", timeout=SYNC_TIMEOUT_MS)
    expect(page.locator("#net")).to_have_text("在线")
    expect(page.locator("#asset-now")).to_have_text("当前：已开工 70%")
    expect(page.locator("#history li.event")).to_have_count(3)
    page.screenshot(path=tmp_path / "3-back-online.png", full_page=True)

    events = history(admin, asset_id)
    assert [e["percent"] for e in events] == [70, 50, 30]  # newest observation first
    assert len({e["id"] for e in events}) == 3
    assert all(e["reporter"]["username"] == live.inspector[0] for e in events)
    assert all(len(e["photos"]) == 1 and e["location"] is not None for e in events)
    assert all(not e["flags"] for e in events), [e["flags"] for e in events]
    assert state(admin, asset_id) == ("started", 70)

    # Every request the page and its service worker made went to this server, and the page as
    # rendered (Leaflet included) links to no other.
    hosts = {urlsplit(url).netloc for url in requested if not url.startswith(("data:", "blob:"))}
    assert hosts == {urlsplit(live.base).netloc}
    assert set(re.findall(r"https?://[^/\"'\s]+", page.content())) <= {live.base}


def test_near_me_lists_the_houses_around_with_their_distance(
    phone: BrowserContext, live: Live
) -> None:
    page = open_logged_in(phone, live)
    page.click("#near")
    for house in HOUSES:
        item = page.locator(f"#results [data-code='{house.code}']")
        expect(item).to_contain_text(house.name)
        expect(item.locator(".dist")).to_have_text("0 m")
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(len(HOUSES))


def test_an_expired_session_keeps_the_queue_and_asks_to_log_in_again(
    phone: BrowserContext, live: Live, admin: httpx.Client
) -> None:
    house = HOUSES[1]
    page = open_logged_in(phone, live)
    search_and_select(page, house.code)
    phone.clear_cookies()  # the session is gone, as after expiry or a password change
    report(page, 40, (90, 90, 200))
    expect(page.locator("#login-reason")).to_have_text(
        "登录已过期，请重新登录。待上传的报告会保留。", timeout=SYNC_TIMEOUT_MS
    )
    expect(page.locator("#pending")).to_have_text("待上传 1 条")
    log_in(page, live)
    expect(page.locator("#pending")).to_have_text("待上传 0 条", timeout=SYNC_TIMEOUT_MS)
    assert [e["percent"] for e in history(admin, live.assets[house.code])] == [40]

    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#find")).to_be_hidden()
    assert page.evaluate("fetch('/auth/me').then(r => r.status)") == 401


def test_a_report_older_than_another_ones_is_held_as_a_conflict(
    phone: BrowserContext, live: Live, admin: httpx.Client
) -> None:
    """Offline, the inspector saw 80 %; meanwhile someone observed 60 % later. The page says so."""
    house = HOUSES[2]
    asset_id = live.assets[house.code]
    page = open_logged_in(phone, live)
    search_and_select(page, house.code)
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    phone.set_offline(True)
    report(page, 80, (20, 160, 160))
    expect(page.locator("#pending")).to_have_text("待上传 1 条")

    picture = admin.post("/photos", files={"file": ("later.jpg", jpeg((1, 2, 3)), "image/jpeg")})
    later = {
        "id": str(uuid.uuid4()),
        "stage": "started",
        "percent": 60,
        "observed_at": (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).isoformat(),
        "location": {"lon": HERE.x, "lat": HERE.y, "crs": "EPSG:4326"},
        "photos": [picture.json()["id"]],
    }
    seen = admin.get(f"/assets/{asset_id}").headers["ETag"]
    made = admin.post(f"/assets/{asset_id}/reports", json=later, headers={"If-Match": seen})
    assert made.status_code == 201, made.text

    phone.set_offline(False)
    expect(page.locator("#pending")).to_have_text("待上传 0 条", timeout=SYNC_TIMEOUT_MS)
    expect(page.locator("#notices .notice.warn")).to_contain_text(
        f"{house.code}：与其他人的上报冲突，已提交审核。当前：已开工 60%"
    )
    expect(page.locator("#asset-now")).to_have_text("当前：已开工 60%")
    expect(page.locator("#history li[data-percent='80']")).to_contain_text("冲突待审核")
    assert state(admin, asset_id) == ("started", 60)


def test_a_refused_report_stays_visible_until_discarded(
    phone: BrowserContext, live: Live, admin: httpx.Client, tmp_path: Path
) -> None:
    house = HOUSES[3]
    asset_id = live.assets[house.code]
    page = open_logged_in(phone, live)
    search_and_select(page, house.code)
    page.select_option("#stage", "started")
    page.fill("#percent", "90")
    not_an_image = {"name": "site.jpg", "mimeType": "image/jpeg", "buffer": b"not a picture"}
    page.set_input_files("#photo", not_an_image)
    page.click("#submit")

    refused = page.locator("#outbox-list li.rejected")
    expect(refused).to_have_count(1, timeout=SYNC_TIMEOUT_MS)
    expect(refused).to_contain_text("被退回")
    expect(refused).to_contain_text("不是图片")  # the server's own words
    expect(page.locator("#pending")).to_have_text("待上传 0 条 · 1 条被退回")
    page.screenshot(path=tmp_path / "refused.png", full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    refused.get_by_role("button", name="删除").click()
    expect(page.locator("#outbox-list li")).to_have_count(0)
    expect(page.locator("#outbox")).to_be_hidden()
    assert history(admin, asset_id) == []


def test_the_language_choice_is_remembered(phone: BrowserContext, live: Live) -> None:
    page = open_logged_in(phone, live)
    page.click("#lang")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#pending")).to_have_text("0 pending")
    expect(page.locator("#user-role")).to_have_text("Field inspector")
    page.reload()
    expect(page.locator("h1")).to_have_text("Field inspection")
    expect(page.locator("#lang")).to_have_text("中文")


def _shell(worker: str) -> list[str]:
    return re.findall(r'^\s*"(/[^"]+)",$', worker, re.MULTILINE)


def _local_file(url: str) -> Path:
    if url == "/inspect":
        return INSPECT / "index.html"
    if url.startswith("/static/"):
        return ROOT / "web" / url.lstrip("/")
    assert url.startswith("/vendor/"), url
    return ROOT / "node_modules" / url.removeprefix("/vendor/")


def test_the_service_worker_caches_the_whole_shell_under_a_version_of_its_content() -> None:
    """A file left out of the shell is missing offline; a shell changed without a new cache
    version is never fetched by phones that have the old one (the worker serves cache-first)."""
    worker = (INSPECT / "sw.js").read_text(encoding="utf-8")
    shell = _shell(worker)
    own = {f"/static/inspect/{p.name}" for p in INSPECT.iterdir() if p.suffix in (".js", ".css")}
    assert own - {"/static/inspect/sw.js"} <= set(shell)
    page = (INSPECT / "index.html").read_text(encoding="utf-8")
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert url in shell, f"{url} is loaded by the page but not in the worker's SHELL"
    assert not re.search(r"https?://", page + worker), "the page must name no external URL"

    digest = hashlib.sha256()
    for url in sorted(shell):
        digest.update(url.encode() + b"\0" + _local_file(url).read_bytes())
    version = f"inspect-{digest.hexdigest()[:12]}"
    assert f'const CACHE_VERSION = "{version}";' in worker, (
        f'the shell changed: set CACHE_VERSION = "{version}" in web/static/inspect/sw.js'
    )
