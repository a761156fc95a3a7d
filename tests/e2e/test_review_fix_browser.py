"""The fix page in headless Chromium on a phone (390×844, touch): the guitar in the cluttered room (case 03) and
the drum kit on thin stands (case 07) go through the real pipeline, are held, and the owner fixes each from
the review email's link with a tap and a few finger strokes, publishes, and gets the ready email.

The fingers are the simulated owner's (``tools.simulated_owner``): the tap on the true mask's innermost
point, each stroke through the largest region still wrong in what the page shows. They are dispatched as
real touch events (Chrome DevTools ``Input.dispatchTouchEvent``) on the page's canvas. The review function is
served on 127.0.0.1 through a Function URL adapter and invokes the cutout function through the local runner,
as it invokes the cutout container in AWS.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from picr.job import Status
from tests.support.browser import chromium
from tests.support.function_url import serve_function_url
from tests.support.held_jobs import job_store
from tests.support.mailbox import links_in, sent_mail
from tools.shared_data import CASES
from tools.simulated_owner import TARGET_IOU, brushes_for, error_stroke, innermost_point, score

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("PICR_TEST_ARTIFACTS", REPO / "test-artifacts"))
ACCEPT_IOU = 0.92
PREVIEW_WAIT_S = 600   # a tap is several model passes; on a busy shared machine that takes a while
PAGE_STROKES = 10
"""On the page the owner brushes until it looks right (the simulated owner's budget of three strokes is the
other acceptance measure, ``make simulated-owner``); ten strokes and a tap stay well inside the edit limit."""


def _phone(browser) -> None:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True})
    browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})


def _touch(browser, kind: str, x: float, y: float) -> None:
    points = [] if kind == "touchEnd" else [{"x": x, "y": y, "radiusX": 6, "radiusY": 6, "force": 1, "id": 0}]
    browser.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})


def _tap_element(browser, element) -> None:
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    box = browser.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.x + r.width / 2, "
                                 "r.y + r.height / 2]", element)
    _touch(browser, "touchStart", *box)
    _touch(browser, "touchEnd", *box)


def _canvas_box(browser) -> dict:
    canvas = browser.find_element(By.ID, "edit")
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", canvas)
    return browser.execute_script("const r = arguments[0].getBoundingClientRect(); "
                                  "return {x: r.x, y: r.y, width: r.width, height: r.height}", canvas)


def _to_screen(box: dict, size: tuple[int, int], point: tuple[int, int]) -> tuple[float, float]:
    return (box["x"] + (point[0] + 0.5) * box["width"] / size[0],
            box["y"] + (point[1] + 0.5) * box["height"] / size[1])


def _shown_alpha(browser, size: tuple[int, int]) -> np.ndarray:
    """The cutout the page shows now (its preview mask), at the photo's size: what the owner looks at."""
    source = browser.find_element(By.ID, "shown-mask").get_attribute("src")
    mask = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).convert("LA").getchannel("A")
    return np.asarray(mask.resize(size, Image.Resampling.BILINEAR))


def _wait_previewed(browser, edits: int) -> None:
    WebDriverWait(browser, PREVIEW_WAIT_S, poll_frequency=0.5).until(
        lambda b: b.find_element(By.ID, "edit").get_attribute("data-previewed") == str(edits)
        or b.find_element(By.ID, "status").get_attribute("data-state") == "refused")
    assert browser.find_element(By.ID, "status").get_attribute("data-state") != "refused", \
        browser.find_element(By.ID, "status").text


def _fix_on_the_page(browser, truth_full: np.ndarray, size: tuple[int, int]) -> list[float]:
    """Tap, then strokes (at most ``PAGE_STROKES``), each placed on what the page shows; the IoU after each."""
    truth = cv2.resize(truth_full, size, interpolation=cv2.INTER_LINEAR) >= 0.5
    box = _canvas_box(browser)
    _touch(browser, "touchStart", *_to_screen(box, size, innermost_point(truth)))
    _touch(browser, "touchEnd", *_to_screen(box, size, innermost_point(truth)))
    _wait_previewed(browser, 1)
    scores = [score(truth_full, _shown_alpha(browser, size))]
    for index in range(PAGE_STROKES):
        if scores[-1] >= TARGET_IOU:
            break
        stroke = error_stroke(truth, _shown_alpha(browser, size), brushes_for(size), index)
        if stroke is None:
            break
        _tap_element(browser, browser.find_element(By.ID, f"tool-{stroke.mode}"))
        box = _canvas_box(browser)
        css_radius = stroke.radius * box["width"] / size[0]
        browser.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
                               browser.find_element(By.ID, "size"), css_radius)
        points = [_to_screen(box, size, point) for point in stroke.points]
        _touch(browser, "touchStart", *points[0])
        for point in points[1:]:
            _touch(browser, "touchMove", *point)
        _touch(browser, "touchEnd", *points[-1])
        _wait_previewed(browser, 2 + index)
        scores.append(score(truth_full, _shown_alpha(browser, size)))
    return scores


