"""The fix page of a held job through the real handlers: the review function (Function URL events, payload
2.0) on the template's resources in moto, invoking the real cutout function through the local runner.

Every refusal is checked against a snapshot of the job row, its history, every object version and the
queues: a forged, expired, reused or mis-aimed link, a cross-site post, an edit list over the limits or
outside the photo changes nothing, and the cutout container is not even asked.
"""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlencode

import numpy as np
import pytest
from PIL import Image

from picr.job import Status
from picr.links.review import mint_token, read_token
from picr.pages.fix import fix_page_headers, script
from picr.stages.review_fix import MAX_PREVIEWS, PREVIEW_COUNTER
from tests.integration.test_review import _get, _html, _key, _snapshot, _token
from tests.support.clock import now
from tests.support.function_url import function_url_event, response_body
from tests.support.held_jobs import REVIEW_HOST, job_store, seed_held_job
from tests.support.mailbox import sent_mail

# A remove stroke across the jug's upper left (the jug spans x 393-806, y 580-1019): GrabCut only, no model
# pass, so these tests stay quick. The jug photo is 1200×1600.
REMOVE = {"remove": [[380, 600], [500, 700], [600, 760]], "r": 40}


def _fix_get(stack, token: str) -> dict:
    return stack.invoke("ReviewFunction", function_url_event("GET", "/fix?" + urlencode({"t": token}),
                                                             host=REVIEW_HOST))


def _fix_post(stack, path: str, token: str | None, edits, headers: dict | None = None, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps({"t": token, "edits": edits}).encode()
    headers = {"content-type": "application/json", "origin": "null", "sec-fetch-site": "same-origin",
               **(headers or {})}
    headers = {name: value for name, value in headers.items() if value is not None}
    response = stack.invoke("ReviewFunction", function_url_event(
        "POST", f"/fix/{path}", host=REVIEW_HOST, headers=headers, body=body, user_agent="Mozilla/5.0 (iPhone) test"))
    return response, json.loads(response_body(response))


def _alpha_of(data_uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1]))).convert("LA").getchannel("A"))


