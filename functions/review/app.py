"""picr-review: the Function URL behind every signed link in the emails (AuthType NONE: the token is the
auth) — the Approve / Reject / Retry page (GET shows it, only a POST from that page acts), the fix page
(GET /fix shows the tap and brush tools; its previews and "Publish this cutout" are POSTs from it, run in
the cutout container) and the ready email's download links (GET /download redirects to a freshly
presigned URL)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import boto3
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from picr.config import load_settings
from picr.download_links import DOWNLOAD_PATH, REDIRECT_EXPIRY_S, read_download
from picr.fix_client import INVOKE_CONFIG, LambdaFixer
from picr.fix_page import JSON_HEADERS, PREVIEW_PATH, PUBLISH_PATH, fix_page_headers
from picr.jobs import JobStore
from picr.messages import QueueSender
from picr.review_links import secret_signing_key
from picr.review_page import PAGE_HEADERS, render_result_page
from picr.runtime import iso, logger, metrics, utc_now
from picr.signed_tokens import TOKEN_PARAMETER, LinkRefused
from picr.stages.review import FIX_PATH, Requester, ReviewContext, ReviewResponse, decide, show
from picr.stages.review_fix import MAX_BODY_BYTES, FixResponse, preview, publish, show_fix
from picr.storage import PRESIGNING, ImageBucket

MAX_FORM_BYTES = 4096
"""The page's form posts a token and an action name (a few hundred bytes); anything larger is not ours."""

settings = load_settings()
settings.require("variants_queue_url", "cutout_queue_url", "review_secret_arn")
sqs = boto3.client("sqs")
lambda_client = boto3.client("lambda", config=INVOKE_CONFIG)  # the fix page's tools run in the cutout function
context = ReviewContext(
    bucket=ImageBucket(boto3.client("s3", config=PRESIGNING), settings.bucket),  # download links: regional host
    jobs=JobStore(boto3.client("dynamodb"), settings.jobs_table),
    variants_queue=QueueSender(sqs, settings.variants_queue_url),
    cutout_queue=QueueSender(sqs, settings.cutout_queue_url),
    signing_key=secret_signing_key(settings.review_secret_arn),
    hosted_retry=settings.hosted_retry,
    fixer=LambdaFixer(lambda_client, settings.fix_function) if settings.fix_function else None,
)
app = LambdaFunctionUrlResolver()


def _reply(result: ReviewResponse | FixResponse, headers: dict[str, str] = PAGE_HEADERS) -> Response:
    logger.info("review", extra={"outcome": result.outcome, "status": result.status, "job_id": result.job_id})
    metrics.add_metric(name=f"Review_{result.outcome.replace(':', '_')}", unit="Count", value=1)
    body = result.html if isinstance(result, ReviewResponse) else result.text()
    return Response(status_code=result.status, body=body, headers=headers)


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


def _requester() -> Requester:
    event = app.current_event
    return Requester(
        source_ip=event.request_context.http.source_ip,
        user_agent=event.request_context.http.user_agent,
        origin=event.headers.get("origin"),
        host=event.request_context.domain_name,
        fetch_site=event.headers.get("sec-fetch-site"),
    )


@app.post("/")
def decision() -> Response:
    body = app.current_event.decoded_body or ""
    form = parse_qs(body) if len(body) <= MAX_FORM_BYTES else {}
    token = (form.get(TOKEN_PARAMETER) or [None])[0]
    action = (form.get("action") or [None])[0]
    return _reply(decide(token, action, context, now=utc_now(), iso=iso, requester=_requester()))


@app.get(f"/{FIX_PATH}")
def fix_page() -> Response:
    result = show_fix(app.current_event.get_query_string_value(TOKEN_PARAMETER), context, now=utc_now())
    return _reply(result, fix_page_headers() if result.status == 200 else PAGE_HEADERS)


def _fix_body() -> tuple[str | None, object]:
    """The page's JSON request: the link and the edits (anything else, or too large, reads as neither)."""
    body = app.current_event.decoded_body or ""
    try:
        payload = json.loads(body) if len(body) <= MAX_BODY_BYTES else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    token = payload.get(TOKEN_PARAMETER)
    return (token if isinstance(token, str) else None), payload.get("edits")


@app.post(f"/{PREVIEW_PATH}")
def fix_preview() -> Response:
    token, edits = _fix_body()
    return _reply(preview(token, edits, context, now=utc_now(), iso=iso, requester=_requester()), JSON_HEADERS)


@app.post(f"/{PUBLISH_PATH}")
def fix_publish() -> Response:
    token, edits = _fix_body()
    return _reply(publish(token, edits, context, now=utc_now(), iso=iso, requester=_requester()), JSON_HEADERS)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, lambda_context: LambdaContext) -> dict:
    return app.resolve(event, lambda_context)
