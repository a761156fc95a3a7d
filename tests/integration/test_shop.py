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
from botocore.exceptions import ClientError

from picr.aws.jobs import JobStore
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


def post(stack, path: str, body: str, **headers: str) -> dict:
    """A form posted to the shop function, from the page itself unless ``headers`` say otherwise."""
    event = url_event(path)
    event["requestContext"]["http"]["method"] = "POST"
    event["body"], event["headers"] = body, {**event["headers"], "content-type": "application/x-www-form-urlencoded",
                                             "sec-fetch-site": "same-origin", **headers}
    return stack.invoke("ShopFunction", event)


def waiting(stack, queue: str = "VariantsQueue") -> list[dict]:
    """The messages waiting in one of the stack's queues (taken off it)."""
    url, found = stack.queue_urls()[queue], []
    while batch := stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        found += [json.loads(message["Body"]) for message in batch]
        for message in batch:
            stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def ticks(count: int) -> str:
    """``count`` different products ticked, as the form posts them."""
    return "".join(f"&job={n:020x}" for n in range(count))


def bulk_form(page: str) -> tuple[str, str]:
    """The list page's form (ticks, channel, dates, both buttons) and the owner token it posts back."""
    form = re.search(r'<form method="post" action="export" id="bulk">.*?</form>', page, re.S).group(0)
    return form, re.search(r'name="t" value="([^"]+)"', form).group(1)


def test_the_list_page_offers_ticks_on_ready_products_and_both_buttons(stack, shop):
    made, get, _key = shop
    form, _token = bulk_form(get()["body"])
    assert re.findall(r'<option value="([a-z]+)">', form) == ["web", "market", "social"]  # the configured channels
    ticks = re.findall(r'<input type="checkbox" name="job" value="([0-9a-f]{20})"', form)
    listed = [job for job in reversed(made)][:20]
    assert ticks == [job.job_id for job in listed if job.status == Status.DONE]  # ready products only
    assert 'id="export"' in form and 'formaction="rerender" id="rerender"' in form
    assert 'type="date" name="from"' in form and 'type="date" name="to"' in form


def test_the_list_page_re_renders_every_ready_product_when_none_is_ticked(stack, shop):
    made, get, _key = shop
    _form, token = bulk_form(get()["body"])
    started = post(stack, "/rerender", f"t={token}&channel=market")
    ready = sum(job.status == Status.DONE for job in made)
    assert started["statusCode"] == 202 and f"of {ready} ready products" in started["body"]
    assert len(waiting(stack)) == ready  # one message per ready product, to the variants stage


def test_the_list_page_re_renders_only_the_ticked_products(stack, shop):
    made, get, _key = shop
    _form, token = bulk_form(get()["body"])
    ticked = [job.job_id for job in made if job.status == Status.DONE][:3]
    started = post(stack, "/rerender", f"t={token}&channel=market" + "".join(f"&job={job}" for job in ticked))
    assert started["statusCode"] == 202 and "of 3 selected products" in started["body"]
    assert sorted(message["job_id"] for message in waiting(stack)) == sorted(ticked)


@pytest.mark.parametrize(("body", "headers", "status", "says"), [
    ("t={token}&channel=etsy", {}, 400, "There is no channel &#39;etsy&#39;"),
    ("t={token}&channel=market", {"sec-fetch-site": "cross-site"}, 403, "Not from the shop page"),
    ("t=forged&channel=market", {}, 403, "not valid"),
    ("t={token}&channel=market&job={held}", {}, 400, "not ready"),
    ("t={token}&channel=market" + ticks(1001), {}, 400, "at most 1000 can be re-rendered"),
    ("t={token}&channel=market" + ticks(2000), {}, 413, "Too many products"),
])
def test_a_re_render_from_the_page_is_refused_with_a_clear_message(stack, shop, body, headers, status, says):
    made, get, _key = shop
    _form, token = bulk_form(get()["body"])
    held = next(job.job_id for job in made if job.status == Status.NEEDS_REVIEW)
    refused = post(stack, "/rerender", body.format(token=token, held=held), **headers)
    assert (refused["statusCode"], says in refused["body"]) == (status, True), refused["body"][-500:]
    assert waiting(stack) == []


