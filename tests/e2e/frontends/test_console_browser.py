"""The web console and the API docs in a real browser (headless Chromium) against the real stack.

Each area leaves a screenshot under .run/artifacts/browser/ (see browser.py); docs/images/ holds copies of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.frontends.browser import screenshot, start_browser, wait_for
from tests.e2e.frontends.conftest import UserStack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    driver = start_browser()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def console(browser: WebDriver, user_stack: UserStack) -> WebDriver:
    """The console, signed in with the stack's key."""
    browser.get(user_stack.url + "/console")
    wait_for(browser, "#api-key").send_keys(user_stack.api_key, Keys.ENTER)
    wait_for(browser, "#signed-in")
    return browser


def _tab(driver: WebDriver, name: str) -> None:
    driver.find_element(By.ID, f"tab-{name}").click()
    wait_for(driver, f"#panel-{name}")


def _curl(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "curl").text


def test_sign_in_keeps_the_key_in_the_tab_only(console: WebDriver, user_stack: UserStack) -> None:
    assert console.execute_script("return sessionStorage.getItem('polyserve.apiKey')") == user_stack.api_key
    assert console.execute_script("return localStorage.length") == 0
    assert user_stack.api_key not in console.current_url


def test_classify_the_cat_photo(console: WebDriver, media: Path) -> None:
    _tab(console, "images")
    console.find_element(By.ID, "images-files").send_keys(str(media / "photos" / "chelsea.png"))
    console.find_element(By.CSS_SELECTOR, "#images-form button[type=submit]").click()
    card = wait_for(console, "#images-results .card", text="Egyptian cat")
    assert "chelsea.png" in card.text
    curl = _curl(console)
    assert "/v1/images/" in curl and "$POLYSERVE_API_KEY" in curl and "sk-" not in curl
    screenshot(console, "console-images")


def test_a_bad_image_shows_its_error(console: WebDriver, media: Path) -> None:
    files = console.find_element(By.ID, "images-files")
    console.execute_script("arguments[0].value = ''", files)
    files.send_keys(str(media / "broken.png"))
    console.find_element(By.CSS_SELECTOR, "#images-form button[type=submit]").click()
    error = wait_for(console, "#images-results .item-error")
    assert error.text.startswith("Error invalid_image: ")


def test_transcribe_a_spoken_sentence(console: WebDriver, media: Path) -> None:
    _tab(console, "audio")
    console.find_element(By.ID, "audio-file").send_keys(str(media / "speech.wav"))
    console.find_element(By.CSS_SELECTOR, "#audio-form button[type=submit]").click()
    table = wait_for(console, "#audio-segments", text="fox")
    assert "0.00" in table.text
    assert [b.text for b in console.find_elements(By.CSS_SELECTOR, "#audio-downloads button")] == [
        "Download SRT", "Download VTT"]
    screenshot(console, "console-audio")


def test_a_long_recording_runs_as_a_job(console: WebDriver, media: Path) -> None:
    console.find_element(By.ID, "audio-job").click()
    console.find_element(By.CSS_SELECTOR, "#audio-form button[type=submit]").click()
    wait_for(console, "#audio-status", text="Job ")
    wait_for(console, "#audio-status", text="fox")
    _tab(console, "jobs")
    row = wait_for(console, "#jobs-table tbody tr", text="succeeded")
    row.find_element(By.XPATH, ".//button[text()='Result']").click()
    assert "fox" in wait_for(console, "#job-result").text.lower()
    screenshot(console, "console-jobs")


def test_embeddings_heat_map(console: WebDriver) -> None:
    _tab(console, "embeddings")
    console.find_element(By.CSS_SELECTOR, "#embeddings-form button[type=submit]").click()
    table = wait_for(console, "#embeddings-results table.heat")
    cells = [float(cell.text) for cell in table.find_elements(By.CSS_SELECTOR, "tbody td")]
    assert len(cells) == 9 and cells[0] == pytest.approx(1.0, abs=0.01)
    assert cells[1] > cells[2]  # the cat and the kitten are closer than the cat and the stock market
    screenshot(console, "console-embeddings")


def test_collection_upload_and_search(console: WebDriver, media: Path) -> None:
    _tab(console, "collections")
    console.find_element(By.ID, "collection-name").send_keys("browser_photos", Keys.ENTER)
    wait_for(console, "#collection-select option", text="browser_photos")
    paths = [media / "photos" / f"{name}.png" for name in ("chelsea", "coffee", "rocket", "astronaut")]
    console.find_element(By.ID, "upload-files").send_keys("\n".join(str(p) for p in [*paths, media / "broken.png"]))
    console.find_element(By.CSS_SELECTOR, "#collection-upload button[type=submit]").click()
    wait_for(console, "#upload-progress caption", text="4 added, 1 failed")
    broken = console.find_element(By.XPATH, "//table[@id='upload-progress']//tr[td[1]='broken.png']")
    assert "Error " in broken.text
    search = console.find_element(By.ID, "search-text")
    search.send_keys("a cup of coffee")
    console.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    first = wait_for(console, "#search-results li")
    assert first.find_element(By.CSS_SELECTOR, ".result-id").text == "coffee.png"
    assert (first.find_element(By.TAG_NAME, "img").get_attribute("src") or "").startswith("data:image/jpeg")
    assert "score" in first.text
    console.execute_script("document.getElementById('search-form').scrollIntoView()")
    screenshot(console, "console-collections")


OVERFLOWING = """const width = window.innerWidth;
return [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > width + 1)
  .map((e) => `${e.tagName}#${e.id}.${e.className}`);"""


def test_narrow_screen_has_no_sideways_scroll(console: WebDriver) -> None:
    """A phone-sized viewport (390 CSS pixels, emulated: headless windows stop at 500) with the results shown."""
    console.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    try:
        for area in ("images", "audio", "embeddings", "jobs", "collections"):
            _tab(console, area)
            assert console.execute_script("return window.innerWidth") == 390
            assert console.execute_script(OVERFLOWING) == [], area
        screenshot(console, "console-narrow")
    finally:
        console.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_api_errors_show_message_and_code(browser: WebDriver, user_stack: UserStack) -> None:
    browser.get(user_stack.url + "/console/")
    browser.execute_script("sessionStorage.setItem('polyserve.apiKey', 'sk-wrong')")
    browser.refresh()
    browser.find_element(By.ID, "tab-collections").click()
    error = wait_for(browser, "#error", text="invalid_api_key")
    assert "HTTP 401" in error.text


def test_api_docs_render_and_try_an_operation(browser: WebDriver, user_stack: UserStack) -> None:
    browser.get(user_stack.url + "/docs")
    wait_for(browser, ".opblock", timeout_s=60)
    assert "Unable to render" not in browser.page_source
    browser.find_element(By.CSS_SELECTOR, "button.authorize").click()
    wait_for(browser, ".modal-ux input").send_keys(user_stack.api_key)
    browser.find_element(By.CSS_SELECTOR, ".modal-ux button.authorize").click()
    browser.find_element(By.CSS_SELECTOR, ".modal-ux button.btn-done").click()
    operation = wait_for(browser, ".opblock-get", text="/v1/models")
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait_for(browser, ".opblock.is-open .execute").click()
    status = wait_for(browser, ".opblock.is-open .live-responses-table tbody .response-col_status", timeout_s=60)
    assert status.text.strip().startswith("200")
    screenshot(browser, "docs")
