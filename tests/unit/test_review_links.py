"""Review links as pure functions: tokens that name one job, one action and one hold, and the buttons a held
job is offered.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from picr.job import Job, Status
from picr.links.review import LinkRefused, ReviewLinks, mint_token, offered_actions, read_token, review_url

KEY = b"0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
JOB_ID = "0a1b2c3d4e5f60718293"


def _mint(**overrides):
    fields = {"job_id": JOB_ID, "action": "approve", "kind": "email", "held_at": "2026-11-20T08:00:00.000Z",
              "expires_at": NOW + timedelta(hours=72), **overrides}
    return mint_token(overrides.pop("key", KEY), **{k: v for k, v in fields.items() if k != "key"})


# ------------------------------------------------------------------ tokens


def test_a_minted_token_reads_back_with_every_field():
    token = read_token(KEY, _mint(nonce="n0nce"), now=NOW)
    assert (token.job_id, token.action, token.kind, token.held_at, token.nonce) == (
        JOB_ID, "approve", "email", "2026-11-20T08:00:00.000Z", "n0nce")
    assert token.expires_at == NOW + timedelta(hours=72)
    # Each mint draws its own nonce, so no two links are the same token.
    assert read_token(KEY, _mint(), now=NOW).nonce != read_token(KEY, _mint(), now=NOW).nonce


def test_another_key_or_any_changed_field_is_a_forgery():
    token = _mint()
    payload, mac = token.split(".")
    other_payload = _mint(action="reject").split(".")[0]
    for forged in (_mint(key=b"another key, another deployment"), f"{other_payload}.{mac}",
                   f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{mac}",
                   f"{payload}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}"):
        with pytest.raises(LinkRefused) as refused:
            read_token(KEY, forged, now=NOW)
        assert refused.value.reason in {"forged", "malformed"}, forged
    with pytest.raises(LinkRefused, match="forged"):
        read_token(KEY, f"{other_payload}.{mac}", now=NOW)


def test_expiry_is_checked_after_the_signature():
    token = _mint(expires_at=NOW)
    with pytest.raises(LinkRefused, match="expired"):
        read_token(KEY, token, now=NOW)
    assert read_token(KEY, token, now=NOW - timedelta(seconds=1)).action == "approve"
    with pytest.raises(LinkRefused, match="forged"):  # an expired forgery is reported as a forgery
        read_token(b"wrong key", token, now=NOW + timedelta(days=30))


@pytest.mark.parametrize("text", [None, "", "abc", "a.b.c", "a..b", "é.é", "x" * 2000 + ".y"])
def test_malformed_tokens_are_refused(text):
    with pytest.raises(LinkRefused, match="malformed"):
        read_token(KEY, text, now=NOW)


def test_stray_characters_do_not_make_another_spelling_of_a_token():
    token = _mint()
    # A 32-byte MAC is 43 base64 characters; the last one carries 2 spare bits. Flipping one of them
    # decodes to the same bytes, and must still be refused.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    same_bytes = token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]
    assert base64.urlsafe_b64decode(same_bytes.split(".")[1] + "=") == base64.urlsafe_b64decode(
        token.split(".")[1] + "=")
    for variant in (token + "\n", token + "=", " " + token, token.replace(".", ".="), same_bytes):
        with pytest.raises(LinkRefused):
            read_token(KEY, variant, now=NOW)


def test_review_urls_carry_the_token_as_the_query():
    url = review_url("https://abc.lambda-url.eu-west-2.on.aws/", "p.m")
    assert url == "https://abc.lambda-url.eu-west-2.on.aws/?t=p.m"
    assert parse_qs(urlsplit(review_url("http://h/x?a=1", "p.m")).query) == {"a": ["1"], "t": ["p.m"]}


def test_retry_is_offered_only_with_a_hosted_engine_and_a_cutout_it_did_not_make():
    held = Job(job_id=JOB_ID, status=Status.NEEDS_REVIEW, updated_at="2026-11-20T08:00:00.000Z",
               cutout_key="work/x/cutout.png", source_work_key="work/x/source.jpg", engine="u2net")
    assert offered_actions(held, hosted_retry=False) == ["approve", "reject"]
    assert offered_actions(held, hosted_retry=True) == ["approve", "reject", "retry"]
    assert offered_actions(replace(held, engine="hosted"), hosted_retry=True) == ["approve", "reject"]
    assert offered_actions(replace(held, cutout_key=None), hosted_retry=False) == ["reject"]


def test_links_for_a_job_name_its_hold_and_expire_together():
    links = ReviewLinks("https://r.example/", lambda: KEY, timedelta(hours=72))
    job = Job(job_id=JOB_ID, status=Status.NEEDS_REVIEW, updated_at="2026-11-20T08:00:00.000Z", cutout_key="k",
              source_work_key="s")
    made = links.for_job(job, kind="digest", now=NOW)
    assert [link.label for link in made] == ["Approve cutout", "Reject"]
    tokens = [read_token(KEY, parse_qs(urlsplit(link.url).query)["t"][0], now=NOW) for link in made]
    assert [(t.action, t.kind, t.held_at) for t in tokens] == [
        ("approve", "digest", job.updated_at), ("reject", "digest", job.updated_at)]
    assert {t.expires_at for t in tokens} == {NOW + timedelta(hours=72)}
