"""picr-upload: the phone upload page behind a public Function URL (AuthType NONE: the link token is the auth).
GET /?t=<token>: the page; POST /?t=<token> {product, files}: one presigned POST per photo (straight to S3, under
inbox/upload/); GET /?t=<token>&status=<k1,k2>: each photo's outcome, with presigned thumbnails when done."""

from __future__ import annotations

import time

import boto3
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from picr.aws.bucket import PRESIGNING, ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.secrets import Secrets
from picr.aws.upload_forms import RateLimiter, UploadForms
from picr.intake.upload import UploadPolicy
from picr.links.tokens import TOKEN_PARAMETER
from picr.pages.upload import PageResponse
from picr.runtime import function_url_handler, logger, metrics
from picr.settings import UploadSettings
from picr.stages.upload import UploadContext, page, photo_status, request_uploads

settings = UploadSettings.from_environment()
s3 = boto3.client("s3", config=PRESIGNING)  # forms and thumbnail links on the bucket's regional host
dynamodb = boto3.client("dynamodb")
context = UploadContext(
    s3=s3,
    bucket=settings.bucket,
    jobs=JobStore(dynamodb, settings.jobs_table),
    limiter=RateLimiter(dynamodb, settings.idempotency_table),
    forms=UploadForms(dynamodb, settings.idempotency_table),
    signing_key=Secrets(boto3.client("secretsmanager")).key(settings.upload_secret_arn),
    storage_origin=ImageBucket(s3, settings.bucket).presigned_origin(),  # allowed by the page's CSP
    policy=UploadPolicy.of(settings),
)
app = LambdaFunctionUrlResolver()


def _reply(result: PageResponse, route: str) -> Response:
    logger.info("upload", extra={"route": route, "status": result.status})
    metrics.add_metric(name=f"Upload_{route}_{result.status}", unit="Count", value=1)
    return Response(status_code=result.status, body=result.body, headers=result.headers)


@app.get("/")
def read() -> Response:
    token, keys = (app.current_event.get_query_string_value(name) for name in (TOKEN_PARAMETER, "status"))
    if keys is not None:
        return _reply(photo_status(token, keys, context, now_s=time.time()), "status")
    return _reply(page(token, context, now_s=time.time()), "page")


@app.post("/")
def ask_for_forms() -> Response:
    token = app.current_event.get_query_string_value(TOKEN_PARAMETER)
    return _reply(request_uploads(token, app.current_event.decoded_body, context, now_s=time.time()), "forms")


handler = function_url_handler(app)
