"""The map pages in headless Chromium: the size of each page's HTML and the time to its first
full render (the map drawn: inline layers added, and every visible vector tile drawn).

Time is the page's own clock (``performance.now()``, from the start of navigation) read as soon
as the map is drawn, so it counts the request, parsing, scripts and tiles, not Playwright's
round trips. Every run opens a fresh browser context (no cache).
"""

import statistics
from typing import Any

from playwright.async_api import async_playwright

from bench.stats import summary

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
VIEWPORT = {"width": 1280, "height": 860}
TIMEOUT_MS = 60_000

# Drawn: the document and its inline scripts are done (Folium draws inline layers in them), and
# no tile layer of ours is still loading. The dashboard's map is in a frame: not waited for.
DRAWN = """() => document.readyState === 'complete'
    && (!window.RebuildMaps || RebuildMaps.tileLayers.every(l => !l.isLoading()))"""


async def measure(base: str, token: str, pages: list[str], runs: int) -> dict[str, Any]:
    """Per page (a path under ``base``, e.g. ``/maps/houses``): HTML bytes, and the first
    render time in ms over ``runs`` runs (median, p95, min, max); ``token`` is a bearer token."""
    results: dict[str, Any] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for path in pages:
                sizes, times = [], []
                for _ in range(runs):
                    context = await browser.new_context(
                        base_url=base,
                        viewport=VIEWPORT,
                        extra_http_headers={"Authorization": f"Bearer {token}"},
                    )
                    page = await context.new_page()
                    response = await page.goto(path, wait_until="commit", timeout=TIMEOUT_MS)
                    if response is None or response.status != 200:
                        status = None if response is None else response.status
                        raise RuntimeError(f"{path}: HTTP {status}")
                    await page.wait_for_function(DRAWN, polling="raf", timeout=TIMEOUT_MS)
                    times.append(await page.evaluate("performance.now()"))
                    sizes.append(len(await response.body()))
                    await context.close()
                render = summary(times)
                results[path] = {
                    "html_bytes": int(statistics.median(sizes)),
                    "render_ms": {k: render[k] for k in ("n", "median", "p95", "min", "max")},
                }
        finally:
            await browser.close()
    return results