def test_a_re_render_cut_short_on_the_page_offers_to_queue_the_rest_of_the_same_batch(stack, shop, monkeypatch):
    session, requests = boto3.session.Session(), []

    def second_request_refused(**_) -> None:
        requests.append(1)
        if len(requests) == 2:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "injected"}}, "SendMessageBatch")

    session.events.register("before-call.sqs.SendMessageBatch", second_request_refused)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)  # the handler's clients are made from it when it loads
    made, get, _key = shop
    ready = sorted(job.job_id for job in made if job.status == Status.DONE)
    _form, token = bulk_form(get()["body"])
    cut_short = post(stack, "/rerender", f"t={token}&channel=market")
    assert cut_short["statusCode"] == 503 and f"10 of {len(ready)} products" in cut_short["body"]
    batch = re.search(r'name="resume" value="([0-9a-f]{16})"', cut_short["body"]).group(1)
    assert re.search(r'<form method="post" action="rerender"', cut_short["body"])
    resumed = post(stack, "/rerender", f"t={token}&resume={batch}")
    assert resumed["statusCode"] == 202 and f"the last {len(ready) - 10} products" in resumed["body"]
    queued = waiting(stack)
    assert sorted(message["job_id"] for message in queued) == ready  # each product once, all in one batch
    assert {message["batch_id"] for message in queued} == {batch}
    again = post(stack, "/rerender", f"t={token}&resume={batch}")
    assert again["statusCode"] == 200 and "Already queued" in again["body"] and waiting(stack) == []
    assert post(stack, "/rerender", f"t={token}&resume=../../x")["statusCode"] == 400


# ------------------------------------------------------------------ asking for a zip

def test_a_zip_of_every_ready_product_is_queued_when_nothing_is_ticked(stack, shop):
    made, get, _key = shop
    _form, token = bulk_form(get()["body"])
    started = post(stack, "/export", f"t={token}&channel=web&from=&to=")
    ready = [job.job_id for job in made if job.status == Status.DONE]
    assert started["statusCode"] == 202 and f"every ready product ({len(ready)} images)" in started["body"]
    (message,) = waiting(stack, "ExportQueue")
    assert sorted(message["job_ids"]) == sorted(ready) and message["channel"] == "web"
    assert re.fullmatch(r"[0-9a-f]{16}", message["export_id"])


def test_a_zip_of_the_ticked_products_keeps_their_order(stack, shop):
    made, get, _key = shop
    _form, token = bulk_form(get()["body"])
    ticked = [job.job_id for job in made if job.status == Status.DONE][-3:]
    started = post(stack, "/export", f"t={token}&channel=market" + "".join(f"&job={job}" for job in ticked))
    assert started["statusCode"] == 202 and "3 selected products" in started["body"]
    (message,) = waiting(stack, "ExportQueue")
    assert list(message["job_ids"]) == ticked and message["selection"] == "3 selected products"


def test_a_zip_of_a_date_range_takes_the_ready_products_sent_in_it(stack, clock):
    """Products sent on three days (UTC): a range naming the middle day takes only that day's ready ones."""
    made = seed_shop(stack, clock, 30)
    jobs = JobStore(stack.dynamodb, stack.resolver.resolve({"Ref": "JobsTable"}))
    days = [clock.at(timedelta(days=offset)) for offset in (-2, -1, 0)]
    for index, job in enumerate(made):  # ten products a day, opened on three consecutive days
        opened = f"{days[index // 10].date().isoformat()}T12:{index % 10:02d}:00.000Z"
        stack.dynamodb.update_item(TableName=jobs._table, Key={"job_id": {"S": job.job_id}, "ts": {"S": "#current"}},
                                   UpdateExpression="SET created_at = :c",
                                   ExpressionAttributeValues={":c": {"S": opened}})
    key = stack.secrets.get_secret_value(
        SecretId=stack.functions["ShopFunction"].environment["PICR_OWNER_SECRET_ARN"])["SecretString"].encode()
    token = mint_owner_token(key, "shop", now=clock.at(), lifetime=timedelta(days=1))
    middle = days[1].date().isoformat()
    started = post(stack, "/export", f"t={token}&channel=social&from={middle}&to={middle}")
    assert started["statusCode"] == 202, started["body"][-400:]
    (message,) = waiting(stack, "ExportQueue")
    expected = [job.job_id for job in reversed(made[10:20]) if job.status == Status.DONE]  # newest first
    assert list(message["job_ids"]) == expected
    assert message["selection"].startswith("the products sent from ")
    since = post(stack, "/export", f"t={token}&channel=social&from={days[2].date().isoformat()}&to=")
    assert since["statusCode"] == 202
    (later,) = waiting(stack, "ExportQueue")
    assert list(later["job_ids"]) == [job.job_id for job in reversed(made[20:]) if job.status == Status.DONE]


