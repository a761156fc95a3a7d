"""Owner links: a token opens the shop page for its owner id until it expires, under the key it was minted with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from picr.links.owner import MAX_LIFETIME, mint_owner_token, read_owner_token
from picr.links.review import mint_token
from picr.links.tokens import LinkRefused
from picr.links.upload import mint_link_token

KEY = b"k" * 64
NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)  # a pure function: any fixed date will do


def test_a_minted_link_reads_back_its_owner_and_expiry():
    token = mint_owner_token(KEY, "shop", now=NOW, lifetime=timedelta(days=90))
    link = read_owner_token(KEY, token, now=NOW + timedelta(days=89))
    assert (link.owner_id, link.expires_at) == ("shop", NOW + timedelta(days=90))


def test_an_expired_link_is_refused_as_expired():
    token = mint_owner_token(KEY, "shop", now=NOW, lifetime=timedelta(days=1))
    with pytest.raises(LinkRefused) as refused:
        read_owner_token(KEY, token, now=NOW + timedelta(days=1))
    assert refused.value.reason == "expired"


def test_a_link_minted_under_a_replaced_key_is_refused_that_is_revocation():
    token = mint_owner_token(b"the key before it was replaced", "shop", now=NOW, lifetime=timedelta(days=90))
    with pytest.raises(LinkRefused) as refused:
        read_owner_token(KEY, token, now=NOW)
    assert refused.value.reason == "forged"


def test_tokens_of_other_links_under_the_same_key_never_open_the_shop():
    review = mint_token(KEY, job_id="0" * 20, action="approve", kind="email", held_at="x",
                        expires_at=NOW + timedelta(days=1))
    for other in (review, mint_link_token(KEY, "shop"), None, "", "x" * 2000):
        with pytest.raises(LinkRefused):
            read_owner_token(KEY, other, now=NOW)


@pytest.mark.parametrize(("owner_id", "lifetime"), [("../shop", timedelta(days=1)), ("Shop", timedelta(days=1)),
                                                    ("shop", timedelta(0)), ("shop", MAX_LIFETIME + timedelta(1))])
def test_a_link_is_minted_only_for_a_plain_id_and_a_bounded_lifetime(owner_id, lifetime):
    with pytest.raises(ValueError):
        mint_owner_token(KEY, owner_id, now=NOW, lifetime=lifetime)
