"""Names derived from an upload: the product name shown to the owner, and a file name safe in an S3 key.

Both take untrusted text (a file name from a phone, an email attachment or a Drive folder; a name
from upload metadata), so both drop control and invisible formatting characters (which can hide or
reverse text in a notification) and are bounded in length.
"""

from __future__ import annotations

import re
import unicodedata

MAX_PRODUCT_NAME = 80
MAX_FILE_NAME = 100
FALLBACK_PRODUCT_NAME = "Untitled product"
FALLBACK_FILE_NAME = "upload"
UNNAMED_PRODUCT = "Your product"
"""What the owner sees for a job without a product name (emails, the review and shop pages)."""

# Control (Cc), format (Cf: bidi overrides, zero-width), surrogate (Cs) and unassigned (Cn) characters.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn"})
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
_NAME_SEPARATORS = re.compile(r"[\s_.\-]+")
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def _visible(text: str) -> str:
    """NFC-normalised text, whitespace (tabs, newlines) as plain spaces, invisible characters removed."""
    spaced = (" " if ch.isspace() else ch for ch in unicodedata.normalize("NFC", text))
    return "".join(ch for ch in spaced if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES)


def _last_path_part(name: str) -> str:
    """The part after the last slash or backslash: a client may send a whole path as the file name."""
    return re.split(r"[\\/]", name)[-1]


def _cap_at_word(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut after the last whole word unless that would lose over half."""
    if len(text) <= limit:
        return text
    # One character past the limit shows whether the limit falls exactly between two words.
    head = text[: limit + 1].rsplit(" ", 1)[0]
    if len(head) > limit or len(head) < limit // 2:
        head = text[:limit]
    return head.rstrip(" -_.,;:")


def one_line(text: str) -> str:
    """Collapse every line break, control or formatting character (bidi overrides included) and whitespace
    run into one space: a name or a subject goes into a mail header, a log line and a page, and must not
    start a new header there (or a fake line in a body)."""
    cleaned = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    return " ".join(cleaned.split())


def product_name(file_name: str, metadata_name: str | None = None) -> str:
    """The product's display name: the metadata name when it has any visible text, else from the file name.

    A metadata name is kept as the owner typed it (only cleaned and capped). A file name loses its
    path and extension, its separators (``-``, ``_``, ``.``, runs of spaces) become single spaces and
    its first letter is capitalised, the rest kept: ``sea-salt_candle.jpg`` -> "Sea salt candle",
    ``IMG_2041.HEIC`` -> "IMG 2041". Never empty.
    """
    if metadata_name is not None:
        typed = " ".join(_visible(metadata_name).split())
        if typed:
            return _cap_at_word(typed, MAX_PRODUCT_NAME)
    stem = _EXTENSION.sub("", _visible(_last_path_part(file_name)))
    words = _NAME_SEPARATORS.sub(" ", stem).strip()
    if not words:
        return FALLBACK_PRODUCT_NAME
    return _cap_at_word(words[0].upper() + words[1:], MAX_PRODUCT_NAME)


def safe_file_name(name: str) -> str:
    """A file name safe as the last part of an S3 key (and in a Drive folder or a mail attachment).

    Only the last path part is kept (``../../out/market/x.jpg`` -> ``x.jpg``); accents are folded to
    ASCII, spaces become ``-`` and anything outside ``A-Z a-z 0-9 . _ -`` becomes ``_``; no leading
    dot or dash (no hidden files, no ``..``, nothing that reads as an option); at most 100 characters
    with the extension kept. Never empty.
    """
    visible = _visible(_last_path_part(name))
    folded = unicodedata.normalize("NFKD", visible).encode("ascii", "ignore").decode("ascii")
    dashed = re.sub(r"\s+", "-", folded.strip())
    cleaned = _UNSAFE_FILE_CHARS.sub("_", dashed).lstrip(".-_")
    cleaned = re.sub(r"[._-]*\.[._-]*", ".", cleaned)  # "a..b", "name-.jpg": one plain dot
    if not cleaned.strip("._-"):
        return FALLBACK_FILE_NAME
    if len(cleaned) <= MAX_FILE_NAME:
        return cleaned
    extension = _EXTENSION.search(cleaned)
    suffix = extension.group(0) if extension else ""
    return cleaned[: MAX_FILE_NAME - len(suffix)].rstrip("._-") + suffix



def product_file_stem(product: str, job_id: str) -> str:
    """The product's name as the start of a file name (``Sea-salt-candle``); the job id when it has none."""
    return safe_file_name(product or job_id).rsplit(".", 1)[0]


def product_file_name(product: str, job_id: str, channel: str, ext: str) -> str:
    """What a published image is saved as when the owner takes it away: the product's name, then the channel
    (``Sea-salt-candle-market.jpg``), so a folder of them uploads to a shop as it is."""
    return f"{product_file_stem(product, job_id)}-{channel}.{ext}"
