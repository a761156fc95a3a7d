"""Product names and S3-safe file names from untrusted upload names."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from picr.intake.naming import (
    FALLBACK_FILE_NAME,
    FALLBACK_PRODUCT_NAME,
    MAX_FILE_NAME,
    MAX_PRODUCT_NAME,
    product_name,
    safe_file_name,
)


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("sea-salt_candle.jpg", "Sea salt candle"),
        ("IMG_2041.HEIC", "IMG 2041"),
        ("inbox/owner@example.com/linen  tea--towel.png", "Linen tea towel"),
        ("C:\\Users\\me\\Desktop\\oak.chopping.board.webp", "Oak chopping board"),
        ("crème_brûlée_jar.JPG", "Crème brûlée jar"),
        ("candle\u202egpj.exe.jpg", "Candlegpj exe"),  # a bidi override cannot reverse the name
        ("mug\x00\x1b[31m.jpg", "Mug[31m"),
        ("___.jpg", FALLBACK_PRODUCT_NAME),
        ("", FALLBACK_PRODUCT_NAME),
    ],
)
def test_product_name_from_file_name(file_name, expected):
    assert product_name(file_name) == expected


def test_metadata_name_wins_and_is_kept_as_typed():
    assert product_name("IMG_2041.HEIC", "Sea Salt candle no. 4") == "Sea Salt candle no. 4"
    assert product_name("x.jpg", "  Sea Salt\tcandle\n\x07") == "Sea Salt candle"


@pytest.mark.parametrize("blank", [None, "", "   ", "\u200b\u200d", "\x00\t"])
def test_blank_metadata_name_falls_back_to_the_file_name(blank):
    assert product_name("sea-salt_candle.jpg", blank) == "Sea salt candle"


def test_product_name_is_capped_at_a_word():
    long = "hand poured soy wax candle with sea salt and driftwood scent in a reusable amber glass jar.jpg"
    name = product_name(long)
    assert len(name) <= MAX_PRODUCT_NAME
    assert long.replace(".jpg", "").startswith(name.lower())
    assert name.endswith("amber")  # cut at the last whole word, not mid-word
    assert len(product_name("x" * 500 + ".jpg")) == MAX_PRODUCT_NAME  # one long word: a hard cut


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../out/market/x.jpg", "x.jpg"),
        ("..\\..\\out\\x.jpg", "x.jpg"),
        ("IMG_2041.HEIC", "IMG_2041.HEIC"),
        ("sea salt candle.jpg", "sea-salt-candle.jpg"),
        ("Crème brûlée.jpg", "Creme-brulee.jpg"),
        (".hidden.jpg", "hidden.jpg"),
        ("-rf .png", "rf.png"),
        ("a..b.jpg", "a.b.jpg"),
        ("photo\x00\n.jpg", "photo.jpg"),
        ("..", FALLBACK_FILE_NAME),
        ("/", FALLBACK_FILE_NAME),
        ("", FALLBACK_FILE_NAME),
        ("碗.jpg", "jpg"),
    ],
)
def test_safe_file_name(name, expected):
    assert safe_file_name(name) == expected


def test_safe_file_name_is_bounded_and_keeps_the_extension():
    name = safe_file_name("x" * 300 + ".jpeg")
    assert len(name) == MAX_FILE_NAME and name.endswith("x.jpeg")


@given(st.text(max_size=400))
def test_safe_file_name_is_always_a_plain_key_part(name):
    safe = safe_file_name(name)
    assert 0 < len(safe) <= MAX_FILE_NAME
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", safe)
    assert ".." not in safe


@given(st.text(max_size=400), st.one_of(st.none(), st.text(max_size=400)))
def test_product_name_is_always_visible_bounded_text(file_name, metadata_name):
    name = product_name(file_name, metadata_name)
    assert 0 < len(name) <= MAX_PRODUCT_NAME
    assert name == name.strip() and "  " not in name
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Cn"} for ch in name)
