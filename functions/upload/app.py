"""picr-upload: the phone upload page behind a public Function URL (AuthType NONE: the link token is the auth).

    GET  /?t=<token>                  the page
    POST /?t=<token>  {product, files} one presigned POST per photo (straight to S3, under inbox/upload/)
    GET  /?t=<token>&status=<k1,k2>   each photo's outcome, with presigned thumbnails when done
"""

from __future__ import annotations

import time

import boto3
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from picr.aws.jobs import JobStore
from picr.aws.upload_forms import RateLimiter, UploadForms
from picr.intake.upload import UploadPolicy
from picr.links.tokens import TOKEN_PARAMETER
from picr.pages.upload import PageResponse, origin_of
from picr.runtime import logger, metrics
from picr.settings import load_settings
from picr.stages.upload import UploadContext, page, photo_status, request_uploads

SECRET_MAX_AGE_S = 300
"""The link key is cached for 5 minutes: a rotated key takes effect soon, and a polling page does not
call Secrets Manager for every request."""

settings = load_settings()
settings.require("upload_secret_arn", "idempotency_table")
# Virtual-hosted addressing names the regional endpoint (<bucket>.s3.<region>.amazonaws.com) in the forms and
# thumbnail links; left to itself, botocore presigns against the legacy global s3.amazonaws.com host.
s3 = boto3.client("s3", config=Config(s3={"addressing_style": "virtual"}))
secrets = SecretsProvider(boto3_client=boto3.client("secretsmanager"))  # this function's own client and cache
dynamodb = boto3.client("dynamodb")
context = UploadContext(
    s3=s3,
    bucket=settings.bucket,
    jobs=JobStore(dynamodb, settings.jobs_table),
    limiter=RateLimiter(dynamodb, settings.idempotency_table),
    forms=UploadForms(dynamodb, settings.idempotency_table),
    signing_key=lambda: secrets.get(settings.upload_secret_arn, max_age=SECRET_MAX_AGE_S).encode(),
    # Presigning is local (no request): this names the host the browser will post to and load images from.
    storage_origin=origin_of(s3.generate_presigned_url("get_object", Params={"Bucket": settings.bucket,
                                                                            "Key": "inbox/"}, ExpiresIn=60)),
    policy=UploadPolicy(max_bytes=settings.upload_max_mb * 2**20,
                        requests_per_minute=settings.upload_requests_per_minute,
                        photos_per_hour=settings.upload_photos_per_hour),
)
app = LambdaFunctionUrlResolver()


def _reply(result: PageResponse, route: str) -> Response:
    logger.info("upload", extra={"route": route, "status": result.status})
    metrics.add_metric(name=f"Upload_{route}_{result.status}", unit="Count", value=1)
    return Response(status_code=result.status, body=result.body, headers=result.headers)


@app.get("/")
def read() -> Response:
    event = app.current_event
    token = event.get_query_string_value(TOKEN_PARAMETER)
    keys = event.get_query_string_value("status")
    if keys is not None:
        return _reply(photo_status(token, keys, context, now_s=time.time()), "status")
    return _reply(page(token, context, now_s=time.time()), "page")


@app.post("/")
def ask_for_forms() -> Response:
    event = app.current_event
    token = event.get_query_string_value(TOKEN_PARAMETER)
    return _reply(request_uploads(token, event.decoded_body, context, now_s=time.time()), "forms")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, lambda_context: LambdaContext) -> dict:
    return app.resolve(event, lambda_context)
