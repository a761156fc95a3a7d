"""Upload links: a token opens only its own link id, and a link reaches only its own keys."""

from __future__ import annotations

import pytest

from picr.intake.upload import owns_key
from picr.links.tokens import LinkRefused
from picr.links.upload import mint_link_token, read_link_token

KEY = b"k" * 64


def test_a_minted_token_reads_back_its_link_id_and_nothing_else_does():
    token = mint_link_token(KEY, "shop")
    assert read_link_token(KEY, token) == "shop"
    link_id, mac = token.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    forged_for_other = f"studio.{mac}"  # the MAC of "shop" does not open "studio"
    for bad in (None, "", token + "A", f"{link_id}.{flipped}", forged_for_other, token.upper(),
                f"{link_id}.{mac}=", f" {token}", mint_link_token(b"another key", "shop"), "shop", "x" * 500):
        with pytest.raises(LinkRefused):
            read_link_token(KEY, bad)
    with pytest.raises(ValueError):
        mint_link_token(KEY, "../other")


def test_upload_keys_stay_inside_the_links_own_prefix():
    assert owns_key("shop", "inbox/upload/shop/0a1b-x.jpg")
    for key in ("inbox/upload/shopping/0a1b-x.jpg", "inbox/upload/shop/../studio/x.jpg", "inbox/upload/shop/a/b.jpg",
                "inbox/upload/studio/0a1b-x.jpg", "out/web/job.png", "inbox/upload/shop/..x.jpg"):
        assert not owns_key("shop", key), key
