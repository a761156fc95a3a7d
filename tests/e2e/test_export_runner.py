"""A zip export through the embedded stack, with the runner's faults on: photos uploaded under inbox/ go through
the whole pipeline (S3 -> EventBridge -> SQS -> every stage), the owner asks the shop page for a zip of one
channel, the export queue's function builds it (failing AWS calls, crashes after the work, every message
delivered twice, shuffled delivery), and the one email's link leads, through the review function, to a zip
whose files are byte for byte the published images under out/."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest

from picr.job import Status
from picr.links.owner import mint_owner_token
from tests.e2e.test_shop_browser import small
from tests.support.function_url import function_url_event
from tests.support.mailbox import sent_mail
from tools.faults import FaultPlan

PHOTOS = 8
pytestmark = pytest.mark.slow


def test_a_zip_of_one_channel_under_faults_comes_once_and_holds_exactly_the_published_files(aws, clock):
    from picr.aws.jobs import JobStore
    from tools.embedded_stack import EmbeddedStack
    from tools.invoke import sample_photo

    faults = FaultPlan(call_failure_rate=0.15, crash_rate=0.1, redeliveries=1, shuffle=True, seed=18)
    stack = EmbeddedStack(faults=faults)
    mug = small(sample_photo())
    for index in range(PHOTOS):
        stack.s3.put_object(Bucket=stack.bucket, Key=f"inbox/mug-{index}.jpg", Body=mug, ContentType="image/jpeg")
    stack.drain()
    jobs = JobStore(stack.dynamodb, stack.resolver.resolve({"Ref": "JobsTable"}))
    ready = jobs.in_status(Status.DONE)
    assert len(ready) == PHOTOS

    shop = stack.functions["ShopFunction"].environment
    key = stack.secrets.get_secret_value(SecretId=shop["PICR_OWNER_SECRET_ARN"])["SecretString"].encode()
    token = mint_owner_token(key, "shop", now=clock.at(), lifetime=timedelta(days=1))
    event = function_url_event("POST", "/export", headers={"sec-fetch-site": "same-origin"},
                               body=f"t={token}&channel=market".encode())
    stack.faults.plan = FaultPlan()  # the owner's click goes through; the export itself runs under the faults
    started = stack.invoke("ShopFunction", event)
    stack.faults.plan = faults
    assert started["statusCode"] == 202, started["body"][-400:]
    stack.drain()

    (mail,) = [message for message in sent_mail() if message["X-Picr-Kind"] == "export"]
    assert mail["Subject"] == f"market: {PHOTOS} images in one zip"
    (link,) = re.findall(r"https?://\S+/download\?t=\S+", mail.get_body(preferencelist=("plain",)).get_content())
    parts = urlsplit(unescape(link))
    stack.faults.plan = FaultPlan()
    redirect = stack.invoke("ReviewFunction", function_url_event("GET", f"{parts.path}?{parts.query}"))
    assert redirect["statusCode"] == 302
    zip_key = urlsplit(redirect["headers"]["Location"]).path.lstrip("/")
    assert zip_key.startswith("exports/") and zip_key.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(stack.s3.get_object(Bucket=stack.bucket, Key=zip_key)["Body"].read())) as archive:
        assert archive.testzip() is None
        files = {name: archive.read(name) for name in archive.namelist()}
    published = {job.job_id: next(o.key for o in job.outputs if o.channel == "market") for job in ready}
    assert len(files) == PHOTOS and all(re.fullmatch(r"Mug-\d+(-\d+)?-market\.jpg", name) for name in files)
    expected = sorted(stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read() for key in published.values())
    assert sorted(files.values()) == expected  # byte for byte the files under out/
    assert stack.dead_letters() == []
    assert stack.s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", []) == []
    assert stack.faults.injected["redelivery"] >= PHOTOS
