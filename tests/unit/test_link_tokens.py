"""Signed link tokens: what verifies, what is refused, and that one purpose never stands for another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from picr.links.tokens import LinkRefused, link_url, sign, verify

KEY = b"s" * 32
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
PURPOSE = b"test-purpose\n"


def test_round_trip_returns_fields_and_expiry():
    token = sign(KEY, PURPOSE, {"k": "out/web/x.png"}, expires_at=NOW + timedelta(hours=1))
    fields, expires_at = verify(KEY, PURPOSE, token, now=NOW)
    assert fields == {"k": "out/web/x.png"} and expires_at == NOW + timedelta(hours=1)


@pytest.mark.parametrize("case", ["other key", "other purpose", "expired", "tampered", "garbage", "empty"])
def test_refusals(case):
    token = sign(KEY, PURPOSE, {"k": "v"}, expires_at=NOW + timedelta(hours=1))
    key, purpose, now = KEY, PURPOSE, NOW
    if case == "other key":
        key = b"t" * 32
    elif case == "other purpose":
        purpose = b"another-purpose\n"
    elif case == "expired":
        now = NOW + timedelta(hours=1)
    elif case == "tampered":
        payload, mac = token.split(".")
        token = f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{mac}"
    elif case == "garbage":
        token = "not a token at all"
    else:
        token = ""
    with pytest.raises(LinkRefused) as refused:
        verify(key, purpose, token, now=now)
    expected = {"expired": "expired", "garbage": "malformed", "empty": "malformed"}.get(case, "forged")
    assert refused.value.reason == expected


def test_an_oversized_token_is_refused_before_any_work():
    with pytest.raises(LinkRefused, match="malformed"):
        verify(KEY, PURPOSE, "a" * 5000 + ".b", now=NOW)


def test_link_url_appends_the_token_as_a_query():
    assert link_url("https://x.on.aws/", "p.m") == "https://x.on.aws/?t=p.m"
    assert link_url("https://x.on.aws/", "p.m", "download") == "https://x.on.aws/download?t=p.m"
    assert link_url("https://x.on.aws/?a=1", "p.m") == "https://x.on.aws/?a=1&t=p.m"
