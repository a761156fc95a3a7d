"""The review lane: the review email's links, the review page, and what Approve / Reject / Retry / a reshoot do.

The page and the decisions go through the real ``picr-review`` handler (Function URL events, payload 2.0) on
the template's resources in moto, and every refusal is checked against a snapshot of the job row, its
history, the bucket (every version) and the queues. The tokens themselves: ``tests/unit/test_review_links.py``.
"""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import numpy as np
import pytest
from PIL import Image

from picr.aws.bucket import ImageBucket
from picr.aws.queues import QueueSender
from picr.image.limits import IntakeLimits
from picr.intake.origin import Origin
from picr.job import Status
from picr.links.review import mint_token, read_token
from picr.segmentation.gate import GateThresholds
from picr.stages.cutout import CutoutContext, cut
from picr.stages.ingest import IngestContext, UploadedObject, ingest, source_identity
from tests.support.clock import iso, now
from tests.support.function_url import function_url_event, response_body
from tests.support.held_jobs import GLASS_JUG, REASONS, REVIEW_HOST, job_store, seed_held_job
from tests.support.mailbox import links_in, publish, sent_mail

# ------------------------------------------------------------------ the function, in moto


def _key(stack) -> bytes:
    arn = stack.resolver.resolve({"Ref": "ReviewTokenSecret"})
    return stack.secrets.get_secret_value(SecretId=arn)["SecretString"].encode()


def _token(stack, job, action="approve", **overrides) -> str:
    fields = {"job_id": job.job_id, "action": action, "kind": "email", "held_at": job.updated_at,
              "expires_at": now() + timedelta(hours=1), **overrides}
    return mint_token(_key(stack), **fields)


def _get(stack, token: str) -> dict:
    return stack.invoke("ReviewFunction", function_url_event("GET", "/?" + urlencode({"t": token}), host=REVIEW_HOST))


def _post(stack, token: str, action: str, headers: dict | None = None) -> dict:
    body = urlencode({"t": token, "action": action}).encode()
    headers = {"content-type": "application/x-www-form-urlencoded", "origin": "null",  # as under no-referrer
               "sec-fetch-site": "same-origin", **(headers or {})}
    headers = {name: value for name, value in headers.items() if value is not None}
    return stack.invoke("ReviewFunction", function_url_event(
        "POST", "/", host=REVIEW_HOST, headers=headers, body=body, user_agent="Mozilla/5.0 (iPhone) test"))


def _html(response: dict) -> str:
    return response_body(response).decode()


