"""picr-review: the Function URL behind the emails' signed links (the token is the auth): the decision page (GET
shows it, only its POST acts), the fix page (GET /fix, JSON POSTs run in the cutout) and GET /download redirects."""

from __future__ import annotations

import boto3
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from picr.aws.bucket import PRESIGNING
from picr.aws.fixer import INVOKE_CONFIG
from picr.aws.secrets import Secrets
from picr.links.download import DOWNLOAD_PATH
from picr.links.tokens import TOKEN_PARAMETER
from picr.pages.requester import Requester
from picr.runtime import function_url_handler, iso, logger, metrics, utc_now
from picr.settings import ReviewSettings
from picr.stages.review import FIX_PATH, ReviewResponse, decide, download, posted, review_context, show
from picr.stages.review_fix import FixResponse, fix_step, show_fix

lambda_client = boto3.client("lambda", config=INVOKE_CONFIG)  # the fix page's edits run in the cutout function
context = review_context(ReviewSettings.from_environment(), Secrets(boto3.client("secretsmanager")),
                         s3=boto3.client("s3", config=PRESIGNING),  # download links: the regional host
                         dynamodb=boto3.client("dynamodb"), sqs=boto3.client("sqs"), lambda_client=lambda_client)
app = LambdaFunctionUrlResolver()


def _reply(result: ReviewResponse | FixResponse) -> Response:
    logger.info("review", extra={"outcome": result.outcome, "status": result.status, "job_id": result.job_id})
    metrics.add_metric(name=f"Review_{result.outcome.replace(':', '_')}", unit="Count", value=1)
    return Response(status_code=result.status, body=result.html, headers=result.headers)


@app.get("/")
def page() -> Response:
    return _reply(show(app.current_event.get_query_string_value(TOKEN_PARAMETER), context, now=utc_now()))


@app.get(f"/{DOWNLOAD_PATH}")
def download_link() -> Response:
    return _reply(download(app.current_event.get_query_string_value(TOKEN_PARAMETER), context, now=utc_now()))


@app.post("/")
def decision() -> Response:
    return _reply(decide(*posted(app.current_event.decoded_body), context, now=utc_now(), iso=iso,
                         requester=Requester.of(app.current_event)))


@app.get(f"/{FIX_PATH}")
def fix_page() -> Response:
    return _reply(show_fix(app.current_event.get_query_string_value(TOKEN_PARAMETER), context, now=utc_now()))


@app.post(f"/{FIX_PATH}/<step>")
def fix_request(step: str) -> Response:  # the page's preview and publish
    return _reply(fix_step(step, app.current_event.decoded_body, context, now=utc_now(), iso=iso,
                           requester=Requester.of(app.current_event)))


handler = function_url_handler(app)
