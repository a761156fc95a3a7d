"""The email lane, pure: one raw email (as SES stores it) → the photos to ingest, or why none are taken.

Nothing here touches AWS. The stage (``picr.stages.mail_intake``) reads the raw mail from ``mail/`` and
writes what this module returns into ``inbox/``.

Whether the mail is taken at all is decided from its header section alone (``BytesHeaderParser``), before a
byte of the body is parsed, so a stranger's hostile body costs nothing. In order, cheapest and most final
first:

1. ``too_large``: the raw mail is over ``MailLimits.max_mail_bytes``.
2. ``unscanned`` / ``virus`` / ``spam``: SES's verdict headers. The receipt rule scans every mail
   (``ScanEnabled``) and prepends ``X-SES-Virus-Verdict`` and ``X-SES-Spam-Verdict``; a mail without them
   did not come through the rule and is refused. Every occurrence is read, so a sender who writes
   ``PASS`` headers of their own cannot outvote SES's (SES's come first and one failing one refuses).
3. ``no_sender`` / ``forged_from``: not exactly one From address, or a From header the parser had to
   guess at (``picr.intake.mail_auth.read_sender``).
4. ``sender_not_allowed``: the From address is not on the allowlist.
5. ``spoofed`` / ``unauthenticated``: SES's authentication results do not vouch for the From domain
   (``picr.intake.mail_auth.authenticate``: DMARC pass, or an SPF or DKIM pass aligned with it).

Then the body is parsed within fixed limits (``MailLimits.max_depth``, ``max_parts``, ``max_parse_s``);
a body that does not fit is refused whole (``too_complex``, ``too_slow``) rather than parsed without end:
Python's email parser recurses once per nesting level and builds an object per part, so 2,000 nested
multiparts overflow the stack and 300,000 tiny parts take minutes.

Then each leaf part is looked at. An image is recognised by its bytes (``picr.image.formats.sniff_format``) or its
declared ``image/*`` type, so a HEIC sent as ``application/octet-stream`` is still a photo and a
``photo.jpg`` that is really a PDF is not. Attachments and inline images are treated alike: phone mail
apps put photos inline. Skipped, with a reason for the sender:

* ``decoration``: an image smaller than ingest's minimum photo size (``IntakeLimits.min_long_edge`` /
  ``min_short_edge``): a signature logo, an icon, a tracking pixel. Ingest would refuse it anyway; in a
  mail it is never the photo the sender meant, so it is dropped quietly rather than answered with a
  "too small" email each time.
* ``too_large``: a single photo over ``MailLimits.max_photo_bytes``.
* ``over_limit``: photos past ``MailLimits.max_photos``.
* ``not_a_photo``: a named attachment that is not an image (a PDF, a document).
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from email import policy
from email.feedparser import BytesFeedParser
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser

from PIL import Image

from picr.image.formats import sniff_format
from picr.image.limits import IntakeLimits
from picr.image.photo import register_heif
from picr.intake.mail_auth import MailRefusal, authenticate, read_sender
from picr.intake.naming import one_line, safe_file_name

_INTAKE_LIMITS = IntakeLimits()

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "HEIF": "image/heic", "WEBP": "image/webp",
                 "GIF": "image/gif", "BMP": "image/bmp", "TIFF": "image/tiff", "AVIF": "image/avif",
                 "JPEG XL": "image/jxl"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "HEIF": "heic", "WEBP": "webp", "GIF": "gif", "BMP": "bmp",
              "TIFF": "tif", "AVIF": "avif", "JPEG XL": "jxl"}

_SPAM_ACCEPTED = frozenset({"PASS", "GRAY"})
"""GRAY is SES saying it could not decide; the allowlist and the authentication check are the gate then."""
_VIRUS_ACCEPTED = frozenset({"PASS"})
"""Anything but a clean scan (FAIL, GRAY, PROCESSING_FAILED) means the attachments were not proven safe."""
_FEED_BYTES = 64 * 1024
"""The body is fed to the parser in pieces this size, the clock checked between them."""
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|aw|wg|tr|sv|vs)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class MailLimits:
    """What one email may bring in.

    ``max_photos`` (10): one email is one product's photos, sent from a phone; ten covers every angle,
    and a mail carrying more is more likely a mistake (a whole album forwarded) than a shoot.
    ``max_photo_bytes`` is ingest's own limit (40 MB), so nothing is taken that ingest would refuse unseen.
    ``max_mail_bytes`` (40 MB) is the largest message SES receiving accepts; anything bigger in ``mail/``
    was not put there by SES.
    ``max_depth`` (16): a phone's mail nests four deep (mixed > alternative > related > image) and each
    forward adds two (message/rfc822 and its multipart); 16 covers several forwards and keeps the parser's
    recursion, one level per nesting, far from Python's limit.
    ``max_parts`` (500): ten photos with their text, HTML and signature logos are a few dozen parts.
    ``max_parse_s`` (10 s): the function has 60 s, and writing ten photos into ``inbox/`` needs the rest.
    ``max_header_bytes`` (256 KB): the header section ends within this many bytes. A phone's mail has a few
    KB of headers and a long forwarded chain tens; the header parser reads everything up to the first
    empty line, so it must find one soon.
    """

    max_photos: int = 10
    max_photo_bytes: int = _INTAKE_LIMITS.max_bytes
    max_mail_bytes: int = 40 * 1024 * 1024
    min_long_edge: int = _INTAKE_LIMITS.min_long_edge
    min_short_edge: int = _INTAKE_LIMITS.min_short_edge
    max_depth: int = 16
    max_parts: int = 500
    max_parse_s: float = 10.0
    max_header_bytes: int = 256 * 1024


@dataclass(frozen=True)
class MailPhoto:
    """One photo to write under ``inbox/``: a safe file name, unique within its email."""

    file_name: str
    data: bytes
    content_type: str


@dataclass(frozen=True)
class Skipped:
    """A part of the email that is not taken, and why (``code`` as in the module docstring)."""

    file_name: str
    code: str
    message: str


@dataclass(frozen=True)
class MailIntake:
    """What one email brings in."""

    sender: str | None
    subject: str
    message_id: str | None
    refusal: MailRefusal | None = None
    photos: list[MailPhoto] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def product(self) -> str | None:
        """The product name: the subject without its Re:/Fwd: prefixes (None when nothing is left)."""
        name = _REPLY_PREFIX.sub("", self.subject).strip()
        return name or None

    @property
    def reported_skips(self) -> list[Skipped]:
        """Skips worth telling the sender about (a logo dropped quietly is not news)."""
        return [skip for skip in self.skipped if skip.code != "decoration"]


def read_mail(raw: bytes, *, allowed_senders: Sequence[str], limits: MailLimits = MailLimits(),
              clock: Callable[[], float] = time.monotonic) -> MailIntake:
    """Decide what a raw email brings in (see the module docstring for the order of checks). ``clock``
    (seconds) times the body's parse against ``limits.max_parse_s``."""
    unread = MailIntake(sender=None, subject="", message_id=None)
    if len(raw) > limits.max_mail_bytes:
        return replace(unread, refusal=MailRefusal(
            "too_large", f"The email is {len(raw) / 2**20:.1f} MB, more than the "
                         f"{limits.max_mail_bytes / 2**20:.0f} MB accepted."))
    end = _HEADER_END.search(raw, 0, limits.max_header_bytes)
    if end is None and len(raw) > limits.max_header_bytes:
        return replace(unread, refusal=MailRefusal(
            "too_complex", f"The email's headers run past {limits.max_header_bytes // 1024} KB."))
    headers = BytesHeaderParser(policy=policy.default).parsebytes(raw[:end.end()] if end else raw)
    subject = _header_text(headers, "Subject")
    message_id = _header_text(headers, "Message-ID") or None
    found = read_sender(headers)
    refusal = _verdict_refusal(headers) or found.refusal
    if refusal is None and not is_allowed(found.address or "", allowed_senders):
        refusal = MailRefusal("sender_not_allowed", f"{found.address} is not on the list of allowed senders.")
    if refusal is None:
        refusal = authenticate(headers, found.domain or "")
    read = MailIntake(sender=found.address, subject=subject, message_id=message_id, refusal=refusal)
    if refusal is not None:
        return read
    budget = _Budget(limits, clock)
    try:
        photos, skipped = _photos(_parse_body(raw, budget), limits, budget)
    except _Unreadable as exc:
        return replace(read, refusal=MailRefusal(exc.code, exc.message))
    return replace(read, photos=photos, skipped=skipped)