@pytest.mark.parametrize("case", [
    "03_guitar_cluttered_living_room",
    pytest.param("07_drum_kit_thin_stands_white_paper", marks=pytest.mark.xfail(strict=True, reason=(
        "not reached: the cymbals come back, but the chrome stands are the paper's colour and thinner than the "
        "smallest brush, and the page stops near IoU 0.86; perfect strokes that left only the outline's 1 px rim "
        "would stop at 0.912 (tools.owner_bounds)"))),
])
def test_the_owner_fixes_a_held_cutout_on_a_phone_and_it_is_published(aws, case):
    from tools.embedded_stack import EmbeddedStack

    photo = CASES / case / "photo.jpg"
    truth_full = np.asarray(Image.open(CASES / case / "mask.png").convert("L"), np.float32) / 255.0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serve_function_url() as (base_url, attach):
        stack = EmbeddedStack(function_urls={"ReviewFunction": base_url})
        stack.s3.put_object(Bucket=stack.bucket, Key=f"inbox/{case[3:]}.jpg", Body=photo.read_bytes())
        stack.drain()
        (held,) = job_store(stack).in_status(Status.NEEDS_REVIEW)
        size = (int(held.width or 0), int(held.height or 0))
        review_url = links_in(sent_mail()[0])["Approve cutout"]
        attach(lambda event: stack.invoke("ReviewFunction", event))

        with chromium() as browser:
            _phone(browser)
            browser.get(review_url)
            _tap_element(browser, browser.find_element(By.ID, "fix"))
            WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "edit").get_attribute("data-ready"))
            assert browser.execute_script("return window.innerWidth") == 390
            assert job_store(stack).get(held.job_id).status == Status.NEEDS_REVIEW
            scores = _fix_on_the_page(browser, truth_full, size)
            browser.save_screenshot(str(ARTIFACTS / f"fix-{case[:2]}-before-publish.png"))
            print(f"{case}: IoU on the page after the tap and each stroke: {[round(s, 3) for s in scores]}")
            assert scores[-1] >= ACCEPT_IOU
            _tap_element(browser, browser.find_element(By.ID, "publish"))
            WebDriverWait(browser, 120).until(lambda b: b.find_element(By.ID, "status").get_attribute(
                "data-state") in ("published", "refused"))
            assert "being made from your cutout" in browser.find_element(By.ID, "done").text
            browser.save_screenshot(str(ARTIFACTS / f"fix-{case[:2]}-published.png"))

    stack.drain()
    jobs = job_store(stack)
    job = jobs.get(held.job_id)
    assert job.status == Status.DONE and job.owner_approved is True
    fixed = stack.s3.get_object(Bucket=stack.bucket, Key=job.cutout_key)["Body"].read()
    published_iou = score(truth_full, np.asarray(Image.open(io.BytesIO(fixed)).getchannel("A")))
    print(f"{case}: published cutout IoU {published_iou:.3f}")
    assert published_iou >= ACCEPT_IOU
    manifest = stack.s3.get_object(Bucket=stack.bucket, Key=job.manifest_key)["Body"].read()
    assert b'"owner_approved": true' in manifest
    assert [m["X-Picr-Kind"] for m in sent_mail()] == ["review", "ready"]
    history = [entry.detail for entry in jobs.history(held.job_id)]
    previews = [row for row in history if row.get("event") == "fix_preview"]
    assert len(previews) == len(scores) and previews[0]["edits"][0].keys() == {"tap"}
    decision = next(row for row in history if row.get("action") == "fix")
    assert decision["edits"] == previews[-1]["edits"] and "Chrome" in decision["user_agent"]
