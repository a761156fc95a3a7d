"""The shop page through ``picr-shop`` as Lambda calls it (Function URL payload 2.0, the template's environment,
moto): newest first a page at a time, the held filter, a product's page, and every refusal."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from picr.job import Status
from picr.links.owner import mint_owner_token
from picr.links.review import read_token
from tests.support.clock import now
from tests.support.shop_jobs import seed_shop

REPO = Path(__file__).resolve().parents[2]


def url_event(path: str = "/", **query: str) -> dict:
    event = json.loads((REPO / "events" / "shop.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    event["queryStringParameters"] = query or None
    return event


@pytest.fixture
def dynamodb_calls(monkeypatch) -> list[str]:
    """Every DynamoDB operation any client made from here on (the handler's included) makes, by name."""
    session = boto3.session.Session()
    calls: list[str] = []
    session.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    return calls


@pytest.fixture
def shop(stack, clock):
    """The stack with 30 products, and a way to open the shop page as the owner."""
    made = seed_shop(stack, clock, 30)
    arn = stack.functions["ShopFunction"].environment["PICR_OWNER_SECRET_ARN"]
    key = stack.secrets.get_secret_value(SecretId=arn)["SecretString"].encode()
    token = mint_owner_token(key, "shop", now=clock.at(), lifetime=timedelta(days=30))

    def get(path: str = "/", **query: str) -> dict:
        return stack.invoke("ShopFunction", url_event(path, **({"t": token} | query)))

    return made, get, key


def products(page: dict) -> list[tuple[str, str]]:
    return re.findall(r'<li class="product" data-job="([0-9a-f]{20})" data-state="([a-z ]+)">', page["body"])


def next_query(page: dict) -> dict[str, str] | None:
    found = re.search(r'<a href="([^"]+)" id="next-page"', page["body"])
    return {k: v[0] for k, v in parse_qs(urlsplit(unescape(found.group(1))).query).items()} if found else None


def test_every_product_newest_first_a_page_at_a_time_by_query_never_scan(stack, clock, dynamodb_calls):
    made = seed_shop(stack, clock, 30)
    key = stack.secrets.get_secret_value(
        SecretId=stack.functions["ShopFunction"].environment["PICR_OWNER_SECRET_ARN"])["SecretString"].encode()
    token = mint_owner_token(key, "shop", now=clock.at(), lifetime=timedelta(days=1))
    del dynamodb_calls[:]
    first = stack.invoke("ShopFunction", url_event(t=token))
    assert first["statusCode"] == 200
    query = next_query(first)
    second = stack.invoke("ShopFunction", url_event(**query))
    assert next_query(second) is None  # 20 + 10: the last page says so
    listed = products(first) + products(second)
    assert [job_id for job_id, _ in listed] == [job.job_id for job in reversed(made)]
    assert len(products(first)) == 20
    labels = {"done": "ready", "needs_review": "held", "rejected": "refused", "superseded": "superseded"}
    assert [state for _, state in listed] == [labels[job.status] for job in reversed(made)]
    assert set(dynamodb_calls) == {"Query"}, dynamodb_calls  # one Query per page, no Scan, no write


def test_the_held_filter_lists_only_held_products_and_each_opens_its_review_page(stack, shop):
    made, get, _key = shop
    page = get(held="1")
    held = [job.job_id for job in reversed(made) if job.status == Status.NEEDS_REVIEW]
    assert [job_id for job_id, _ in products(page)] == held and len(held) == 8
    product = get("/product", job=held[0])
    assert product["statusCode"] == 200
    review_url = unescape(re.search(r'<a href="([^"]+)" id="review"', product["body"]).group(1))
    assert review_url.startswith(stack.functions["ShopFunction"].environment["PICR_REVIEW_URL"])
    review_key = stack.secrets.get_secret_value(
        SecretId=stack.functions["ReviewFunction"].environment["PICR_REVIEW_SECRET_ARN"])["SecretString"].encode()
    token = read_token(review_key, parse_qs(urlsplit(review_url).query)["t"][0], now=now())
    assert (token.job_id, token.kind) == (held[0], "shop")
    shown = stack.invoke("ReviewFunction", json.loads((REPO / "events" / "review.json").read_text())
                         | {"queryStringParameters": {"t": parse_qs(urlsplit(review_url).query)["t"][0]}})
    assert shown["statusCode"] == 200 and held[0] in shown["body"]  # the review page of that very product


def test_a_product_page_shows_its_images_per_channel_manifest_and_history(stack, shop):
    made, get, _key = shop
    ready = next(job for job in reversed(made) if job.status == Status.DONE)
    page = get("/product", job=ready.job_id)
    body = page["body"]
    assert page["statusCode"] == 200 and ready.product in body
    downloads = {channel: unescape(url) for url, channel in re.findall(
        r'<a href="([^"]+)" class="download" id="download-([a-z]+)"', body)}
    assert list(downloads) == ["social", "web", "market"]
    for channel, url in downloads.items():
        parts = urlsplit(url)
        assert parts.path == f"/out/{channel}/{ready.job_id}.png"
        assert parse_qs(parts.query)["response-content-disposition"] == [
            f'attachment; filename="Product-{ready.product[-2:]}-{channel}.png"']
    assert f'&#34;job_id&#34;: &#34;{ready.job_id}&#34;' in body  # the manifest, escaped, pretty-printed
    assert re.findall(r"<li><strong>([a-z ]+)</strong>", body) == ["ingested", "ready"]
    assert 'id="review"' not in body  # only a held product links to review
    assert "img-src https://" in page["headers"]["Content-Security-Policy"]


@pytest.mark.parametrize(("query", "status", "says"), [
    ({}, 400, "opens from your shop link"),
    ({"t": "not-a-token"}, 403, "not valid"),
    ({"t": mint_owner_token(b"a replaced key", "shop", now=now(), lifetime=timedelta(days=1))}, 403, "revoked"),
])
def test_a_missing_malformed_or_revoked_link_is_refused_with_a_clear_page(stack, query, status, says):
    for path in ("/", "/product"):
        response = stack.invoke("ShopFunction", url_event(path, **query))
        assert (response["statusCode"], says in response["body"]) == (status, True), response["body"][-600:]


def test_an_expired_link_is_refused_and_a_bad_page_or_product_too(stack, shop, clock):
    _made, get, key = shop
    expired = mint_owner_token(key, "shop", now=clock.at(-timedelta(days=2)), lifetime=timedelta(days=1))
    response = stack.invoke("ShopFunction", url_event(t=expired))
    assert response["statusCode"] == 410 and "expired" in response["body"]
    held_cursor = next_query(get(held="1")) or {}
    assert "after" not in held_cursor  # 8 held fit on one page; make one from the full list instead
    cursor = next_query(get())["after"]
    assert get(held="1", after=cursor)["statusCode"] == 400  # a cursor of the full list is not one of held
    assert get(after="bm90IGEgY3Vyc29y")["statusCode"] == 400
    assert get("/product", job="f" * 20)["statusCode"] == 404
    assert get("/product", job="../x")["statusCode"] == 404


def post_rerender(stack, body: str, **headers: str) -> dict:
    event = url_event("/rerender")
    event["requestContext"]["http"]["method"] = "POST"
    event["body"], event["headers"] = body, {**event["headers"], "content-type": "application/x-www-form-urlencoded",
                                             **headers}
    return stack.invoke("ShopFunction", event)


def waiting(stack) -> int:
    url = stack.queue_urls()["VariantsQueue"]
    return int(stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"])


def test_the_list_page_starts_a_re_render_of_every_ready_product_from_its_own_form(stack, shop):
    made, get, _key = shop
    page = get()["body"]
    form = re.search(r'<form method="post" action="rerender".*?</form>', page, re.S).group(0)
    assert re.findall(r'<option value="([a-z]+)">', form) == ["web", "market", "social"]  # the configured channels
    token = re.search(r'name="t" value="([^"]+)"', form).group(1)
    started = post_rerender(stack, f"t={token}&channel=market", **{"sec-fetch-site": "same-origin"})
    ready = sum(job.status == Status.DONE for job in made)
    assert started["statusCode"] == 202 and f"of {ready} ready products" in started["body"]
    assert waiting(stack) == ready  # one message per ready product, to the variants stage


@pytest.mark.parametrize(("body", "headers", "status", "says"), [
    ("t={token}&channel=etsy", {}, 400, "There is no channel &#39;etsy&#39;"),
    ("t={token}&channel=market", {"sec-fetch-site": "cross-site"}, 403, "Not from the shop page"),
    ("t=forged&channel=market", {}, 403, "not valid"),
])
def test_a_re_render_from_the_page_is_refused_with_a_clear_message(stack, shop, body, headers, status, says):
    _made, get, _key = shop
    token = re.search(r'name="t" value="([^"]+)"', get()["body"]).group(1)
    refused = post_rerender(stack, body.format(token=token), **headers)
    assert (refused["statusCode"], says in refused["body"]) == (status, True), refused["body"][-500:]
    assert waiting(stack) == 0
