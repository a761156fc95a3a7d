"""Download links in the ready email: signed, scoped to out/, and alive for their stated lifetime.

The end-to-end test follows the link from a real ready email through the review function to moto.
"""

from __future__ import annotations

import email
import email.policy
import io
import logging
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
import requests

from picr.links.download import DownloadLinks, read_download
from picr.links.tokens import LinkRefused, sign
from tests.support.function_url import function_url_event
from tools.shared_data import SAMPLES

KEY = b"k" * 32
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
LINKS = DownloadLinks("https://abc.lambda-url.eu-west-2.on.aws/", lambda: KEY, timedelta(days=7))
SAMPLE = SAMPLES / "toolbox.jpg"


def _token(url: str) -> str:
    return urlsplit(url).query.removeprefix("t=")


def test_a_link_names_its_object_for_its_whole_lifetime():
    url = LINKS.url_for("out/market/0a1b2c3d4e5f60718293.jpg", now=NOW)
    assert url.startswith("https://abc.lambda-url.eu-west-2.on.aws/download?t=")
    assert read_download(KEY, _token(url), now=NOW + timedelta(days=6, hours=23)) == (
        "out/market/0a1b2c3d4e5f60718293.jpg")
    with pytest.raises(LinkRefused, match="expired"):
        read_download(KEY, _token(url), now=NOW + timedelta(days=7))


def test_an_export_gets_a_link_like_a_published_image():
    url = LINKS.url_for("exports/0123456789abcdef/picr-market-2026-11-21.zip", now=NOW)
    assert read_download(KEY, _token(url), now=NOW + timedelta(days=6)) == (
        "exports/0123456789abcdef/picr-market-2026-11-21.zip")


def test_forged_or_foreign_tokens_are_refused():
    url = LINKS.url_for("out/web/0a1b2c3d4e5f60718293.png", now=NOW)
    with pytest.raises(LinkRefused, match="forged"):
        read_download(b"another key", _token(url), now=NOW)
    # a token minted for another purpose (or by hand) naming a key outside out/ never downloads
    for fields in ({"k": "work/0a1b2c3d4e5f60718293/source.jpg"}, {"k": "out/../config/x"},
                   {"k": "exports/../originals/0a1b2c3d4e5f60718293/photo.jpg"}, {"k": "exportsx/a.zip"}, {}):
        token = sign(KEY, b"picr-download-link-v1\n", fields, expires_at=NOW + timedelta(days=1))
        with pytest.raises(LinkRefused):
            read_download(KEY, token, now=NOW)
    with pytest.raises(ValueError):
        LINKS.url_for("work/0a1b2c3d4e5f60718293/source.jpg", now=NOW)


@pytest.mark.slow
def test_the_ready_emails_links_download_the_published_images(stack):
    from moto.ses.models import ses_backends

    from picr.runtime import logger

    captured = io.StringIO()  # the functions' own log stream (stdout on Lambda), whatever pytest captures
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)

    stack.s3.put_object(Bucket=stack.bucket, Key="inbox/toolbox.jpg", Body=SAMPLE.read_bytes())
    stack.drain()
    (sent,) = ses_backends["123456789012"]["eu-west-2"].sent_messages
    message = email.message_from_string(sent.raw_data, policy=email.policy.default)
    html = message.get_body(preferencelist=("html",)).get_content()
    links = [unescape(link) for link in re.findall(r'href="([^"]+/download\?t=[^"]+)"', html)]
    assert len(links) == 3
    review = next(lid for lid, fn in stack.functions.items() if fn.code_dir.name == "review")
    downloaded = set()
    for link in links:
        parts = urlsplit(link)
        response = stack.invoke(review, function_url_event("GET", f"{parts.path}?{parts.query}"))
        assert response["statusCode"] == 302
        fetched = requests.get(response["headers"]["Location"], timeout=10)
        assert fetched.status_code == 200
        key = urlsplit(response["headers"]["Location"]).path.lstrip("/")
        assert key.startswith("out/")
        assert fetched.content == stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()
        downloaded.add(key.split("/")[1])
    assert downloaded == {"web", "market", "social"}
    tampered = f"{parts.path}?{parts.query[:-3]}abc"
    refused = stack.invoke(review, function_url_event("GET", tampered))
    assert refused["statusCode"] == 403
    assert "under out/" in refused["body"] and "shop page" in refused["body"]  # where to find images and zips
    # Nothing secret reaches the logs: neither the signing key nor a link's token.
    logger.removeHandler(handler)
    logs = captured.getvalue()
    assert '"level":"INFO"' in logs  # the functions did log, so the check below means something
    key = stack.secrets.get_secret_value(SecretId=stack.functions[review].environment["PICR_REVIEW_SECRET_ARN"])
    assert key["SecretString"] not in logs
    assert not any(_token(link) in logs for link in links)


def test_a_download_redirects_to_the_buckets_regional_virtual_hosted_address(stack, clock):
    """Not the legacy global host s3.amazonaws.com: the bucket's own regional endpoint, bucket in the host."""
    key = "out/web/0a1b2c3d4e5f60718293.png"
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=b"published image")
    review = stack.functions["ReviewFunction"].environment
    signing_key = stack.secrets.get_secret_value(SecretId=review["PICR_REVIEW_SECRET_ARN"])["SecretString"].encode()
    links = DownloadLinks("https://review.example/", lambda: signing_key, timedelta(days=7))
    link = urlsplit(links.url_for(key, now=clock.at()))
    response = stack.invoke("ReviewFunction", function_url_event("GET", f"{link.path}?{link.query}"))
    assert response["statusCode"] == 302
    location = urlsplit(response["headers"]["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https", f"{stack.bucket}.s3.eu-west-2.amazonaws.com", f"/{key}")
    assert requests.get(response["headers"]["Location"], timeout=10).content == b"published image"
