"""The upload page: 403s, the rate limit, the presigned POST policy, status isolation, one form one photo.

Handler-level checks go through ``picr-upload`` exactly as Lambda calls it (Function URL payload 2.0, in
the template's environment, on moto); the rest drive ``picr.stages.upload`` with a context built here.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from picr.aws.jobs import JobStore
from picr.aws.upload_forms import RateLimiter, UploadForms
from picr.intake.origin import decode_metadata
from picr.intake.upload import UploadPolicy
from picr.job import NewJob, PublishedImage, Status
from picr.links.upload import mint_link_token
from picr.stages.ingest import UploadedObject, job_id_for
from picr.stages.upload import UploadContext, photo_status, request_uploads
from tools.shared_data import SAMPLES

REPO = Path(__file__).resolve().parents[2]
PHOTO = (SAMPLES / "toolbox.jpg").read_bytes()
KEY = b"k" * 64
NOW = 1_795_253_400.0


# ------------------------------------------------------------------ through the handler

def url_event(method: str = "GET", query: dict[str, str] | None = None, body: str | None = None) -> dict:
    event = json.loads((REPO / "events" / "upload.json").read_text())
    query = query or {}
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    event["queryStringParameters"] = query or None
    event["requestContext"]["http"]["method"] = method
    if body is not None:
        event["body"] = body
        event["headers"]["content-type"] = "application/json"
    return event


@pytest.fixture
def upload_key_material(stack) -> bytes:
    arn = stack.functions["UploadFunction"].environment["PICR_UPLOAD_SECRET_ARN"]
    return stack.secrets.get_secret_value(SecretId=arn)["SecretString"].encode()


def rate_rows(stack) -> list[dict]:
    table = stack.resolver.resolve({"Ref": "IdempotencyTable"})
    return [item for item in stack.dynamodb.scan(TableName=table)["Items"] if item["id"]["S"].startswith("ratelimit#")]


def test_a_wrong_or_missing_token_is_403_everywhere_and_costs_nothing(stack, upload_key_material):
    wrong = mint_link_token(b"not the deployed key", "shop")
    for query in ({}, {"t": wrong}, {"t": "shop.x"}, {"t": wrong, "status": "inbox/upload/shop/a-x.jpg"}):
        response = stack.invoke("UploadFunction", url_event(query=query))
        assert response["statusCode"] == 403, query
    page = stack.invoke("UploadFunction", url_event(query={"t": wrong}))
    assert "<form" not in page["body"] and "not valid" in page["body"]
    posted = stack.invoke("UploadFunction", url_event("POST", {"t": wrong}, json.dumps(
        {"product": "x", "files": [{"name": "a.jpg", "type": "image/jpeg", "size": 10}]})))
    assert posted["statusCode"] == 403 and "url" not in posted["body"]
    assert rate_rows(stack) == []  # nobody without a link can spend a link's budget


def test_the_page_is_a_phone_form_with_a_locked_down_policy(stack, upload_key_material):
    response = stack.invoke("UploadFunction", url_event(query={"t": mint_link_token(upload_key_material, "shop")}))
    assert response["statusCode"] == 200
    html, headers = response["body"], response["headers"]
    assert 'type="file" accept="image/*" capture="environment" multiple' in html
    assert 'id="product"' in html and "<progress" not in html  # bars are made per file by the script
    csp = headers["Content-Security-Policy"]
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in html and html.count("<script") == 1
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "connect-src 'self' https://picr-local-images.s3.eu-west-2.amazonaws.com" in csp
    assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"
    second = stack.invoke("UploadFunction", url_event(query={"t": mint_link_token(upload_key_material, "shop")}))
    assert second["headers"]["Content-Security-Policy"] != csp  # a fresh nonce per page


def test_upload_forms_pin_key_type_size_metadata_and_expiry(stack, upload_key_material):
    token = mint_link_token(upload_key_material, "shop")
    request = {"product": "Crème brûlée candle", "files": [
        {"name": "IMG_0001.HEIC", "type": "image/heic", "size": 2_000_000},
        {"name": "../../out/market/x.jpg", "type": "image/jpeg", "size": 900_000},
        {"name": "notes.pdf", "type": "application/pdf", "size": 1000},
        {"name": "huge.jpg", "type": "image/jpeg", "size": 26 * 2**20},
    ]}
    before = time.time()
    response = stack.invoke("UploadFunction", url_event("POST", {"t": token}, json.dumps(request)))
    assert response["statusCode"] == 200
    heic, traversal, pdf, huge = json.loads(response["body"])["uploads"]
    assert pdf == {"error": "Only photos can be uploaded here."}
    assert huge == {"error": "Photos must be under 25 MB."}
    assert heic["url"] == "https://picr-local-images.s3.eu-west-2.amazonaws.com/"
    assert heic["key"].startswith("inbox/upload/shop/") and heic["key"].endswith("-IMG_0001.HEIC")
    assert traversal["key"].startswith("inbox/upload/shop/") and traversal["key"].endswith("-x.jpg")
    assert heic["fields"]["key"] == heic["key"]
    assert decode_metadata({k.removeprefix("x-amz-meta-"): v for k, v in heic["fields"].items()
                            if k.startswith("x-amz-meta-")}).product == "Crème brûlée candle"
    policy = json.loads(base64.b64decode(heic["fields"]["policy"]))
    conditions = policy["conditions"]
    assert {"bucket": "picr-local-images"} in conditions and {"key": heic["key"]} in conditions
    assert {"Content-Type": "image/heic"} in conditions
    assert {"x-amz-meta-token-id": "shop"} in conditions and {"x-amz-meta-lane": "upload"} in conditions
    assert ["content-length-range", 1, 25 * 2**20] in conditions
    assert not any(isinstance(c, list) and c[0] == "starts-with" for c in conditions)  # nothing left open
    expires = time.mktime(time.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert before + 590 <= expires <= time.time() + 610


def test_bad_requests_get_a_reason_not_a_form(stack, upload_key_material):
    token = mint_link_token(upload_key_material, "shop")
    for body in ("not json", json.dumps({"files": []}), json.dumps({"files": [{"name": "a"}]}),
                 json.dumps({"files": [{"name": "a.jpg", "type": "image/jpeg", "size": 1}] * 21})):
        response = stack.invoke("UploadFunction", url_event("POST", {"t": token}, body))
        assert response["statusCode"] == 400 and "error" in json.loads(response["body"]), body


# ------------------------------------------------------------------ the stage, with a context built here

@pytest.fixture
def context(stack):
    return UploadContext(
        s3=stack.s3, bucket=stack.bucket, jobs=JobStore(stack.dynamodb, stack.resolver.resolve({"Ref": "JobsTable"})),
        limiter=RateLimiter(stack.dynamodb, stack.resolver.resolve({"Ref": "IdempotencyTable"})),
        forms=UploadForms(stack.dynamodb, stack.resolver.resolve({"Ref": "IdempotencyTable"})),
        signing_key=lambda: KEY, storage_origin="https://s3.example", policy=UploadPolicy(
            requests_per_minute=5, photos_per_hour=3),
    )


def test_the_rate_limit_counts_per_link_and_per_window(context):
    shop, studio = mint_link_token(KEY, "shop"), mint_link_token(KEY, "studio")
    codes = [photo_status(shop, "", context, now_s=NOW).status for _ in range(6)]
    assert codes == [200] * 5 + [429]
    limited = photo_status(shop, "", context, now_s=NOW)
    assert limited.headers["Retry-After"] == "60"
    assert photo_status(studio, "", context, now_s=NOW).status == 200  # another link has its own budget
    assert photo_status(shop, "", context, now_s=NOW + 60).status == 200  # the next minute starts afresh


def test_photos_per_hour_are_counted_by_the_forms_handed_out(context):
    shop = mint_link_token(KEY, "shop")

    def ask(count: int, at: float) -> int:
        files = [{"name": f"{n}.jpg", "type": "image/jpeg", "size": 1000} for n in range(count)]
        return request_uploads(shop, json.dumps({"files": files}), context, now_s=at).status

    assert [ask(2, NOW), ask(2, NOW + 1), ask(1, NOW + 2)] == [200, 429, 200]
    assert ask(3, NOW + 3600) == 200


def test_status_shows_a_link_only_its_own_photos(stack, context):
    shop_key, studio_key = "inbox/upload/shop/00aa-candle.jpg", "inbox/upload/studio/00bb-vase.jpg"
    odd_key = "inbox/upload/shop/00dd-odd.jpg"  # under the shop's prefix, but its job names another link
    for key, link_id, status in ((shop_key, "shop", Status.DONE), (studio_key, "studio", Status.REJECTED),
                                 (odd_key, "studio", Status.DONE)):
        version = stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=b"photo")
        job_id = job_id_for(UploadedObject(stack.bucket, key, "", version["VersionId"], version["ETag"].strip('"')))
        outputs = [PublishedImage(c, f"out/{c}/{job_id}.jpg", 2000, 2000, "JPEG", False)
                   for c in ("market", "social", "web")]
        job = NewJob(job_id, key, key.rpartition("/")[2], "Candle", "2026-11-21T09:30:00Z")
        context.jobs.open(job, at="2026-11-21T09:30:01Z", status=status,
                          attrs={"token_id": link_id, "outputs": outputs, "reasons": ["Not a photo."]})
        context.forms.issue(key, key.split("/")[2], now_s=NOW)  # the form that was handed out for the key,
        assert context.forms.admit(key, job_id, photos_per_hour=3, now_s=NOW).admitted  # and claimed by the job
    shop = mint_link_token(KEY, "shop")
    keys = [shop_key, studio_key, odd_key, "inbox/upload/shop/ffff-never.jpg"]
    done, foreign, odd, never = json.loads(photo_status(shop, ",".join(keys), context, now_s=NOW).body)["photos"]
    assert done["state"] == "done" and done["product"] == "Candle"
    assert [o["channel"] for o in done["outputs"]] == ["social", "web", "market"]
    assert all(parse_qs(o["url"].split("?", 1)[1])["X-Amz-Expires"] == ["900"] for o in done["outputs"])
    assert foreign == {"key": studio_key, "state": "unknown"}
    assert odd == {"key": odd_key, "state": "unknown"}
    assert never == {"key": "inbox/upload/shop/ffff-never.jpg", "state": "unknown"}
    studio = json.loads(photo_status(mint_link_token(KEY, "studio"), studio_key, context, now_s=NOW).body)
    assert studio["photos"] == [{"key": studio_key, "state": "rejected", "product": "Candle",
                                 "reasons": ["Not a photo."]}]


def test_an_uploaded_photo_without_a_job_yet_reads_as_processing(stack, context):
    key = "inbox/upload/shop/00cc-jug.jpg"
    context.forms.issue(key, "shop", now_s=NOW)

    def view() -> list[dict]:
        return json.loads(photo_status(mint_link_token(KEY, "shop"), key, context, now_s=NOW).body)["photos"]

    assert view() == [{"key": key, "state": "unknown"}]  # handed out, nothing posted yet
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=b"photo")
    assert view() == [{"key": key, "state": "processing"}]


# ------------------------------------------------------------------ one form, one photo


def opened_jobs(stack) -> list[dict]:
    table = stack.resolver.resolve({"Ref": "JobsTable"})
    return [item for item in stack.dynamodb.scan(TableName=table)["Items"] if item["ts"]["S"] == "#current"]


def run_ingest(stack) -> None:
    (ingest,) = [consumer for consumer in stack.consumers if consumer.stage == "ingest"]
    while stack.poll_once(ingest):
        pass


def test_a_form_posted_five_times_and_a_key_never_handed_out_make_one_job(stack, upload_key_material):
    import requests

    token = mint_link_token(upload_key_material, "shop")
    request = {"product": "Red toolbox", "files": [{"name": "toolbox.jpg", "type": "image/jpeg", "size": len(PHOTO)}]}
    (slot,) = json.loads(stack.invoke("UploadFunction", url_event("POST", {"t": token}, json.dumps(request)))["body"])[
        "uploads"]
    for _ in range(5):  # the same form, posted again and again, as S3 allows until the policy expires
        posted = requests.post(slot["url"], data=slot["fields"], files={"file": ("toolbox.jpg", PHOTO, "image/jpeg")})
        assert int(posted.status_code) == 201  # moto's in-process mock hands the status back as text
    # A key under the link's prefix that no form named, written by someone with bucket access.
    stack.s3.put_object(Bucket=stack.bucket, Key="inbox/upload/shop/0123456789abcdef-toolbox.jpg", Body=PHOTO,
                        Metadata={"lane": "upload", "token-id": "shop"})
    run_ingest(stack)
    versions = stack.s3.list_object_versions(Bucket=stack.bucket, Prefix="inbox/upload/")["Versions"]
    assert sum(version["Key"] == slot["key"] for version in versions) == 5  # S3 kept every post ...
    assert [job["source_key"]["S"] for job in opened_jobs(stack)] == [slot["key"]]  # ... one became a job


def test_the_hourly_photo_quota_is_spent_where_photos_arrive_once_per_photo(stack, context, clock):
    from picr.aws.bucket import ImageBucket
    from picr.aws.queues import QueueSender
    from picr.image.limits import IntakeLimits
    from picr.stages.ingest import NOT_ADMITTED, IngestContext, ingest

    ingest_context = IngestContext(
        bucket=ImageBucket(stack.s3, stack.bucket), jobs=context.jobs,
        cutout_queue=QueueSender(stack.sqs, stack.resolver.resolve({"Ref": "CutoutQueue"})),
        publish_queue=QueueSender(stack.sqs, stack.resolver.resolve({"Ref": "PublishQueue"})),
        limits=IntakeLimits(), upload_forms=context.forms, photos_per_hour=1,
    )
    shop = mint_link_token(KEY, "shop")
    files = [{"name": f"{n}.jpg", "type": "image/jpeg", "size": len(PHOTO)} for n in ("first", "second")]
    slots = json.loads(request_uploads(shop, json.dumps({"files": files}), context, now_s=clock.at().timestamp()).body)
    first, second = (slot["key"] for slot in slots["uploads"])  # two forms: within the page's budget of 3

    def arrive(key: str) -> UploadedObject:
        put = stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=PHOTO,
                                  Metadata={"lane": "upload", "token-id": "shop"})
        return UploadedObject(stack.bucket, key, clock.iso(), put["VersionId"], put["ETag"].strip('"'))

    def arrivals_spent() -> list[str]:
        return [row["hits"]["N"] for row in rate_rows(stack) if "#arrivals#" in row["id"]["S"]]

    admitted, refused = arrive(first), arrive(second)
    assert ingest(admitted, ingest_context, now=clock.iso()).status == Status.INGESTED
    outcome = ingest(refused, ingest_context, now=clock.iso())
    assert (outcome.status, outcome.reason) == (NOT_ADMITTED, "over_quota")
    assert context.jobs.get(outcome.job_id) is None
    # A redelivered event for either photo gets the same answer and spends nothing more.
    assert ingest(admitted, ingest_context, now=clock.iso()).duplicate
    assert ingest(refused, ingest_context, now=clock.iso()).reason == "over_quota"
    assert arrivals_spent() == ["1"]
    view = json.loads(photo_status(shop, second, context, now_s=clock.at().timestamp()).body)["photos"]
    assert view[0]["state"] == "rejected" and "Too many photos" in view[0]["reasons"][0]