@pytest.mark.parametrize(("body", "headers", "status", "says"), [
    ("t={token}&channel=etsy", {}, 400, "There is no channel 'etsy'"),
    ("t={token}&channel=web", {"sec-fetch-site": "cross-site"}, 403, "Not from the shop page"),
    ("t={token}&channel=web", {"origin": "https://evil.example"}, 403, "Not from the shop page"),
    ("t=forged&channel=web", {}, 403, "not valid"),
    ("t={revoked}&channel=web", {}, 403, "revoked"),
    ("t={expired}&channel=web", {}, 410, "expired"),
    ("t={token}&channel=web&job={held}", {}, 400, "not ready"),
    ("t={token}&channel=web&job={ready}&from=2026-11-01", {}, 400, "not both"),
    ("t={token}&channel=web&from=yesterday", {}, 400, "is not a date"),
    ("t={token}&channel=web&from=2026-11-08&to=2026-11-01", {}, 400, "run backwards"),
    ("t={token}&channel=web&from=1990-01-01&to=1990-12-31", {}, 400, "nothing to zip"),
    ("t={token}&channel=web" + ticks(1001), {}, 400, "at most 1000 can be exported"),
])
def test_a_zip_is_refused_with_a_clear_message_before_anything_is_queued(stack, shop, clock, body, headers, status,
                                                                        says):
    made, get, key = shop
    _form, token = bulk_form(get()["body"])
    values = {
        "token": token, "held": next(job.job_id for job in made if job.status == Status.NEEDS_REVIEW),
        "ready": next(job.job_id for job in made if job.status == Status.DONE),
        "revoked": mint_owner_token(b"a replaced key", "shop", now=clock.at(), lifetime=timedelta(days=1)),
        "expired": mint_owner_token(key, "shop", now=clock.at(-timedelta(days=2)), lifetime=timedelta(days=1)),
    }
    refused = post(stack, "/export", body.format(**values), **headers)
    assert (refused["statusCode"], says in unescape(refused["body"])) == (status, True), refused["body"][-500:]
    assert waiting(stack, "ExportQueue") == []


def test_a_zip_over_the_configured_limit_is_refused_and_a_product_without_the_channel_too(stack, shop):
    made, get, _key = shop
    stack.functions["ShopFunction"].environment["PICR_EXPORT_MAX_IMAGES"] = "5"  # read when the handler loads
    _form, token = bulk_form(get()["body"])
    refused = post(stack, "/export", f"t={token}&channel=web")
    assert refused["statusCode"] == 400 and "at most 5" in refused["body"], refused["body"][-400:]
    ready = [job.job_id for job in made if job.status == Status.DONE]
    assert post(stack, "/export", f"t={token}&channel=web&job={ready[0]}")["statusCode"] == 202
    stack.s3.put_object(Bucket=stack.bucket, Key="config/channels.json", Body=json.dumps({"channels": [
        {"name": "etsy", "kind": "marketplace", "width": 1000, "height": 800, "format": "jpeg",
         "background": "white", "fill": 0.9, "watermark": False}]}))
    no_image = post(stack, "/export", f"t={token}&channel=etsy&job={ready[0]}")
    assert no_image["statusCode"] == 400 and "have no etsy image yet" in no_image["body"]
    assert len(waiting(stack, "ExportQueue")) == 1
