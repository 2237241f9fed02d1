"""Every page in headless Chromium at desktop and phone width, light and dark; the API docs offline.

Screenshots of each (page, width, colour scheme) go to ``test-artifacts/screenshots/`` and are
checked: no horizontal overflow at 390 px, the page's heading visible, dark backgrounds with light
text in dark mode (at 6:1 contrast or better), and no request to any other host.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PAGES = {
    "home": "/",
    "search": "/search?q=acme",
    "cube": "/cubes/acme/handbook",
    "yanked-version": "/cubes/acme/recipes/versions/1.1.0",
    "versions": "/cubes/acme/recipes",
    "diff": "/cubes/acme/handbook/diff",
    "namespace": "/namespaces/acme",
    "not-found": "/cubes/acme/handbok",
    "odd-cube": "/cubes/odd/long-everything",
    "odd-diff": "/cubes/odd/records/diff?from=1.0.0&to=2.0.0",
}
WIDTHS = {"desktop": 1280, "phone": 390}
CONTRAST = """
const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
const lum = (c) => { const [r, g, b] = rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
const body = getComputedStyle(document.body);
const bg = lum(getComputedStyle(document.documentElement).backgroundColor.startsWith('rgba(0, 0, 0, 0)') ? body.backgroundColor : getComputedStyle(document.documentElement).backgroundColor);
const fg = lum(body.color);
return [bg, fg, (Math.max(bg, fg) + 0.05) / (Math.min(bg, fg) + 0.05)];
"""


def _scheme(browser: WebDriver, scheme: str) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )


def _requested_urls(browser: WebDriver) -> list[str]:
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _screenshot(browser: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = browser.get_window_size()["width"]
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(max(int(height) + 140, 600), 6000))
    path = SCREENSHOTS / f"{name}.png"
    browser.save_screenshot(str(path))
    browser.set_window_size(width, 900)
    assert path.stat().st_size > 5000


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_page_fits_and_reads_well(
    browser: WebDriver, registry_url: str, width: str, scheme: str
) -> None:
    browser.set_window_size(WIDTHS[width], 900)
    _scheme(browser, scheme)
    browser.get_log("performance")  # start afresh
    try:
        for name, path in PAGES.items():
            browser.get(registry_url + path)
            heading = browser.find_element(By.TAG_NAME, "h1")
            assert heading.is_displayed(), name
            viewport = browser.execute_script("return document.documentElement.clientWidth")
            page_width = browser.execute_script("return document.documentElement.scrollWidth")
            assert page_width <= viewport, (name, width, page_width, viewport)
            background, text, ratio = browser.execute_script(CONTRAST)
            if scheme == "dark":
                assert background < 0.05, (name, background)
                assert text > 0.6, (name, text)
            else:
                assert background > 0.9, (name, background)
            assert ratio >= 6, (name, scheme, ratio)
            _screenshot(browser, f"{name}-{width}-{scheme}")
        assert all(url.startswith((registry_url, "data:")) for url in _requested_urls(browser))
    finally:
        _scheme(browser, "light")
        browser.set_window_size(1280, 1000)


def test_versions_on_a_phone_show_status_and_downloads(
    browser: WebDriver, registry_url: str
) -> None:
    browser.set_window_size(390, 844)
    try:
        browser.get(registry_url + "/cubes/acme/recipes")
        viewport = browser.execute_script("return document.documentElement.clientWidth")
        rows = browser.find_elements(By.CSS_SELECTOR, "table.versions tbody tr")
        assert len(rows) == 3
        for row in rows:
            for label in ("Downloads", "Status"):
                cell = row.find_element(By.CSS_SELECTOR, f"td[data-label={label}]")
                assert cell.is_displayed()
                assert cell.rect["x"] >= 0
                assert cell.rect["x"] + cell.rect["width"] <= viewport, label
                # Each value is labelled (the table's header row is hidden on phones).
                before = browser.execute_script(
                    "return getComputedStyle(arguments[0], '::before').content", cell
                )
                assert before == f'"{label}: "'
        yanked = next(row for row in rows if "yanked" in row.text)
        assert yanked.find_element(By.CSS_SELECTOR, "td[data-label=Downloads]").text == "0"
        assert yanked.find_element(By.CSS_SELECTOR, "td[data-label=Status] .badge").text == "yanked"
        # The reason is clamped to two lines: the row holds its text, not blank space.
        assert yanked.rect["height"] <= 170, yanked.rect
    finally:
        browser.set_window_size(1280, 1000)


def test_the_api_docs_render_with_nothing_from_another_host(
    browser: WebDriver, registry_url: str
) -> None:
    browser.get_log("performance")
    browser.get(registry_url + "/docs")
    WebDriverWait(browser, 15).until(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title")
            and len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 10
        )
    )
    assert "MemStore registry" in browser.find_element(By.CSS_SELECTOR, ".info .title").text
    summaries = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")]
    assert "/v1/cubes/{namespace}/{name}/versions/{version}/memcube" in summaries
    urls = _requested_urls(browser)
    assert any(url.endswith("/openapi.json") for url in urls)
    assert any(url.endswith("/swagger-ui-bundle.js") for url in urls)
    foreign = [url for url in urls if not url.startswith((registry_url, "data:", "blob:"))]
    assert foreign == []
    _screenshot(browser, "api-docs-desktop-light")
