"""The shop page in headless Chromium at a phone's size, on 30 products the local runner made.

The stack (tools.embedded_stack.EmbeddedStack) runs in a ThreadedMotoServer, so the presigned images and
downloads the page links to really load from it. 30 drawn photos go through the whole pipeline (S3 ->
EventBridge -> SQS -> every stage); the empty-paper ones are held by the gate. The browser then pages
through the list, filters the held ones, opens one held and one ready product, and downloads one image,
which must be byte for byte the file under ``out/``. Back on the list it ticks three ready products and
asks for a zip of their market images; the export function builds it, and the browser follows the emailed
link (through the review function's Function URL) to a zip whose files are byte for byte those under
``out/``. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
import zipfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from PIL import Image

from picr.links.owner import mint_owner_token
from tests.support.clock import now
from tests.support.mailbox import sent_mail

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


def downloaded(folder: Path, suffix: str = "") -> Path:
    """The one file Chromium finished saving into ``folder``."""
    deadline = time.monotonic() + 30
    while not (done := [p for p in folder.iterdir() if p.name.endswith(suffix) and not p.name.endswith(".crdownload")]):
        assert time.monotonic() < deadline, "the download never finished"
        time.sleep(0.2)
    (saved,) = done
    return saved


def test_the_owner_pages_filters_opens_downloads_and_zips_on_a_phone(moto_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from tests.support.browser import chromium
    from tests.support.function_url import serve_function_url
    from tools.embedded_stack import EmbeddedStack
    from tools.invoke import sample_photo

    mug, paper = (small(sample_photo(with_product=product)) for product in (True, False))
    with serve_function_url() as (base, attach), serve_function_url() as (review_base, attach_review):
        stack = EmbeddedStack(function_urls={"ShopFunction": base, "ReviewFunction": review_base})
        for index in range(PRODUCTS):
            stack.s3.put_object(Bucket=stack.bucket, Key=f"inbox/item-{index:02d}.jpg",
                                Body=paper if index in HELD else mug, ContentType="image/jpeg")
        stack.drain()
        lock = threading.Lock()

        def invoker(function: str):
            def invoke(event: dict) -> dict:
                with lock:  # an invocation swaps os.environ to the function's own: one at a time
                    return stack.invoke(function, event)
            return invoke

        attach(invoker("ShopFunction"))
        attach_review(invoker("ReviewFunction"))
        key = stack.secrets.get_secret_value(SecretId=stack.functions["ShopFunction"].environment[
            "PICR_OWNER_SECRET_ARN"])["SecretString"].encode()
        token = mint_owner_token(key, "shop", now=now(), lifetime=timedelta(days=1))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        downloads, zips = tmp_path / "downloads", tmp_path / "zips"
        downloads.mkdir()
        zips.mkdir()
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
            saved = downloaded(downloads)

            browser.find_element(By.ID, "back").click()  # the list: tick three ready products, zip their market images
            ticks = browser.find_elements(By.CSS_SELECTOR, "li.product[data-state=ready] input[name=job]")[:3]
            ticked = [tick.get_attribute("value") for tick in ticks]
            for tick in ticks:
                tick.click()
            Select(browser.find_element(By.ID, "channel")).select_by_value("market")
            browser.save_screenshot(str(ARTIFACTS / "shop-page-zip.png"))
            browser.find_element(By.ID, "export").click()
            WebDriverWait(browser, 30).until(lambda b: urlsplit(b.current_url).path.endswith("/export"))
            asked = browser.find_element(By.TAG_NAME, "h1").text
            with lock:
                stack.drain()  # the export queue's function builds the zip and mails its link
            (mail,) = [message for message in sent_mail() if message["X-Picr-Kind"] == "export"]
            text = mail.get_body(preferencelist=("plain",)).get_content()
            (link,) = re.findall(r"https?://\S+/download\?t=\S+", text)
            browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(zips)})
            browser.get(link)  # the emailed link: the review function redirects to the zip in the bucket
            zipped = downloaded(zips, ".zip")

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
    (published,) = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=f"out/market/{job_id}.")["Contents"]
    assert saved.name.startswith("Item-") and saved.name.endswith("-market." + published["Key"].rsplit(".", 1)[1])
    body = stack.s3.get_object(Bucket=stack.bucket, Key=published["Key"])["Body"].read()
    assert saved.read_bytes() == body  # byte for byte the file under out/

    assert asked == "Zip on its way" and link.startswith(review_base)
    assert mail["Subject"] == "market: 3 images in one zip" and mail["To"] == "owner@example.com"
    with zipfile.ZipFile(zipped) as archive:
        assert archive.testzip() is None
        files = {name: archive.read(name) for name in archive.namelist()}
    assert len(files) == 3 and all(re.fullmatch(r"Item-\d+-market\.jpg", name) for name in files)
    published_files = sorted(stack.s3.get_object(Bucket=stack.bucket, Key=f"out/market/{job}.jpg")["Body"].read()
                             for job in ticked)
    assert sorted(files.values()) == published_files  # byte for byte the files under out/
