"""Headless Chromium (Debian's ``chromium`` and ``chromium-driver`` packages) driven by Selenium, and the
screenshots the browser tests keep as artifacts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.processes import ROOT

# Kept after the run (CI can upload the folder); POLYSERVE_ARTIFACTS moves it.
ARTIFACTS = Path(os.environ.get("POLYSERVE_ARTIFACTS", ROOT / ".run" / "artifacts")) / "browser"


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"none of {names} is installed: run `make system-deps` (Debian chromium, chromium-driver)")


def start_browser(width: int = 1280, height: int = 1000) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}", "--use-fake-ui-for-media-stream"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(_binary("chromedriver")))
    driver.set_page_load_timeout(60)
    return driver


def wait_for(driver: WebDriver, css: str, *, text: str | None = None, timeout_s: float = 180) -> WebElement:
    """The first element matching ``css`` once it is displayed (and holds ``text``); the console's error box, if
    it shows meanwhile, ends the wait with its message."""

    def found(d: WebDriver) -> WebElement | bool:
        error = d.find_elements("css selector", "#error")
        if css != "#error" and error and error[0].is_displayed() and error[0].text:
            raise AssertionError(f"the console shows an error: {error[0].text}")
        for element in d.find_elements("css selector", css):
            if element.is_displayed() and (text is None or text in element.text):
                return element
        return False

    element = WebDriverWait(driver, timeout_s, poll_frequency=0.3).until(found)
    if not isinstance(element, WebElement):
        raise AssertionError(f"{css} not found")
    return element


def screenshot(driver: WebDriver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
