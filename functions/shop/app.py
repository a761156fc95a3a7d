"""picr-shop: the shop's own page behind a public Function URL (AuthType NONE: the owner link's token is the auth).
GET /?t=<token>[&held=1][&after=<cursor>]: products newest first, a page at a time (held only with held=1);
GET /product?t=<token>&job=<id>: one product's images per channel with downloads, its manifest and history;
POST /rerender {t, channel, job…}, POST /export {t, channel, job… | from, to} from the list page (stages.shop)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from picr.aws.bucket import PRESIGNING
from picr.aws.secrets import Secrets
from picr.links.tokens import TOKEN_PARAMETER
from picr.pages.requester import Requester
from picr.runtime import function_url_handler, logger, metrics, utc_now
from picr.settings import ShopSettings
from picr.stages.shop import PRODUCT_PATH, ShopResponse, export, listing, product, rerender, shop_context

context = shop_context(ShopSettings.from_environment(), Secrets(boto3.client("secretsmanager")),
                       s3=boto3.client("s3", config=PRESIGNING),  # links on the regional host
                       dynamodb=boto3.client("dynamodb"), sqs=boto3.client("sqs"))
app = LambdaFunctionUrlResolver()


def _reply(result: ShopResponse) -> Response:
    logger.info("shop", extra={"outcome": result.outcome, "status": result.status})
    metrics.add_metric(name=f"Shop_{result.outcome.replace(':', '_')}", unit="Count", value=1)
    return Response(status_code=result.status, body=result.html, headers=result.headers)


@app.get("/")
def products() -> Response:
    query = app.current_event.get_query_string_value
    return _reply(listing(query(TOKEN_PARAMETER), context, held=query("held") == "1", after=query("after"),
                          now=utc_now()))


@app.get(f"/{PRODUCT_PATH}")
def one_product() -> Response:
    query = app.current_event.get_query_string_value
    return _reply(product(query(TOKEN_PARAMETER), query("job"), context, now=utc_now()))


def _posted() -> tuple[str, Requester]:  # a form's body, and where the browser says the post came from
    return app.current_event.decoded_body, Requester.of(app.current_event)


@app.post("/rerender")
def start_rerender() -> Response:
    return _reply(rerender(*_posted(), context, now=utc_now()))


@app.post("/export")
def start_export() -> Response:
    return _reply(export(*_posted(), context, now=utc_now()))


handler = function_url_handler(app)