def is_allowed(sender: str, allowed_senders: Sequence[str]) -> bool:
    """Exact address match, or ``@domain`` entries matching every address at that domain (case-insensitive)."""
    address = sender.lower()
    domain = address.rpartition("@")[2]
    return any(entry.lower() in (address, f"@{domain}") for entry in allowed_senders if entry)


def _header_text(message: Message, name: str) -> str:
    """A header as one line of text; a header the parser cannot decode counts as absent."""
    try:
        value = message.get(name)
    except (ValueError, IndexError):
        return ""
    return one_line(str(value)) if value is not None else ""


def _all_headers(message: Message, name: str) -> list[str]:
    return [one_line(str(value)) for value in (message.get_all(name) or [])]


def _verdict_refusal(message: Message) -> MailRefusal | None:
    virus = [value.upper() for value in _all_headers(message, "X-SES-Virus-Verdict")]
    spam = [value.upper() for value in _all_headers(message, "X-SES-Spam-Verdict")]
    if not virus or not spam:
        return MailRefusal("unscanned", "The email carries no SES spam and virus verdict, so it did not "
                                        "arrive through the receipt rule.")
    if any(value not in _VIRUS_ACCEPTED for value in virus):
        return MailRefusal("virus", f"SES's virus scan did not pass ({', '.join(virus)}).")
    if any(value not in _SPAM_ACCEPTED for value in spam):
        return MailRefusal("spam", f"SES judged the email to be spam ({', '.join(spam)}).")
    return None


