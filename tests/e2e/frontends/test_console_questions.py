"""The console's question field in a real browser (headless Chromium): shown when a model serves "answer", each
image's answer on its card, the curl of ``/v1/images/questions``. A small stack of its own: the gateway and a vision
service holding a tiny random BLIP VQA checkpoint, each a real process on a loopback port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.frontends.browser import start_browser, wait_for
from tests.support.gateway import gateway_over
from tests.support.media import photo_png
from tests.support.tiny_vlms import tiny_blip_vqa_dir

pytestmark = pytest.mark.e2e
KEY = "sk-console-questions"


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    models = [{"name": "tiny-blip-vqa", "backend": "blip-vqa", "source": str(tiny_blip_vqa_dir())}]
    with gateway_over({"vision": {"VISION_MODELS": json.dumps(models), "VISION_THREADS": "2"}}, api_keys=KEY,
                      ready_timeout_s=120) as stack:
        yield stack.url


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    driver = start_browser()
    yield driver
    driver.quit()


def test_a_question_is_answered_on_each_images_card(browser: WebDriver, gateway_url: str, tmp_path: Path) -> None:
    photo = tmp_path / "chelsea.png"
    photo.write_bytes(photo_png("chelsea"))
    direct = requests.post(f"{gateway_url}/v1/images/questions", headers={"Authorization": f"Bearer {KEY}"},
                           files=[("file", ("chelsea.png", photo.read_bytes(), "image/png"))],
                           data={"question": "what animal is this?"}, timeout=120).json()
    browser.get(gateway_url + "/console")
    wait_for(browser, "#api-key").send_keys(KEY, Keys.ENTER)
    question = wait_for(browser, "#images-question", timeout_s=60)  # shown once /v1/models lists tiny-blip-vqa
    for box in browser.find_elements(By.CSS_SELECTOR, '#images-form input[name="task"]:checked'):
        box.click()  # this vision service serves no labels nor OCR
    browser.find_element(By.ID, "images-files").send_keys(str(photo))
    question.send_keys("what animal is this?")
    browser.find_element(By.CSS_SELECTOR, "#images-form button[type=submit]").click()
    answer = wait_for(browser, "#images-results .card .answer")
    assert answer.text == f"Answer: {direct['data'][0]['answer']}"
    curl = browser.find_element(By.ID, "curl").text
    assert "/v1/images/questions" in curl and "question=what animal is this?" in curl and "model=tiny-blip-vqa" in curl