def test_the_review_page_links_to_the_fix_page_which_shows_the_tools_and_changes_nothing(review_stack, held):
    before = _snapshot(review_stack, held.job_id)
    page = _html(_get(review_stack, _token(review_stack, held)))
    (link,) = re.findall(r'<a class="button" id="fix" href="([^"]+)"', page)
    fix_token = unescape(link).split("t=", 1)[1]
    assert read_token(_key(review_stack), fix_token, now=now()).action == "fix"

    response = _fix_get(review_stack, fix_token)
    assert response["statusCode"] == 200
    headers = response["headers"]
    assert headers["Content-Security-Policy"] == fix_page_headers()["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "no-referrer"
    html = _html(response)
    # The one script on the page is the reviewed file, allowed by its hash; nothing is loaded from elsewhere.
    assert re.findall(r"<script>(.*?)</script>", html, re.S) == [script()]
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    assert not re.search(r'(src|href)="(https?:)?//', html)
    data = json.loads(re.search(r'<script type="application/json" id="fix-data">(.*?)</script>', html, re.S)[1])
    assert (data["width"], data["height"]) == (held.width, held.height) and data["token"] == fix_token
    photo = re.search(r'<img id="photo" src="data:image/jpeg;base64,([^"]+)"', html)[1]
    mask = re.search(r'<img id="held-mask" src="(data:image/png;base64,[^"]+)"', html)[1]
    shown = Image.open(io.BytesIO(base64.b64decode(photo)))
    assert max(shown.size) == 1000 and _alpha_of(mask).shape == shown.size[::-1]
    assert _snapshot(review_stack, held.job_id) == before


def test_a_preview_runs_in_the_cutout_container_and_is_recorded_without_moving_the_job(review_stack, held):
    token = _token(review_stack, held, "fix")
    response, body = _fix_post(review_stack, "preview", token, [REMOVE])
    assert response["statusCode"] == 200, body
    assert response["headers"]["Content-Type"] == "application/json"
    assert body["edits"] == 1 and isinstance(body["reasons"], list) and "confidence" in body
    shown = _alpha_of(body["mask"])
    assert max(shown.shape) == 1000

    job = job_store(review_stack).get(held.job_id)
    assert (job.status, job.updated_at, job.fix_previews) == (Status.NEEDS_REVIEW, held.updated_at, 1)
    assert not job.spent_tokens  # previews do not spend the link
    entry = job_store(review_stack).history(held.job_id)[-1]
    row = entry.detail
    assert entry.status == Status.NEEDS_REVIEW
    assert (row["event"], row["action"], row["edits"]) == ("fix_preview", "fix_preview", [REMOVE])
    assert row["token_id"] == read_token(_key(review_stack), token, now=now()).nonce
    assert row["user_agent"] == "Mozilla/5.0 (iPhone) test" and row["confidence"] == body["confidence"]
    assert row["passed"] == body["passed"] and row["reasons"] == body["reasons"]
    # Undo is the shorter list: the held cutout again, also recorded. The stroke only took from it.
    response, body = _fix_post(review_stack, "preview", token, [])
    assert response["statusCode"] == 200
    held_shown = _alpha_of(body["mask"])
    assert ((held_shown >= 128) & (shown < 128)).sum() > 2000
    assert not ((shown >= 128) & (held_shown < 128)).any()
    assert job_store(review_stack).get(held.job_id).fix_previews == 2
    assert [e.detail["edits"] for e in job_store(review_stack).history(held.job_id)
            if e.detail.get("event") == "fix_preview"] == [[REMOVE], []]


def test_publishing_a_fix_moves_the_job_on_with_the_owners_cutout_marked_approved(review_stack, held):
    token = _token(review_stack, held, "fix")
    _, preview = _fix_post(review_stack, "preview", token, [REMOVE])
    response, body = _fix_post(review_stack, "publish", token, [REMOVE])
    assert response["statusCode"] == 200 and body["published"] is True
    jobs = job_store(review_stack)
    job = jobs.get(held.job_id)
    assert job.status == Status.CUT and job.owner_approved is True
    nonce = read_token(_key(review_stack), token, now=now()).nonce
    assert job.cutout_key == f"work/{held.job_id}/cutout-fix-{nonce}.png"
    assert job.owner_fix["held_cutout_key"] == held.cutout_key and job.owner_fix["edits"] == [REMOVE]
    # the gate measured the fixed cutout: its verdict is the job's, as the preview showed it
    assert job.confidence == preview["confidence"] and list(job.reasons) == preview["reasons"]
    stored = review_stack.s3.get_object(Bucket=review_stack.bucket, Key=job.cutout_key)["Body"].read()
    fixed = Image.open(io.BytesIO(stored))
    assert fixed.mode == "RGBA" and fixed.size == (held.width, held.height)
    page = np.asarray(Image.fromarray(np.asarray(fixed.getchannel("A"))).resize(
        _alpha_of(preview["mask"]).shape[::-1], Image.Resampling.BOX))
    assert np.abs(page.astype(int) - _alpha_of(preview["mask"])).mean() < 1  # what was previewed is what is kept
    decision = jobs.history(held.job_id)[-1]
    assert (decision.status, decision.detail["action"], decision.detail["edits"]) == (Status.CUT, "fix", [REMOVE])

    review_stack.drain()
    job = jobs.get(held.job_id)
    assert job.status == Status.DONE
    manifest = json.loads(review_stack.s3.get_object(Bucket=review_stack.bucket, Key=job.manifest_key)["Body"].read())
    assert manifest["owner_approved"] is True
    assert manifest["owner_fix"]["strokes"] == 1 and manifest["owner_fix"]["taps"] == 0
    assert manifest["owner_fix"]["held_cutout_key"] == held.cutout_key
    assert [m["X-Picr-Kind"] for m in sent_mail()] == ["ready"]
    # The link is spent: previews and another publish are refused, and change nothing.
    after = _snapshot(review_stack, held.job_id)
    for path in ("preview", "publish"):
        response, body = _fix_post(review_stack, path, token, [REMOVE])
        assert response["statusCode"] == 409 and body["refused"] == "used"
    assert _snapshot(review_stack, held.job_id) == after


def _many_points(count: int) -> list[list[int]]:
    return [[100 + i % 200, 100 + i // 200] for i in range(count)]


FIX_REFUSALS = {
    # name: (path, token builder, edits, extra headers, status, reason)
    "forged": ("preview", lambda s, j: _token(s, j, "fix")[:-3] + "AAA", [REMOVE], {}, 403, "forged"),
    "another key": ("publish", lambda s, j: mint_token(b"k" * 64, job_id=j.job_id, action="fix", kind="email",
                                                       held_at=j.updated_at, expires_at=now() + timedelta(hours=1)),
                    [REMOVE], {}, 403, "forged"),
    "expired": ("publish", lambda s, j: _token(s, j, "fix", expires_at=now() - timedelta(seconds=1)), [REMOVE], {},
                410, "expired"),
    "an approve link": ("preview", lambda s, j: _token(s, j, "approve"), [REMOVE], {}, 403, "wrong-action"),
    "minted for an earlier hold": ("publish", lambda s, j: _token(s, j, "fix", held_at="2020-01-01T00:00:00.000Z"),
                                   [REMOVE], {}, 409, "decided"),
    "another site": ("publish", lambda s, j: _token(s, j, "fix"), [REMOVE], {"sec-fetch-site": "cross-site"}, 403,
                     "cross-site"),
    "no token": ("preview", lambda s, j: None, [REMOVE], {}, 400, "missing"),
    "too many strokes": ("preview", lambda s, j: _token(s, j, "fix"), [REMOVE] * 25, {}, 422, "bad-edits"),
    "too many points": ("publish", lambda s, j: _token(s, j, "fix"), [{"keep": _many_points(257), "r": 10}], {},
                        422, "bad-edits"),
    "a tap outside the photo": ("preview", lambda s, j: _token(s, j, "fix"), [{"tap": [1200, 10]}], {}, 422,
                                "bad-edits"),
    "a stroke outside the photo": ("publish", lambda s, j: _token(s, j, "fix"),
                                   [{"remove": [[10, 10], [10, 1605]], "r": 10}], {}, 422, "bad-edits"),
    "a brush too large": ("preview", lambda s, j: _token(s, j, "fix"), [{"keep": [[10, 10]], "r": 5000}], {}, 422,
                          "bad-edits"),
    "not a list": ("preview", lambda s, j: _token(s, j, "fix"), {"tap": [10, 10]}, {}, 422, "bad-edits"),
    "nothing to publish": ("publish", lambda s, j: _token(s, j, "fix"), [], {}, 422, "bad-edits"),
}


@pytest.mark.parametrize("case", sorted(FIX_REFUSALS))
def test_refused_fix_requests_change_nothing(review_stack, held, case):
    path, build, edits, headers, status, reason = FIX_REFUSALS[case]
    token = build(review_stack, held)
    before = _snapshot(review_stack, held.job_id)
    calls = _count_fixes(review_stack)
    for _ in range(2):
        response, body = _fix_post(review_stack, path, token, edits, headers)
        assert (response["statusCode"], body["refused"]) == (status, reason), body
        assert body["title"] and body["message"]
    assert _snapshot(review_stack, held.job_id) == before
    assert calls() == 0  # the cutout container was never asked


def _count_fixes(stack):
    """How many times the cutout function is invoked from now on (wraps the local runner's invoke)."""
    invoked = []
    original = stack.invoke

    def counting(logical_id, event):
        if logical_id == "CutoutFunction":
            invoked.append(event)
        return original(logical_id, event)

    stack.invoke = counting
    return lambda: len(invoked)


def test_an_oversized_or_unreadable_body_is_refused(review_stack, held):
    before = _snapshot(review_stack, held.job_id)
    token = _token(review_stack, held, "fix")
    for raw in (b"not json", b"[1, 2]", json.dumps({"t": token, "edits": [REMOVE], "x": "y" * 70_000}).encode()):
        response, body = _fix_post(review_stack, "preview", None, None, raw=raw)
        assert response["statusCode"] == 400 and body["refused"] == "missing"
    assert _snapshot(review_stack, held.job_id) == before


def test_previews_stop_at_the_limit_per_hold(review_stack, held):
    job_store(review_stack).update(held.job_id, {PREVIEW_COUNTER: MAX_PREVIEWS})
    before = _snapshot(review_stack, held.job_id)
    response, body = _fix_post(review_stack, "preview", _token(review_stack, held, "fix"), [REMOVE])
    assert response["statusCode"] == 429 and body["refused"] == "too-many-previews"
    assert _snapshot(review_stack, held.job_id) == before


def test_a_fix_the_container_cannot_run_is_refused_and_changes_nothing(review_stack, held):
    review_stack.s3.delete_object(Bucket=review_stack.bucket, Key=held.source_work_key)  # the photo is gone
    before = _snapshot(review_stack, held.job_id)
    response, body = _fix_post(review_stack, "publish", _token(review_stack, held, "fix"), [REMOVE])
    assert response["statusCode"] == 502 and body["refused"] == "fix-failed"
    assert _snapshot(review_stack, held.job_id) == before


def test_the_fix_page_is_only_offered_where_the_review_function_can_reach_the_cutout_container(aws, clock):
    from tools.embedded_stack import EmbeddedStack

    stack = EmbeddedStack(function_urls={"ReviewFunction": f"https://{REVIEW_HOST}/"})
    review = stack.functions["ReviewFunction"]
    review.environment.pop("PICR_FIX_FUNCTION")
    held = seed_held_job(stack, held_at=clock.at(-timedelta(hours=2)))
    assert 'id="fix"' not in _html(_get(stack, _token(stack, held)))
    response = _fix_get(stack, _token(stack, held, "fix"))
    assert response["statusCode"] == 403 and "Not available" in _html(response)
