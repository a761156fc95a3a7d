"""The review page in headless Chromium: the owner opens the Approve link from the email, sees the photo and
the cutout side by side, approves, and the held job is published like any other (ready email included).

The review function is served on 127.0.0.1 through a Function URL adapter (payload 2.0) and runs in this
process on moto; the pipeline after the click is drained with the local runner.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from picr.job import Status
from tests.support.browser import chromium
from tests.support.clock import now
from tests.support.function_url import serve_function_url
from tests.support.held_jobs import job_store, seed_held_job
from tests.support.mailbox import links_in, publish, sent_mail

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_the_owner_approves_a_held_cutout_from_the_review_page(aws, tmp_path_factory):
    from tools.embedded_stack import EmbeddedStack

    artifacts = tmp_path_factory.mktemp("review-page")
    with serve_function_url() as (base_url, attach):
        stack = EmbeddedStack(function_urls={"ReviewFunction": base_url})
        held = seed_held_job(stack, held_at=now() - timedelta(hours=25))
        assert publish(stack, held.job_id, "review") == {"batchItemFailures": []}
        approve_url = links_in(sent_mail()[0])["Approve cutout"]
        assert approve_url.startswith(base_url)
        attach(lambda event: stack.invoke("ReviewFunction", event))

        with chromium() as browser:
            browser.get(approve_url)
            assert browser.title == "Glass jug: needs review · picr"
            images = browser.find_elements(By.CSS_SELECTOR, "figure img")
            assert [image.get_attribute("alt") for image in images] == ["Your photo", "Attempted cutout"]
            for image in images:
                assert image.get_property("complete") and image.get_property("naturalWidth") > 0
            photo, cutout = (image.rect for image in images)
            assert photo["y"] == cutout["y"] and photo["x"] + photo["width"] <= cutout["x"]  # side by side
            assert cutout["x"] + cutout["width"] <= browser.execute_script("return window.innerWidth")
            browser.save_screenshot(str(artifacts / "review-page.png"))
            # Opening the page decided nothing.
            assert job_store(stack).get(held.job_id).status == Status.NEEDS_REVIEW

            browser.find_element(By.ID, "approve").click()
            WebDriverWait(browser, 10).until(lambda b: b.title.startswith("Approved"))
            assert "being made from this cutout" in browser.find_element(By.TAG_NAME, "main").text
            browser.save_screenshot(str(artifacts / "review-approved.png"))
            print(f"screenshots: {artifacts}")

    stack.drain()
    job = job_store(stack).get(held.job_id)
    assert job.status == Status.DONE and len(job.outputs) == 3
    assert [m["X-Picr-Kind"] for m in sent_mail()] == ["review", "ready"]
    decision = job_store(stack).history(held.job_id)[1]
    assert (decision.status, decision.detail["action"], decision.detail["source_ip"]) == ("cut", "approve", "127.0.0.1")
    assert "Chrome" in decision.detail["user_agent"]