# --------------------------------------------------------------------------- the body, within limits


class _Unreadable(Exception):
    """The body does not fit ``MailLimits``: the mail is refused with ``code`` and ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Budget:
    """The parts, depth and time one body may use; raises ``_Unreadable`` as soon as one is spent."""

    def __init__(self, limits: MailLimits, clock: Callable[[], float]) -> None:
        self._limits = limits
        self._clock = clock
        self._deadline = clock() + limits.max_parse_s
        self._parts = 0

    def enter_part(self, depth: int) -> None:
        self._parts += 1
        if self._parts > self._limits.max_parts:
            raise _Unreadable("too_complex", f"The email has more than {self._limits.max_parts} parts.")
        if depth > self._limits.max_depth:
            raise _Unreadable("too_complex", f"The email nests its parts more than {self._limits.max_depth} "
                                             "levels deep.")
        self.check_time()

    def check_time(self) -> None:
        if self._clock() > self._deadline:
            raise _Unreadable("too_slow", f"The email could not be read within {self._limits.max_parse_s:g} s.")


class _BoundedParser(BytesFeedParser):
    """The stdlib's feed parser, counting each part as it opens it.

    CPython's ``FeedParser`` opens every part, the root and each nested one, through ``_new_message``, with
    ``_msgstack`` holding the part's ancestors: the one place to stop a part from being built at all.
    Both names are private; the tests that feed this parser too deep and too many parts would fail if a
    Python release renamed them.
    """

    def __init__(self, budget: _Budget) -> None:
        super().__init__(policy=policy.default)
        self._budget = budget

    def _new_message(self) -> None:
        self._budget.enter_part(depth=len(self._msgstack) + 1)
        super()._new_message()


def _parse_body(raw: bytes, budget: _Budget) -> Message:
    """The whole mail parsed (its headers again, then the body), a piece at a time, within ``budget``."""
    parser = _BoundedParser(budget)
    view = memoryview(raw)
    for start in range(0, len(raw), _FEED_BYTES):
        parser.feed(bytes(view[start:start + _FEED_BYTES]))
        budget.check_time()
    return parser.close()


def _photos(message: Message, limits: MailLimits, budget: _Budget) -> tuple[list[MailPhoto], list[Skipped]]:
    photos: list[MailPhoto] = []
    skipped: list[Skipped] = []
    taken_names: set[str] = set()
    for index, part in enumerate(message.walk(), start=1):
        budget.check_time()
        if part.is_multipart() or part.get_content_maintype() == "message":
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or not data:
            continue
        declared_name = _file_name(part)
        image_format = sniff_format(data)
        if image_format is None and part.get_content_maintype() != "image":
            if declared_name and part.get_content_disposition() == "attachment":
                skipped.append(Skipped(safe_file_name(declared_name), "not_a_photo",
                                       "It is not a photo, so it was not used."))
            continue
        extension = EXTENSIONS.get(image_format or "", "bin")
        name = safe_file_name(declared_name or f"photo-{index}.{extension}")
        if len(data) > limits.max_photo_bytes:
            skipped.append(Skipped(name, "too_large", f"It is {len(data) / 2**20:.1f} MB, more than the "
                                                      f"{limits.max_photo_bytes / 2**20:.0f} MB accepted."))
            continue
        if _is_decoration(data, limits):
            skipped.append(Skipped(name, "decoration", "A small inline image (a logo or an icon)."))
            continue
        if len(photos) >= limits.max_photos:
            skipped.append(Skipped(name, "over_limit", f"Only the first {limits.max_photos} photos of an "
                                                       "email are used; please send the rest separately."))
            continue
        content_type = CONTENT_TYPES.get(image_format or "", part.get_content_type())
        photos.append(MailPhoto(_unique(name, taken_names), data, content_type))
    return photos, skipped


def _file_name(part: EmailMessage) -> str | None:
    """The part's file name (Content-Disposition, else Content-Type ``name``), None if it has none."""
    try:
        name = part.get_filename() or part.get_param("name", header="content-type")
    except (ValueError, IndexError):
        return None
    return str(name) if name else None


def _is_decoration(data: bytes, limits: MailLimits) -> bool:
    """Smaller than any photo ingest accepts. An image whose header cannot be read is not judged here:
    ingest refuses it with a reason the sender can act on."""
    register_heif()  # a phone's photos are often HEIC
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:  # hostile or damaged bytes: let ingest name the problem
        return False
    return max(width, height) < limits.min_long_edge or min(width, height) < limits.min_short_edge


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    candidate, number = name, 2
    while candidate in taken:
        candidate = f"{stem}-{number}{dot}{suffix}"
        number += 1
    taken.add(candidate)
    return candidate
