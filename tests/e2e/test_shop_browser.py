"""The shop page in headless Chromium at a phone's size, on 30 products the local runner made.

The stack (tools.embedded_stack.EmbeddedStack) runs in a ThreadedMotoServer, so the presigned images and
downloads the page links to really load from it. 30 drawn photos go through the whole pipeline (S3 ->
EventBridge -> SQS -> every stage); the empty-paper ones are held by the gate. The browser then pages
through the list, filters the held ones, opens one held and one ready product, and downloads one image,
which must be byte for byte the file under ``out/``. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import io
import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from PIL import Image

from picr.links.owner import mint_owner_token
from tests.support.clock import now

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("PICR_TEST_ARTIFACTS", REPO / "test-artifacts"))
PRODUCTS = 30
HELD = range(0, PRODUCTS, 6)  # every sixth photo is the empty paper, which the gate holds
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True}
"""A phone's viewport (headless Chromium's window is never narrower than 500 px: the page is emulated)."""
pytestmark = pytest.mark.slow


def small(photo: bytes) -> bytes:
    """The sample photo at 640×480: 30 of them go through the whole pipeline, and the page is what is tested."""
    with Image.open(io.BytesIO(photo)) as image:
        out = io.BytesIO()
        image.resize((640, 480), Image.Resampling.LANCZOS).save(out, "JPEG", quality=90)
        return out.getvalue()


def test_the_owner_pages_filters_opens_and_downloads_on_a_phone(moto_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.support.browser import chromium
    from tests.support.function_url import serve_function_url
    from tools.embedded_stack import EmbeddedStack
    from tools.invoke import sample_photo

    mug, paper = (small(sample_photo(with_product=product)) for product in (True, False))
    with serve_function_url() as (base, attach):
        stack = EmbeddedStack(function_urls={"ShopFunction": base})
        for index in range(PRODUCTS):
            stack.s3.put_object(Bucket=stack.bucket, Key=f"inbox/item-{index:02d}.jpg",
                                Body=paper if index in HELD else mug, ContentType="image/jpeg")
        stack.drain()
        lock = threading.Lock()

        def invoke(event: dict) -> dict:
            with lock:  # an invocation swaps os.environ to the function's own: one at a time
                return stack.invoke("ShopFunction", event)

        attach(invoke)
        key = stack.secrets.get_secret_value(SecretId=stack.functions["ShopFunction"].environment[
            "PICR_OWNER_SECRET_ARN"])["SecretString"].encode()
        token = mint_owner_token(key, "shop", now=now(), lifetime=timedelta(days=1))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        downloads = tmp_path / "downloads"
        downloads.mkdir()
        with chromium() as browser:
            browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
            browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
            browser.get(base + "?" + urlencode({"t": token}))
            width = browser.execute_script("return window.innerWidth")
            first = [(row.get_attribute("data-job"), row.get_attribute("data-state"))
                     for row in browser.find_elements(By.CSS_SELECTOR, "li.product")]
            browser.save_screenshot(str(ARTIFACTS / "shop-page.png"))
            browser.find_element(By.ID, "next-page").click()
            second = [(row.get_attribute("data-job"), row.get_attribute("data-state"))
                      for row in browser.find_elements(By.CSS_SELECTOR, "li.product")]
            assert not browser.find_elements(By.ID, "next-page")

            browser.find_element(By.ID, "filter-held").click()
            held = [row.get_attribute("data-state") for row in browser.find_elements(By.CSS_SELECTOR, "li.product")]
            browser.save_screenshot(str(ARTIFACTS / "shop-page-held.png"))
            browser.find_element(By.CSS_SELECTOR, "li.product a").click()
            review_link = browser.find_element(By.ID, "review").get_attribute("href")

            browser.find_element(By.ID, "back").click()
            browser.find_element(By.ID, "filter-all").click()
            browser.find_element(By.CSS_SELECTOR, "li.product[data-state=ready] a").click()
            loaded = "return arguments[0].complete && arguments[0].naturalWidth > 0"
            WebDriverWait(browser, 15).until(lambda b: all(
                b.execute_script(loaded, image) for image in b.find_elements(By.CSS_SELECTOR, "figure.channel img")))
            channels = [figure.get_attribute("data-channel")
                        for figure in browser.find_elements(By.CSS_SELECTOR, "figure.channel")]
            timeline = [item.text.split()[0] for item in browser.find_elements(By.CSS_SELECTOR, ".timeline li")]
            manifest = browser.find_element(By.ID, "manifest").text
            browser.save_screenshot(str(ARTIFACTS / "shop-product.png"))
            job_id = browser.current_url.split("job=")[1]
            browser.find_element(By.ID, "download-market").click()
            deadline = time.monotonic() + 15
            while not [p for p in downloads.iterdir() if not p.name.endswith(".crdownload")]:
                assert time.monotonic() < deadline, "the download never finished"
                time.sleep(0.2)

    assert width == PHONE["width"]
    assert len(first) == 20 and len(second) == 10
    assert len({job for job, _ in first + second}) == PRODUCTS
    states = sorted(state for _, state in first + second)
    assert states == sorted(["held"] * len(HELD) + ["ready"] * (PRODUCTS - len(HELD)))
    assert held == ["held"] * len(HELD)
    assert review_link.startswith(stack.functions["ShopFunction"].environment["PICR_REVIEW_URL"])
    assert channels == ["social", "web", "market"]
    assert timeline[0] == "ingested" and timeline[-1] == "ready"
    assert job_id in manifest
    (saved,) = downloads.iterdir()
    (published,) = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=f"out/market/{job_id}.")["Contents"]
    assert saved.name.startswith("Item-") and saved.name.endswith("-market." + published["Key"].rsplit(".", 1)[1])
    body = stack.s3.get_object(Bucket=stack.bucket, Key=published["Key"])["Body"].read()
    assert saved.read_bytes() == body  # byte for byte the file under out/
