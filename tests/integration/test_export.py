"""picr-export as Lambda calls it (its SQS event, the template's environment, moto): one zip of a channel's
published images under exports/, one email whose link the review function redirects to it, once per export
however often its message arrives, and nothing left behind when it fails."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from picr.aws.queues import ExportMessage
from picr.job import Job, PublishedImage, Status
from picr.stages.export import EXPORT_KEEP_DAYS, zip_members
from tests.support.function_url import function_url_event
from tests.support.mailbox import sent_mail
from tests.support.shop_jobs import seed_shop

EXPORT_ID = "0123456789abcdef"


def record(stack, message: ExportMessage, message_id: str = "m-export") -> dict:
    return {"messageId": message_id, "receiptHandle": "r", "body": message.to_json(),
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
            "eventSource": "aws:sqs", "eventSourceARN": stack.resolver.resolve({"Fn::GetAtt": ["ExportQueue", "Arn"]}),
            "awsRegion": "eu-west-2"}


def export(stack, message: ExportMessage) -> dict:
    return stack.invoke("ExportFunction", {"Records": [record(stack, message)]})


def message_for(job_ids, clock, channel: str = "web") -> ExportMessage:
    return ExportMessage(export_id=EXPORT_ID, channel=channel, job_ids=tuple(job_ids), selection="every ready product",
                         requested_at=clock.iso())


def exports(stack) -> dict[str, int]:
    """Every version under exports/: key -> how many."""
    found: dict[str, int] = {}
    for version in stack.s3.list_object_versions(Bucket=stack.bucket, Prefix="exports/").get("Versions", []):
        found[version["Key"]] = found.get(version["Key"], 0) + 1
    return found


def export_mails() -> list:
    return [mail for mail in sent_mail() if mail["X-Picr-Kind"] == "export"]


def followed(stack, mail) -> str:
    """The key the email's link leads to, through the review function's redirect."""
    (link,) = re.findall(r'href="([^"]+/download\?t=[^"]+)"', mail.get_body(preferencelist=("html",)).get_content())
    parts = urlsplit(unescape(link))
    response = stack.invoke("ReviewFunction", function_url_event("GET", f"{parts.path}?{parts.query}"))
    assert response["statusCode"] == 302
    return urlsplit(response["headers"]["Location"]).path.lstrip("/")


def test_one_zip_of_the_channels_images_named_after_their_products_and_one_email_with_its_link(stack, clock):
    made = seed_shop(stack, clock, 12)
    ready = [job for job in made if job.status == Status.DONE]
    held = next(job for job in made if job.status == Status.NEEDS_REVIEW)
    message = message_for([job.job_id for job in ready] + [held.job_id, "f" * 20], clock)
    assert export(stack, message) == {"batchItemFailures": []}

    key = f"exports/{EXPORT_ID}/picr-web-{clock.iso()[:10]}.zip"
    assert exports(stack) == {key: 1}
    with zipfile.ZipFile(io.BytesIO(stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read())) as archive:
        assert archive.namelist() == [f"{job.product.replace(' ', '-')}-web.png" for job in ready]
        for job in ready:
            published = stack.s3.get_object(Bucket=stack.bucket, Key=f"out/web/{job.job_id}.png")["Body"].read()
            assert archive.read(f"{job.product.replace(' ', '-')}-web.png") == published
    (mail,) = export_mails()
    assert mail["To"] == "owner@example.com" and mail["X-Picr-Job"] == EXPORT_ID
    assert mail["Subject"] == f"web: {len(ready)} images in one zip"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "2 products of your selection had no web image" in text and "works for 7 days" in text
    assert followed(stack, mail) == key  # a link that outlives the function's credentials, to the zip
    assert EXPORT_KEEP_DAYS > 7  # the zip outlives its link


def test_a_redelivered_export_builds_nothing_and_mails_nothing_again(stack, clock):
    made = seed_shop(stack, clock, 6)
    message = message_for([job.job_id for job in made if job.status == Status.DONE], clock)
    for _ in range(3):
        assert export(stack, message) == {"batchItemFailures": []}
    assert list(exports(stack).values()) == [1] and len(export_mails()) == 1


def test_an_export_that_fails_leaves_nothing_and_is_built_whole_on_the_retry(stack, clock):
    made = seed_shop(stack, clock, 6)
    ready = [job.job_id for job in made if job.status == Status.DONE]
    gone = f"out/web/{ready[1]}.png"
    kept = stack.s3.get_object(Bucket=stack.bucket, Key=gone)["Body"].read()
    stack.s3.delete_object(Bucket=stack.bucket, Key=gone)
    message = message_for(ready, clock)
    with pytest.raises(BatchProcessingError):  # its only record failed: the whole batch goes back to the queue
        export(stack, message)
    assert exports(stack) == {} and export_mails() == []
    assert stack.s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", []) == []
    stack.s3.put_object(Bucket=stack.bucket, Key=gone, Body=kept)
    assert export(stack, message) == {"batchItemFailures": []}  # the failed attempt left no record behind
    (key,) = exports(stack)
    with zipfile.ZipFile(io.BytesIO(stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read())) as archive:
        assert len(archive.namelist()) == len(ready)
    assert len(export_mails()) == 1


def test_when_nothing_selected_has_the_image_the_email_says_so_and_no_zip_is_made(stack, clock):
    made = seed_shop(stack, clock, 6)
    message = message_for([job.job_id for job in made if job.status != Status.DONE], clock)
    assert export(stack, message) == {"batchItemFailures": []}
    assert exports(stack) == {}
    (mail,) = export_mails()
    assert mail["Subject"] == "web: no images to put in a zip" and "/download" not in mail.as_string()


def test_a_message_naming_more_than_the_limit_is_dropped_unbuilt(stack, clock):
    stack.functions["ExportFunction"].environment["PICR_EXPORT_MAX_IMAGES"] = "2"  # read when the handler loads
    made = seed_shop(stack, clock, 6)
    message = message_for([job.job_id for job in made if job.status == Status.DONE], clock)
    assert export(stack, message) == {"batchItemFailures": []}  # consumed: a retry would refuse it again
    assert exports(stack) == {} and export_mails() == []


def _ready(job_id: str, product: str, channel: str = "market") -> Job:
    return Job(job_id=job_id, status=Status.DONE, updated_at="", product=product, outputs=(PublishedImage(
        channel, f"out/{channel}/{job_id}.jpg", 10, 10, "jpeg", False),))


@pytest.mark.parametrize(("products", "names"), [
    (["Mug", "mug", "MUG"], ["Mug-market.jpg", "mug-2-market.jpg", "MUG-3-market.jpg"]),
    (["Vase 2.0", "Vase 2", ""], ["Vase-2-market.jpg", "Vase-2-2-market.jpg", "00000000000000000002-market.jpg"]),
    (["Teller ../../etc", "Crème brûlée"], ["etc-market.jpg", "Creme-brulee-market.jpg"]),
])
def test_each_file_is_named_after_its_product_and_no_two_collide_on_any_disk(products, names):
    members, left_out = zip_members([_ready(f"{n:020x}", product) for n, product in enumerate(products)], "market")
    assert [member.name for member in members] == names and left_out == 0
    assert len({name.casefold() for name in names}) == len(names)


def test_only_ready_products_with_the_channel_are_zipped(clock):
    jobs = [_ready("0" * 20, "A"), _ready("1" * 20, "B", channel="web"), None,
            Job(job_id="2" * 20, status=Status.NEEDS_REVIEW, updated_at=clock.iso(timedelta(hours=1)))]
    members, left_out = zip_members(jobs, "market")
    assert [member.key for member in members] == [f"out/market/{'0' * 20}.jpg"] and left_out == 3


def test_the_largest_export_message_fits_in_one_sqs_message_and_a_larger_one_is_refused(clock):
    from picr.records import RecordError
    from picr.settings import MAX_EXPORT_IMAGES

    largest = message_for([f"{n:020x}" for n in range(MAX_EXPORT_IMAGES)], clock)
    assert len(largest.to_json().encode()) < 256 * 1024  # SQS's most
    with pytest.raises(RecordError):
        message_for([f"{n:020x}" for n in range(MAX_EXPORT_IMAGES + 1)], clock)