def _snapshot(stack, job_id: str) -> dict:
    """Everything a decision could change: the job, its history, every object version, the queues."""
    jobs = job_store(stack)
    versions = stack.s3.list_object_versions(Bucket=stack.bucket)
    queued = {}
    for consumer in stack.consumers:
        attributes = stack.sqs.get_queue_attributes(
            QueueUrl=consumer.queue_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        queued[consumer.queue_logical_id] = attributes["ApproximateNumberOfMessages"]
    return {
        "job": jobs.get(job_id),
        "history": jobs.history(job_id),
        "objects": sorted((v["Key"], v["VersionId"], v["IsLatest"]) for v in versions.get("Versions", [])),
        "delete_markers": sorted((m["Key"], m["VersionId"]) for m in versions.get("DeleteMarkers", [])),
        "queued": queued,
    }


def test_the_review_email_carries_signed_links_to_the_review_function(review_stack, held):
    assert publish(review_stack, held.job_id, "review") == {"batchItemFailures": []}
    (message,) = sent_mail()
    assert message["X-Picr-Kind"] == "review"
    links = links_in(message)
    assert set(links) == {"Approve cutout", "Reject"}  # no hosted engine in this deployment: no Retry
    html = message.get_body(preferencelist=("html",)).get_content()
    for label, url in links.items():
        assert url.startswith(f"https://{REVIEW_HOST}/?t=")
        assert f'href="{url}"' in unescape(html).replace("&amp;", "&")
        token = read_token(_key(review_stack), parse_qs(urlsplit(url).query)["t"][0], now=now())
        assert (token.job_id, token.kind, token.held_at) == (held.job_id, "email", held.updated_at)
        assert token.action == {"Approve cutout": "approve", "Reject": "reject"}[label]
        assert timedelta(hours=71) < token.expires_at - now() <= timedelta(hours=72)


def test_decision_links_go_only_to_the_owner_and_the_sender_is_told_plainly(review_stack, clock):
    sender = "staff@example.com"  # a colleague at an allowed domain mailed the photo in
    held = seed_held_job(review_stack, held_at=clock.at(-timedelta(hours=1)), source=f"email:{sender}",
                         origin={"lane": "email", "sender": sender, "reply_to": sender})
    for _attempt in range(2):  # a redelivered announcement sends nothing twice
        assert publish(review_stack, held.job_id, "review") == {"batchItemFailures": []}
    owner_mail, sender_mail = sorted(sent_mail(), key=lambda m: m["X-Picr-Kind"] != "review")
    assert owner_mail["To"] == "owner@example.com" and set(links_in(owner_mail)) == {"Approve cutout", "Reject"}
    assert sender_mail["To"] == sender and sender_mail["Subject"] == "Glass jug: waiting for the shop's review"
    text = sender_mail.get_body(preferencelist=("plain",)).get_content()
    html = sender_mail.get_body(preferencelist=("html",)).get_content()
    assert REASONS[0] in text and "nothing was published" in text
    for body in (text, html):  # no link to the review function, nor any other
        assert "http" not in body and "Approve" not in body


def test_opening_a_link_shows_both_images_and_the_buttons_and_changes_nothing(review_stack, held):
    before = _snapshot(review_stack, held.job_id)
    response = _get(review_stack, _token(review_stack, held))
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("text/html")
    assert response["headers"]["Cache-Control"] == "no-store"
    assert response["headers"]["Referrer-Policy"] == "no-referrer"
    assert "script-src" not in response["headers"]["Content-Security-Policy"]  # default-src 'none': no script
    html = _html(response)
    images = re.findall(r'<img src="data:image/jpeg;base64,([^"]+)" alt="([^"]+)"', html)
    assert [alt for _data, alt in images] == ["Your photo", "Attempted cutout"]
    decoded = [Image.open(io.BytesIO(base64.b64decode(data))) for data, _alt in images]
    assert all(max(image.size) == 800 for image in decoded)
    # The cutout sits on a checkerboard: its transparent corner shows both checker greys, the photo's does not.
    corner = np.asarray(decoded[1].convert("L"))[:32, :32]
    assert corner.min() < 215 and corner.max() > 245
    texts = {unescape(part).strip() for part in re.findall(r">([^<>]+)<", html)}
    assert {"Glass jug: needs review", REASONS[0]} <= texts
    forms = re.findall(r'<form method="post">(.*?)</form>', html, re.S)
    assert [re.search(r'name="action" value="(\w+)"', form).group(1) for form in forms] == ["approve", "reject"]
    assert "<script" not in html
    assert _snapshot(review_stack, held.job_id) == before


def _first_use(stack, job, action="approve"):
    token = _token(stack, job, action)
    assert _post(stack, token, action)["statusCode"] == 200
    return token


def _earlier(moment: str) -> str:
    return iso(datetime.fromisoformat(moment) - timedelta(days=1))


REFUSALS = {
    # name: (build the request, expected status, expected words on the page)
    "forged": (lambda s, j: ("POST", _token(s, j)[:-3] + "AAA", "approve", {}), 403, "not valid"),
    "other key": (lambda s, j: ("POST", mint_token(b"k" * 64, job_id=j.job_id, action="approve", kind="email",
                                                   held_at=j.updated_at, expires_at=now() + timedelta(hours=1)),
                                "approve", {}), 403, "not valid"),
    "expired": (lambda s, j: ("POST", _token(s, j, expires_at=now() - timedelta(seconds=1)), "approve", {}),
                410, "expired"),
    "wrong action": (lambda s, j: ("POST", _token(s, j, "reject"), "approve", {}), 403, "different action"),
    "no token": (lambda s, j: ("POST", "", "approve", {}), 400, "opens from a picr email"),
    "another site": (lambda s, j: ("POST", _token(s, j), "approve", {"sec-fetch-site": "cross-site"}), 403,
                     "review page"),
    "another origin": (lambda s, j: ("POST", _token(s, j), "approve",
                                     {"origin": "https://evil.example", "sec-fetch-site": None}), 403, "review page"),
    "minted for an earlier hold": (lambda s, j: ("POST", _token(s, j, held_at=_earlier(j.updated_at)),
                                                 "approve", {}), 409, "no longer waiting"),
    "GET only": (lambda s, j: ("GET", _token(s, j), None, {}), 200, "needs review"),
    "retry without a hosted engine": (lambda s, j: ("POST", _token(s, j, "retry"), "retry", {}), 403,
                                      "not available"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refused_requests_change_nothing(review_stack, held, case):
    build, status, words = REFUSALS[case]
    method, token, action, headers = build(review_stack, held)
    before = _snapshot(review_stack, held.job_id)
    for _ in range(2):  # a prefetching mail client may fetch twice
        response = _get(review_stack, token) if method == "GET" else _post(review_stack, token, action, headers)
        assert response["statusCode"] == status, _html(response)[-400:]
        assert words in unescape(_html(response))
    assert _snapshot(review_stack, held.job_id) == before


@pytest.mark.parametrize("second", ["approve", "reject"])
def test_a_used_link_and_its_siblings_are_dead_after_a_decision(review_stack, held, second):
    used = _first_use(review_stack, held, "approve")
    sibling = _token(review_stack, held, "reject")  # minted for the same hold, never used
    after_first = _snapshot(review_stack, held.job_id)
    token = used if second == "approve" else sibling
    response = _post(review_stack, token, second)
    assert response["statusCode"] == 409
    assert ("already used" if second == "approve" else "no longer waiting") in _html(response)
    assert _get(review_stack, token)["statusCode"] == 409
    assert _snapshot(review_stack, held.job_id) == after_first


def test_approve_builds_the_variants_publishes_and_sends_the_ready_email(review_stack, held):
    token = _token(review_stack, held, "approve")
    response = _post(review_stack, token, "approve")
    assert response["statusCode"] == 200 and "Approved" in _html(response)
    job = job_store(review_stack).get(held.job_id)
    assert job.status == Status.CUT and job.review_round == 1
    assert read_token(_key(review_stack), token, now=now()).nonce in job.spent_tokens

    review_stack.drain()
    job = job_store(review_stack).get(held.job_id)
    assert job.status == Status.DONE
    stored = review_stack.s3.get_object(Bucket=review_stack.bucket, Key=job.manifest_key)
    manifest = json.loads(stored["Body"].read())
    assert sorted(o["channel"] for o in manifest["outputs"]) == ["market", "social", "web"]
    for output in job.outputs:
        review_stack.s3.head_object(Bucket=review_stack.bucket, Key=output.key)
    (ready,) = [m for m in sent_mail() if m["X-Picr-Kind"] == "ready"]
    assert ready["Subject"] == "Glass jug: 3 images ready" and ready["X-Picr-Job"] == held.job_id

    # The audit trail: who decided, from which link, with which browser, and what followed.
    history = job_store(review_stack).history(held.job_id)
    assert [row.status for row in history] == ["needs_review", "cut", "varied", "done"]
    decision = history[1]
    audit = decision.detail
    assert audit["action"] == "approve" and audit["link"] == "email" and audit["by"] == "review link"
    assert audit["token_id"] == read_token(_key(review_stack), token, now=now()).nonce
    assert audit["source_ip"] == "198.51.100.7" and audit["user_agent"] == "Mozilla/5.0 (iPhone) test"


def test_reject_closes_the_job_and_moves_the_original_to_rejected(review_stack, held):
    original = review_stack.s3.get_object(Bucket=review_stack.bucket, Key=held.source_key)["Body"].read()
    response = _post(review_stack, _token(review_stack, held, "reject"), "reject")
    assert response["statusCode"] == 200 and "Rejected" in _html(response)
    job = job_store(review_stack).get(held.job_id)
    assert job.status == Status.REJECTED and job.moved is True
    assert job.rejected_key == f"rejected/{held.job_id}/glass_jug.jpg"
    kept = review_stack.s3.get_object(Bucket=review_stack.bucket, Key=job.rejected_key)["Body"].read()
    assert kept == original
    listed = review_stack.s3.list_objects_v2(Bucket=review_stack.bucket, Prefix="inbox/").get("Contents", [])
    assert listed == []
    assert [row.status for row in job_store(review_stack).history(held.job_id)] == ["needs_review", "rejected"]
    review_stack.drain()
    assert job_store(review_stack).get(held.job_id).status == Status.REJECTED
    assert sent_mail() == []  # the owner just decided; no mail about it


# ------------------------------------------------------------------ retry with the hosted engine


class _EmptyHandedEngine:
    """Stands in for the hosted API, and finds nothing either: the job is certain to be held again."""

    name = "hosted"
    input_size = None

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, image: Image.Image) -> np.ndarray:
        self.calls += 1
        return np.zeros((image.height, image.width), np.float32)


class _UnusedEngine:
    name = "u2netp"
    input_size = 320

    def predict(self, image: Image.Image) -> np.ndarray:
        raise AssertionError("the local engine must not run for a hosted retry")


@pytest.fixture
def hosted_stack(aws):
    from tools.embedded_stack import EmbeddedStack

    return EmbeddedStack(parameters={"HostedRetry": "true"}, function_urls={"ReviewFunction": f"https://{REVIEW_HOST}/"})


@pytest.mark.slow
def test_retry_recuts_with_the_hosted_engine_and_a_new_hold_gets_a_new_email(hosted_stack):
    stack = hosted_stack
    held = seed_held_job(stack, held_at=now() - timedelta(hours=3))
    assert publish(stack, held.job_id, "review") == {"batchItemFailures": []}
    assert set(links_in(sent_mail()[0])) == {"Approve cutout", "Reject", "Retry with the hosted engine"}

    response = _post(stack, _token(stack, held, "retry"), "retry")
    assert response["statusCode"] == 200 and "hosted engine" in _html(response)
    jobs = job_store(stack)
    job = jobs.get(held.job_id)
    assert (job.status, job.engine_override, job.review_round) == (Status.INGESTED, "hosted", 1)
    cutout_queue = stack.resolver.resolve({"Ref": "CutoutQueue"})
    (message,) = stack.sqs.receive_message(QueueUrl=cutout_queue).get("Messages", [])
    assert json.loads(message["Body"]) == {"job_id": held.job_id}

    hosted = _EmptyHandedEngine()
    sqs = stack.sqs
    context = CutoutContext(
        bucket=ImageBucket(stack.s3, stack.bucket), jobs=jobs, engine=_UnusedEngine(),
        variants_queue=QueueSender(sqs, stack.resolver.resolve({"Ref": "VariantsQueue"})),
        publish_queue=QueueSender(sqs, stack.resolver.resolve({"Ref": "PublishQueue"})),
        thresholds=GateThresholds(), hosted_engine=lambda: hosted)
    assert cut(held.job_id, context, now=iso(now())) == Status.NEEDS_REVIEW
    assert hosted.calls >= 1 and jobs.get(held.job_id).engine == "hosted"
    # Held again: its review email is a new notice (round 1), not swallowed as a repeat of the first, and
    # its links belong to the new hold.
    assert publish(stack, held.job_id, "review") == {"batchItemFailures": []}
    assert [m["X-Picr-Kind"] for m in sent_mail()] == ["review", "review"]
    links = links_in(sent_mail()[1])
    assert set(links) == {"Approve cutout", "Reject"}  # the hosted engine has had its try
    token = read_token(_key(stack), parse_qs(urlsplit(links["Reject"]).query)["t"][0], now=now())
    assert token.held_at == jobs.get(held.job_id).updated_at != held.updated_at


def test_a_cutout_asking_for_an_unconfigured_hosted_engine_fails_loudly(review_stack, held, clock):
    jobs = job_store(review_stack)
    jobs.transition(held.job_id, Status.INGESTED, allowed_from={Status.NEEDS_REVIEW}, at=clock.iso(),
                    attrs={"engine_override": "hosted"})
    context = CutoutContext(bucket=ImageBucket(review_stack.s3, review_stack.bucket), jobs=jobs,
                            engine=_UnusedEngine(), variants_queue=None, publish_queue=None,
                            thresholds=GateThresholds())
    with pytest.raises(LookupError, match="hosted engine"):
        cut(held.job_id, context, now=clock.iso(timedelta(seconds=1)))
    assert jobs.get(held.job_id).status == Status.INGESTED


# ------------------------------------------------------------------ reshoot


def _ingest_context(stack) -> IngestContext:
    return IngestContext(
        bucket=ImageBucket(stack.s3, stack.bucket), jobs=job_store(stack),
        cutout_queue=QueueSender(stack.sqs, stack.resolver.resolve({"Ref": "CutoutQueue"})),
        publish_queue=QueueSender(stack.sqs, stack.resolver.resolve({"Ref": "PublishQueue"})),
        limits=IntakeLimits(),
    )


def _upload(stack, key: str, at: str) -> UploadedObject:
    put = stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=(GLASS_JUG / "photo.jpg").read_bytes())
    return UploadedObject(stack.bucket, key, at, put["VersionId"])


def test_a_reshoot_supersedes_the_held_job_and_links_both_in_the_history(review_stack, held, clock):
    stale_link = _token(review_stack, held, "approve")
    other = seed_held_job(review_stack, held_at=clock.at(-timedelta(hours=2)), file_name="teapot.jpg",
                          product="Teapot")
    reshoot = _upload(review_stack, "inbox/Glass-Jug.jpg", clock.iso())  # same product, differently spelled
    outcome = ingest(reshoot, _ingest_context(review_stack), now=clock.iso(timedelta(seconds=5)))
    assert outcome.status == Status.INGESTED
    jobs = job_store(review_stack)
    new, old = jobs.get(outcome.job_id), jobs.get(held.job_id)
    assert new.supersedes == (held.job_id,)
    assert (old.status, old.superseded_by) == (Status.SUPERSEDED, outcome.job_id)
    assert jobs.get(other.job_id).status == Status.NEEDS_REVIEW  # another product: untouched
    closing = jobs.history(held.job_id)[-1]
    assert (closing.status, closing.detail["superseded_by"]) == (Status.SUPERSEDED, outcome.job_id)
    assert jobs.history(outcome.job_id)[0].detail["supersedes"] == [held.job_id]
    # The held job's links are dead, and say why.
    response = _post(review_stack, stale_link, "approve")
    assert response["statusCode"] == 409 and "a newer photo of it replaced this one" in _html(response)
    # A redelivered upload event changes nothing more.
    before = _snapshot(review_stack, held.job_id)
    assert ingest(reshoot, _ingest_context(review_stack), now=clock.iso(timedelta(minutes=9))).duplicate
    assert _snapshot(review_stack, held.job_id) == before


def test_a_reshoot_replaces_only_a_held_job_from_the_same_source(review_stack, clock):
    shop = "email:shop@example.com"
    held = seed_held_job(review_stack, held_at=clock.at(-timedelta(hours=2)), source=shop)
    jobs, context = job_store(review_stack), _ingest_context(review_stack)

    def mailed(sender: str, mail_id: str) -> UploadedObject:
        """A photo as mail-intake writes it: the sender and the product (the subject) in its metadata."""
        key = f"inbox/mail/{mail_id}/IMG_1.jpg"
        put = review_stack.s3.put_object(
            Bucket=review_stack.bucket, Key=key, Body=(GLASS_JUG / "photo.jpg").read_bytes(),
            Metadata={"lane": "email", "sender": sender, "reply-to": sender, "product": "Glass jug"})
        return UploadedObject(review_stack.bucket, key, clock.iso(), put["VersionId"])

    # Another sender at the same shop, and the owner's own plain S3 upload, both naming the same product:
    stranger = ingest(mailed("mallory@example.com", "m1"), context, now=clock.iso(timedelta(seconds=5)))
    bucket = ingest(_upload(review_stack, "inbox/Glass-Jug.jpg", clock.iso()), context,
                    now=clock.iso(timedelta(seconds=6)))
    assert jobs.get(held.job_id).status == Status.NEEDS_REVIEW
    assert jobs.get(stranger.job_id).source == "email:mallory@example.com"
    assert jobs.get(bucket.job_id).source == f"bucket:{review_stack.bucket}"
    assert jobs.get(stranger.job_id).supersedes == () and jobs.get(bucket.job_id).supersedes == ()
    # The same sender's new photo is the reshoot.
    reshoot = ingest(mailed("shop@example.com", "m2"), context, now=clock.iso(timedelta(seconds=7)))
    assert jobs.get(reshoot.job_id).supersedes == (held.job_id,)
    assert jobs.get(held.job_id).status == Status.SUPERSEDED


@pytest.mark.parametrize(("key", "origin", "source"), [
    ("inbox/upload/shop/0a1b-jug.jpg", Origin(lane="upload", token_id="shop"), "upload:shop"),
    ("inbox/mail/m1/jug.jpg", Origin(lane="email", sender="Shop@Example.com"), "email:shop@example.com"),
    ("inbox/drive/f1-abc/jug.jpg", Origin(lane="drive"), "drive:folder-1"),
    ("inbox/jug.jpg", Origin(), "bucket:images"),
    # A lane's metadata outside its own folder, or naming another link, is no identity of that lane.
    ("inbox/jug.jpg", Origin(lane="email", sender="shop@example.com"), "bucket:images"),
    ("inbox/upload/shop/0a1b-jug.jpg", Origin(lane="upload", token_id="studio"), "bucket:images"),
    ("inbox/mail/m1/jug.jpg", Origin(lane="upload", token_id="shop"), "bucket:images"),
])
def test_the_source_identity_comes_from_the_lane_that_wrote_the_key(key, origin, source):
    obj = UploadedObject("images", key, "2026-11-21T09:00:00Z", "v1")
    assert source_identity(obj, origin, drive_folder="folder-1") == source


def test_photos_without_a_usable_name_are_never_taken_for_reshoots(review_stack, clock):
    untitled = seed_held_job(review_stack, held_at=clock.at(-timedelta(hours=2)), file_name="___.jpg",
                             product="Untitled product")
    outcome = ingest(_upload(review_stack, "inbox/---.jpg", clock.iso()), _ingest_context(review_stack),
                     now=clock.iso(timedelta(seconds=5)))
    assert outcome.status == Status.INGESTED
    assert job_store(review_stack).get(untitled.job_id).status == Status.NEEDS_REVIEW
    assert job_store(review_stack).get(outcome.job_id).supersedes == ()


def test_sample_event_is_refused_without_side_effects(review_stack, held):
    from tests.conftest import REPO

    before = _snapshot(review_stack, held.job_id)
    response = review_stack.invoke("ReviewFunction", json.loads((REPO / "events" / "review.json").read_text()))
    assert response["statusCode"] == 403
    assert _snapshot(review_stack, held.job_id) == before


def test_the_cutout_handler_has_a_hosted_engine_only_when_one_is_configured(review_stack):
    cutout = review_stack.functions["CutoutFunction"]
    review_stack.handler_of(cutout)
    assert cutout.module.context.hosted_engine is None
    assert cutout.module.context.engine.name == "u2netp"


def test_the_cutout_handler_builds_the_hosted_engine_once_and_only_when_asked(hosted_stack):
    cutout = hosted_stack.functions["CutoutFunction"]
    hosted_stack.handler_of(cutout)
    context = cutout.module.context
    assert context.engine.name == "u2netp"  # the local engine stays the default
    engine = context.hosted_engine()
    assert engine.name == "hosted" and context.hosted_engine() is engine


# ------------------------------------------------------------------ images that are gone, kept originals


@pytest.mark.parametrize("gone", ["source_work_key", "cutout_key"])
def test_the_page_of_a_held_job_whose_images_are_gone_says_so_instead_of_failing(review_stack, held, gone):
    review_stack.s3.delete_object(Bucket=review_stack.bucket, Key=getattr(held, gone))  # as an expiry would
    before = _snapshot(review_stack, held.job_id)
    response = _get(review_stack, _token(review_stack, held))
    assert response["statusCode"] == 410
    page = unescape(_html(response))
    assert "no longer stored" in page and "Glass jug" in page and "Upload the photo again" in page
    assert "<form" not in page  # nothing to approve or reject from
    assert _snapshot(review_stack, held.job_id) == before


def test_reject_moves_the_kept_original_to_rejected(review_stack, clock):
    held = seed_held_job(review_stack, held_at=clock.at(-timedelta(hours=25)), kept_original=True)
    original = (GLASS_JUG / "photo.jpg").read_bytes()
    assert _post(review_stack, _token(review_stack, held, "reject"), "reject")["statusCode"] == 200
    job = job_store(review_stack).get(held.job_id)
    kept = review_stack.s3.get_object(Bucket=review_stack.bucket, Key=job.rejected_key)["Body"].read()
    assert kept == original and job.moved is True
    assert not ImageBucket(review_stack.s3, review_stack.bucket).exists(held.original_key)
