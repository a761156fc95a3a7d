"""picr-review: the Function URL behind every signed link in the emails (AuthType NONE: the token is the
auth) — the Approve / Reject / Retry page (GET shows it, only a POST from that page acts) and the
ready email's download links (GET /download redirects to a freshly presigned URL)."""

from __future__ import annotations

from urllib.parse import parse_qs

import boto3
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from picr.aws.bucket import PRESIGNING, ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender
from picr.links.download import DOWNLOAD_PATH, REDIRECT_EXPIRY_S, read_download
from picr.links.review import secret_signing_key
from picr.links.tokens import TOKEN_PARAMETER, LinkRefused
from picr.pages.review import PAGE_HEADERS, render_result_page
from picr.runtime import iso, logger, metrics, utc_now
from picr.settings import load_settings
from picr.stages.review import Requester, ReviewContext, ReviewResponse, decide, show

MAX_FORM_BYTES = 4096
"""The page's form posts a token and an action name (a few hundred bytes); anything larger is not ours."""

settings = load_settings()
settings.require("variants_queue_url", "cutout_queue_url", "review_secret_arn")
sqs = boto3.client("sqs")
context = ReviewContext(
    bucket=ImageBucket(boto3.client("s3", config=PRESIGNING), settings.bucket),  # download links: regional host
    jobs=JobStore(boto3.client("dynamodb"), settings.jobs_table),
    variants_queue=QueueSender(sqs, settings.variants_queue_url),
    cutout_queue=QueueSender(sqs, settings.cutout_queue_url),
    signing_key=secret_signing_key(settings.review_secret_arn),
    hosted_retry=settings.hosted_retry,
)
app = LambdaFunctionUrlResolver()


def _reply(result: ReviewResponse) -> Response:
    logger.info("review", extra={"outcome": result.outcome, "status": result.status, "job_id": result.job_id})
    metrics.add_metric(name=f"Review_{result.outcome.replace(':', '_')}", unit="Count", value=1)
    return Response(status_code=result.status, body=result.html, headers=PAGE_HEADERS)


@app.get("/")
def page() -> Response:
    return _reply(show(app.current_event.get_query_string_value(TOKEN_PARAMETER), context, now=utc_now()))


@app.get(f"/{DOWNLOAD_PATH}")
def download() -> Response:
    """A download link from the ready email: redirect to a presigned URL minted now (see download_links)."""
    try:
        key = read_download(context.signing_key(), app.current_event.get_query_string_value(TOKEN_PARAMETER),
                            now=utc_now())
    except LinkRefused as refused:
        logger.info("download refused", extra={"reason": refused.reason})
        return Response(status_code=403, body=render_result_page(
            title="This link does not work", message="The download link is not valid or has expired. The "
            "images are still in your picr bucket under out/."), headers=PAGE_HEADERS)
    metrics.add_metric(name="Downloads", unit="Count", value=1)
    return Response(status_code=302, body="", headers={
        **PAGE_HEADERS, "Location": context.bucket.presign(key, REDIRECT_EXPIRY_S)})


@app.post("/")
def decision() -> Response:
    event = app.current_event
    body = event.decoded_body or ""
    form = parse_qs(body) if len(body) <= MAX_FORM_BYTES else {}
    requester = Requester(
        source_ip=event.request_context.http.source_ip,
        user_agent=event.request_context.http.user_agent,
        origin=event.headers.get("origin"),
        host=event.request_context.domain_name,
        fetch_site=event.headers.get("sec-fetch-site"),
    )
    token = (form.get(TOKEN_PARAMETER) or [None])[0]
    action = (form.get("action") or [None])[0]
    return _reply(decide(token, action, context, now=utc_now(), iso=iso, requester=requester))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, lambda_context: LambdaContext) -> dict:
    return app.resolve(event, lambda_context)
