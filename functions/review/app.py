"""picr-review: the Function URL behind the emails' signed links (the token is the auth): the Approve / Reject /
Retry page (GET shows it, only a POST from it acts) and the download links (GET /download redirects)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from picr.aws.bucket import PRESIGNING, ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender
from picr.aws.secrets import Secrets
from picr.links.download import DOWNLOAD_PATH
from picr.links.tokens import TOKEN_PARAMETER
from picr.pages.review import PAGE_HEADERS
from picr.runtime import function_url_handler, iso, logger, metrics, utc_now
from picr.settings import ReviewSettings
from picr.stages.review import Requester, ReviewContext, ReviewResponse, decide, download, posted, show

settings = ReviewSettings.from_environment()
sqs = boto3.client("sqs")
context = ReviewContext(
    bucket=ImageBucket(boto3.client("s3", config=PRESIGNING), settings.bucket),  # download links: regional host
    jobs=JobStore(boto3.client("dynamodb"), settings.jobs_table),
    variants_queue=QueueSender(sqs, settings.variants_queue_url),
    cutout_queue=QueueSender(sqs, settings.cutout_queue_url),
    signing_key=Secrets(boto3.client("secretsmanager")).key(settings.review_secret_arn),
    hosted_retry=settings.hosted_retry,
)
app = LambdaFunctionUrlResolver()


def _reply(result: ReviewResponse) -> Response:
    logger.info("review", extra={"outcome": result.outcome, "status": result.status, "job_id": result.job_id})
    metrics.add_metric(name=f"Review_{result.outcome.replace(':', '_')}", unit="Count", value=1)
    location = {"Location": result.location} if result.location else {}
    return Response(status_code=result.status, body=result.html, headers={**PAGE_HEADERS, **location})


@app.get("/")
def page() -> Response:
    return _reply(show(app.current_event.get_query_string_value(TOKEN_PARAMETER), context, now=utc_now()))


@app.get(f"/{DOWNLOAD_PATH}")
def download_link() -> Response:
    return _reply(download(app.current_event.get_query_string_value(TOKEN_PARAMETER), context, now=utc_now()))


@app.post("/")
def decision() -> Response:
    event, http = app.current_event, app.current_event.request_context.http
    requester = Requester(source_ip=http.source_ip, user_agent=http.user_agent, origin=event.headers.get("origin"),
                          host=event.request_context.domain_name, fetch_site=event.headers.get("sec-fetch-site"))
    return _reply(decide(*posted(event.decoded_body), context, now=utc_now(), iso=iso, requester=requester))


handler = function_url_handler(app)
