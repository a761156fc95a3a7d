"""The upload page in headless Chromium, end to end, against a moto server on 127.0.0.1.

The stack (tools.embedded_stack.EmbeddedStack) is created in a ThreadedMotoServer; every boto3 client, the handlers'
included, reaches it through ``AWS_ENDPOINT_URL``, so the presigned POST the page receives points at the
server and the browser really uploads there. ``picr-upload`` is served by a small HTTP adapter turning
each request into a Function URL event (payload 2.0). The test then drains the pipeline queue by queue
while the page polls, until the page shows the finished thumbnails; a screenshot of that is kept in
``test-artifacts/`` (``PICR_TEST_ARTIFACTS`` to put it elsewhere).
"""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from picr.links.upload import mint_link_token
from tools.shared_data import SAMPLES

REPO = Path(__file__).resolve().parents[2]
PHOTO = SAMPLES / "toolbox.jpg"
ARTIFACTS = Path(os.environ.get("PICR_TEST_ARTIFACTS", REPO / "test-artifacts"))
pytestmark = pytest.mark.slow


def function_url_event(method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict:
    """What a Lambda Function URL hands the function (payload 2.0): repeated query keys joined by commas."""
    parts = urlsplit(target)
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    lowered = {name.lower(): value for name, value in headers.items()}
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": parts.path or "/", "rawQueryString": parts.query,
        **({"queryStringParameters": query} if query else {}),
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous", "apiId": "local", "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local", "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()), "timeEpoch": int(time.time() * 1000),
            "http": {"method": method, "path": parts.path or "/", "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": lowered.get("user-agent", "")},
        },
        **({"body": body.decode(), "isBase64Encoded": False} if body else {"isBase64Encoded": False}),
    }


def serve_function(stack, logical_id: str, lock: threading.Lock) -> ThreadingHTTPServer:
    """A local stand-in for the function's URL: one invocation per request, one invocation at a time."""

    class Adapter(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._invoke("GET")

        def do_POST(self) -> None:
            self._invoke("POST")

        def _invoke(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            event = function_url_event(method, self.path, dict(self.headers), body, self.client_address[0])
            with lock:  # invocations swap os.environ to the function's own: never two at once
                result = stack.invoke(logical_id, event)
            payload = result.get("body") or ""
            data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
            self.send_response(result["statusCode"])
            for name, value in (result.get("headers") or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Adapter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stuck_jobs(stack) -> list[tuple[str, str]]:
    """Each job's (product, status) and the dead-letter count, for a failure message worth reading."""
    items = stack.dynamodb.scan(TableName=stack.resolver.resolve({"Ref": "JobsTable"}))["Items"]
    jobs = [(item["product"]["S"], item["current_status"]["S"]) for item in items if "current_status" in item]
    return [*jobs, ("dead letters", str(len(stack.dead_letters())))]


def test_a_photo_uploaded_through_the_page_comes_back_as_thumbnails(moto_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.support.browser import chromium
    from tools.embedded_stack import EmbeddedStack

    stack = EmbeddedStack()
    lock = threading.Lock()
    site = serve_function(stack, "UploadFunction", lock)
    key = stack.secrets.get_secret_value(SecretId=stack.functions["UploadFunction"].environment[
        "PICR_UPLOAD_SECRET_ARN"])["SecretString"].encode()
    page = f"http://127.0.0.1:{site.server_address[1]}/"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        with chromium() as browser:
            browser.get(page + "?" + urlencode({"t": mint_link_token(b"a guessed key", "shop")}))
            assert "not valid" in browser.find_element(By.TAG_NAME, "h1").text  # wrong token: no form
            assert not browser.find_elements(By.ID, "photos")

            browser.get(page + "?" + urlencode({"t": mint_link_token(key, "shop")}))
            browser.find_element(By.ID, "product").send_keys("Red toolbox")
            browser.find_element(By.ID, "photos").send_keys(str(PHOTO))
            browser.find_element(By.ID, "send").click()
            WebDriverWait(browser, 30).until(lambda b: "Uploaded" in b.find_element(By.CSS_SELECTOR, ".state").text)
            progress = browser.find_element(By.TAG_NAME, "progress")
            assert float(progress.get_attribute("value")) == 1.0  # the bar reached the end

            idle_since = time.monotonic()
            while "Done" not in (shown := browser.find_element(By.CSS_SELECTOR, ".state").text):
                # Queues empty for longer than two of the page's polls and still no result: the job is stuck.
                assert time.monotonic() - idle_since < 10, (shown, stuck_jobs(stack))
                with lock:
                    moved = sum(stack.poll_once(consumer) for consumer in stack.consumers)
                if moved:
                    idle_since = time.monotonic()
                else:
                    time.sleep(0.5)  # queues empty: let the page's next poll see the result

            def thumbnails_loaded(b) -> bool:
                images = b.find_elements(By.CSS_SELECTOR, ".thumbs img")
                loaded = "return arguments[0].complete && arguments[0].naturalWidth > 0"
                return len(images) == 3 and all(b.execute_script(loaded, image) for image in images)

            WebDriverWait(browser, 15).until(thumbnails_loaded)
            state = browser.find_element(By.CSS_SELECTOR, ".state").text
            captions = [c.text for c in browser.find_elements(By.CSS_SELECTOR, ".thumbs figcaption")]
            sources = [i.get_attribute("src") for i in browser.find_elements(By.CSS_SELECTOR, ".thumbs img")]
            browser.save_screenshot(str(ARTIFACTS / "upload-page-done.png"))
    finally:
        site.shutdown()

    assert state == "Done: Red toolbox is ready."
    assert captions == ["social", "web", "market"]
    assert all(src.startswith(moto_server + "/picr-local-images/out/") for src in sources)
    (upload,) = stack.s3.list_object_versions(Bucket=stack.bucket, Prefix="inbox/upload/")["Versions"]
    assert upload["Key"].startswith("inbox/upload/shop/") and upload["Key"].endswith("-toolbox.jpg")
    head = stack.s3.head_object(Bucket=stack.bucket, Key=upload["Key"])
    assert head["Metadata"]["token-id"] == "shop" and head["ContentLength"] == PHOTO.stat().st_size
    assert (ARTIFACTS / "upload-page-done.png").stat().st_size > 10_000
