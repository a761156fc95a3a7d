"""picr-review: the Function URL behind the emails' signed links (the token is the auth): the Approve / Reject /
Retry page (GET shows it, only a POST from it acts), the fix page (GET /fix; its previews and its publish
are JSON POSTs, run in the cutout container) and the download links (GET /download redirects)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from picr.aws.bucket import PRESIGNING, ImageBucket
from picr.aws.fixer import INVOKE_CONFIG, LambdaFixer
from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender
from picr.aws.secrets import Secrets
from picr.links.download import DOWNLOAD_PATH
from picr.links.tokens import TOKEN_PARAMETER
from picr.pages.review import PAGE_HEADERS
from picr.runtime import function_url_handler, iso, logger, metrics, utc_now
from picr.settings import ReviewSettings
from picr.stages.review import FIX_PATH, Requester, ReviewContext, ReviewResponse, decide, download, posted, show
from picr.stages.review_fix import FixResponse, fix_step, show_fix

settings = ReviewSettings.from_environment()
sqs = boto3.client("sqs")
lambda_client = boto3.client("lambda", config=INVOKE_CONFIG)  # the fix page's tools run in the cutout function
context = ReviewContext(
    bucket=ImageBucket(boto3.client("s3", config=PRESIGNING), settings.bucket),  # download links: regional host
    jobs=JobStore(boto3.client("dynamodb"), settings.jobs_table),
    variants_queue=QueueSender(sqs, settings.variants_queue_url),
    cutout_queue=QueueSender(sqs, settings.cutout_queue_url),
    signing_key=Secrets(boto3.client("secretsmanager")).key(settings.review_secret_arn),
    hosted_retry=settings.hosted_retry,
    fixer=LambdaFixer(lambda_client, settings.fix_function) if settings.fix_function else None,
)
app = LambdaFunctionUrlResolver()


def _reply(result: ReviewResponse | FixResponse) -> Response:
    logger.info("review", extra={"outcome": result.outcome, "status": result.status, "job_id": result.job_id})
    metrics.add_metric(name=f"Review_{result.outcome.replace(':', '_')}", unit="Count", value=1)
    location = {"Location": result.location} if result.location else {}
    return Response(status_code=result.status, body=result.html, headers={**(result.headers or PAGE_HEADERS),
                                                                          **location})


@app.get("/")
def page() -> Response:
    return _reply(show(app.current_event.get_query_string_value(TOKEN_PARAMETER), context, now=utc_now()))


@app.get(f"/{DOWNLOAD_PATH}")
def download_link() -> Response:
    return _reply(download(app.current_event.get_query_string_value(TOKEN_PARAMETER), context, now=utc_now()))


def _requester() -> Requester:
    event, http = app.current_event, app.current_event.request_context.http
    return Requester(source_ip=http.source_ip, user_agent=http.user_agent, origin=event.headers.get("origin"),
                     host=event.request_context.domain_name, fetch_site=event.headers.get("sec-fetch-site"))


@app.post("/")
def decision() -> Response:
    return _reply(decide(*posted(app.current_event.decoded_body), context, now=utc_now(), iso=iso,
                         requester=_requester()))


@app.get(f"/{FIX_PATH}")
def fix_page() -> Response:
    return _reply(show_fix(app.current_event.get_query_string_value(TOKEN_PARAMETER), context, now=utc_now()))


@app.post(f"/{FIX_PATH}/<step>")
def fix_request(step: str) -> Response:  # the page's preview and publish
    return _reply(fix_step(step, app.current_event.decoded_body, context, now=utc_now(), iso=iso,
                           requester=_requester()))


handler = function_url_handler(app)
