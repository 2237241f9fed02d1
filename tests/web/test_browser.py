"""The marketplace in a real browser: headless Chromium driven by Selenium.

A real registry process on loopback is seeded by publishing real bundles over HTTP; the browser
searches, opens a cube, reads its parts, copies the install line, opens a diff, and the pages are
checked on a phone-sized window. Screenshots of each page go to ``test-artifacts/screenshots/``.
These tests need the Debian packages ``chromium`` and ``chromium-driver`` (``scripts/browsers``
installs them); without them they fail, they do not skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.web.seeding import HOSTILE

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_SECONDS = 15


def _shot(driver: WebDriver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # Full-page: size the window to the document's height for the shot.
    width = driver.execute_script("return window.innerWidth")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    original = driver.get_window_size()
    driver.set_window_size(original["width"], min(max(int(height) + 140, 600), 6000))
    driver.save_screenshot(str(path))
    driver.set_window_size(original["width"], original["height"])
    assert path.stat().st_size > 5000
    assert width
    return path


def _wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, WAIT_SECONDS)


def test_search_open_cube_read_parts_copy_and_diff(browser: WebDriver, registry_url: str) -> None:
    browser.get(registry_url + "/")
    assert browser.title == "MemStore · MemStore"
    _shot(browser, "home")

    # Search from the home page's box.
    box = browser.find_element(By.ID, "home-q")
    box.send_keys("handbook")
    box.submit()
    _wait(browser).until(expected_conditions.url_contains("/search?q=handbook"))
    results = browser.find_elements(By.CSS_SELECTOR, ".cube-card-title a")
    assert [r.text for r in results] == ["acme/handbook"]
    # Narrow by part kind with the filter form.
    Select(browser.find_element(By.ID, "kind")).select_by_value("parameter")
    browser.find_element(By.CSS_SELECTOR, ".search-form button[type=submit]").click()
    _wait(browser).until(expected_conditions.url_contains("kind=parameter"))
    _shot(browser, "search")
    browser.find_element(By.LINK_TEXT, "acme/handbook").click()

    # The cube page: its parts.
    _wait(browser).until(expected_conditions.title_contains("acme/handbook 1.1.0"))
    rows = browser.find_elements(By.CSS_SELECTOR, "table.parts tbody tr")
    parts = {row.find_element(By.CSS_SELECTOR, ".part-name").text: row for row in rows}
    assert set(parts) == {"memories", "kv-prefix", "style-lora"}
    assert parts["memories"].find_element(By.CSS_SELECTOR, ".kind").text == "plaintext"
    assert "3 memories" in parts["memories"].text
    model = parts["kv-prefix"].find_element(By.CSS_SELECTOR, "details.model")
    model.find_element(By.TAG_NAME, "summary").click()
    assert "LlamaForCausalLM" in model.text
    assert "verifies" in browser.find_element(By.CSS_SELECTOR, ".signatures").text
    _shot(browser, "cube")

    # Copy the install line: the button appears with JavaScript and writes the clipboard.
    browser.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": registry_url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    button = browser.find_element(By.CSS_SELECTOR, "button.copy-button")
    assert button.is_displayed()
    button.click()
    _wait(browser).until(lambda d: button.text == "Copied!")
    status = browser.find_element(By.CSS_SELECTOR, ".copy-status").text
    assert status == "Install command copied to the clipboard."
    clipboard = browser.execute_async_script(
        "const done = arguments[0];"
        "navigator.clipboard.readText().then(done, (e) => done('error: ' + e));"
    )
    assert clipboard == "memos install acme/handbook"

    # Open the diff through the link on the cube page.
    browser.find_element(By.CSS_SELECTOR, "a.diff-link").click()
    _wait(browser).until(expected_conditions.url_contains("/diff?from=1.0.0&to=1.1.0"))
    heading = browser.find_element(By.TAG_NAME, "h1").text
    assert heading == "acme/handbook: 1.0.0 → 1.1.0"
    added = browser.find_element(By.CSS_SELECTOR, ".memory-added .memory-text").text
    assert added == f"A memory with markup: {HOSTILE}"  # shown as text, not run
    inserted = browser.find_element(By.CSS_SELECTOR, ".memory-changed ins").text
    assert inserted.strip() == "precomputed"
    _shot(browser, "diff")

    # The diff form picks other versions without JavaScript involvement.
    Select(browser.find_element(By.ID, "diff-from")).select_by_value("1.1.0")
    Select(browser.find_element(By.ID, "diff-to")).select_by_value("1.0.0")
    browser.find_element(By.CSS_SELECTOR, ".compare-form button").click()
    _wait(browser).until(expected_conditions.url_contains("from=1.1.0"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "acme/handbook: 1.1.0 → 1.0.0"


def test_hostile_cube_runs_no_script(browser: WebDriver, registry_url: str) -> None:
    browser.get(registry_url + "/cubes/evil/hostile")
    # An injected alert() would leave an open alert; the text must be visible as text instead.
    assert (
        "Hostile description <script>" in browser.find_element(By.CSS_SELECTOR, ".description").text
    )
    assert (
        browser.execute_script("return document.querySelectorAll('main img, main script').length")
        == 0
    )
    assert "yanked" in browser.find_element(By.TAG_NAME, "h1").text
    _shot(browser, "hostile-yanked")


def test_namespace_and_404_pages(browser: WebDriver, registry_url: str) -> None:
    browser.get(registry_url + "/namespaces/acme")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Namespace acme"
    assert len(browser.find_elements(By.CSS_SELECTOR, ".cube-card")) == 3
    _shot(browser, "namespace")
    browser.get(registry_url + "/cubes/acme/no-such-cube")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert "acme/no-such-cube does not exist" in browser.find_element(By.TAG_NAME, "main").text
    _shot(browser, "not-found")


def test_phone_sized_window(browser: WebDriver, registry_url: str) -> None:
    original = browser.get_window_size()
    browser.set_window_size(390, 844)
    try:
        for name, path in (
            ("phone-home", "/"),
            ("phone-search", "/search?q=memos"),
            ("phone-cube", "/cubes/acme/handbook"),
            ("phone-diff", "/cubes/acme/handbook/diff"),
        ):
            browser.get(registry_url + path)
            viewport = browser.execute_script("return document.documentElement.clientWidth")
            page_width = browser.execute_script("return document.documentElement.scrollWidth")
            # Nothing makes the page itself scroll sideways (wide tables scroll in their box).
            assert page_width <= viewport, (path, page_width, viewport)
            # One column: the aside flows below the main column on a phone.
            if path.startswith("/cubes/acme/handbook") and "diff" not in path:
                main = browser.find_element(By.CSS_SELECTOR, ".main-column").rect
                aside = browser.find_element(By.CSS_SELECTOR, ".side-column").rect
                assert aside["y"] >= main["y"] + main["height"] - 1
                button = browser.find_element(By.CSS_SELECTOR, "button.copy-button")
                assert button.is_displayed()
                assert button.rect["width"] > 40
            search = browser.find_element(By.ID, "header-q")
            assert search.is_displayed()
            assert search.rect["x"] + search.rect["width"] <= viewport
            _shot(browser, name)
    finally:
        browser.set_window_size(original["width"], original["height"])


def test_keyboard_skip_link(browser: WebDriver, registry_url: str) -> None:
    browser.get(registry_url + "/cubes/acme/handbook")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("\t")
    active = browser.switch_to.active_element
    assert active.text == "Skip to main content"
    assert active.is_displayed()
