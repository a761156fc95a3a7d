"""One honest message per job: ready (with links), needs review (with the evidence), or rejected.

A held job's review email carries the decision buttons and goes to the owner only; whoever sent the photo
in gets a plain "held" status message instead, with no link in it.

Messages are built as stdlib `EmailMessage` objects from the Jinja templates in `templates/`, so the
same build serves SES (raw MIME) and SNS (its plain-text part). Builds are pure: the `Date` comes from
the caller, there is no `Message-ID` (SES assigns one) and MIME boundaries are derived from content,
so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from PIL import Image, ImageColor, ImageOps

TEMPLATE_DIR = Path(__file__).parent / "templates"

THUMBNAIL_MAX_EDGE = 240
"""Thumbnails are shown at most 240 CSS px wide: two fit side by side on a 600 px email column."""

ATTACHMENT_MAX_EDGE = 1200
"""Review attachments are for judging a cutout by eye, not for reuse; 1200 px shows a hole or a ragged
edge clearly and keeps original + cutout far below SES's 10 MB message limit."""

CHECKER_SQUARE_PX = 8
"""Checkerboard square size in thumbnail pixels: large enough to read as 'transparent' at 240 px."""

SES_MAX_MESSAGE_BYTES = 10 * 1024 * 1024
"""SES rejects raw messages over 10 MB; checking first turns an opaque API error into a clear one."""

SNS_MAX_SUBJECT_CHARS = 100
"""SNS Publish refuses longer subjects (and any line break or control character in them)."""

DEFAULT_LINK_LIFETIME = timedelta(days=7)
"""The longest a SigV4 presigned S3 URL can live; the email states when the links stop working."""

UNNAMED_PRODUCT = "Your product"
UNNAMED_FILE = "Your file"
UNKNOWN_REJECTION = "It could not be read as a photo."
"""Fallbacks: a blank name or reason must still produce a sensible email, never a lost one."""

Kind = Literal["ready", "review", "held", "rejected", "digest"]

_JPEG_MAGIC = b"\xff\xd8\xff"
_JPEG_QUALITY = 85
_CHECKER_LIGHT = (255, 255, 255)
_CHECKER_DARK = (204, 204, 204)


@dataclass(frozen=True)
class Link:
    """A button in an email (e.g. approve / reject a held cutout)."""

    label: str
    url: str

    def __post_init__(self) -> None:
        _require_web_url(self.url)


@dataclass(frozen=True)
class VariantLink:
    """One finished channel image as the owner sees it: a thumbnail, its facts and a presigned link."""

    channel: str
    url: str
    width: int
    height: int
    format: str
    watermarked: bool
    thumbnail_jpeg: bytes

    def __post_init__(self) -> None:
        _require_web_url(self.url)
        if not self.thumbnail_jpeg.startswith(_JPEG_MAGIC):
            raise ValueError(f"thumbnail for channel {self.channel!r} is not JPEG data")


@dataclass(frozen=True)
class _Inline:
    """An image shown inside the HTML through `cid:`."""

    cid: str
    jpeg: bytes


@dataclass(frozen=True)
class _Attachment:
    filename: str
    data: bytes
    maintype: str
    subtype: str


# --------------------------------------------------------------------------- images


def make_thumbnail(
    image_bytes: bytes, max_edge: int = THUMBNAIL_MAX_EDGE, background: str = "white"
) -> bytes:
    """A small JPEG of any image, alpha flattened onto `background`.

    `background` is a colour (`"white"`, `"#f0f0f0"`, ...) or `"checkerboard"`, which shows a cutout's
    transparent parts as transparent rather than hiding a hole in a white product on white.
    """
    image = _load_downscaled(image_bytes, max_edge)
    return _encode_jpeg(_flatten(image, background))


def _load_downscaled(image_bytes: bytes, max_edge: int) -> Image.Image:
    """Decode, turn upright by EXIF, and shrink so the long edge is at most `max_edge` (never enlarge)."""
    if max_edge < 1:
        raise ValueError("max_edge must be positive")
    with Image.open(io.BytesIO(image_bytes)) as opened:
        image = ImageOps.exif_transpose(opened)
        image.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS)
        image.load()
    return image


def _flatten(image: Image.Image, background: str) -> Image.Image:
    """RGB image with any transparency composited over `background`."""
    rgba = image.convert("RGBA")
    if background == "checkerboard":
        base = _checkerboard(rgba.size)
    else:
        base = Image.new("RGBA", rgba.size, ImageColor.getrgb(background))
    return Image.alpha_composite(base.convert("RGBA"), rgba).convert("RGB")


def _checkerboard(size: tuple[int, int]) -> Image.Image:
    width, height = size
    rows = np.arange(height)[:, None] // CHECKER_SQUARE_PX
    cols = np.arange(width)[None, :] // CHECKER_SQUARE_PX
    dark = ((rows + cols) % 2).astype(bool)
    pixels = np.where(dark[..., None], _CHECKER_DARK, _CHECKER_LIGHT).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def _encode_jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _encode_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _image_size(image_bytes: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(image_bytes)) as image:
        return image.size


# --------------------------------------------------------------------------- messages


def build_ready_email(
    *,
    sender: str,
    recipients: list[str],
    product: str,
    job_id: str,
    variants: list[VariantLink],
    sent_at: datetime,
    links_valid_for: timedelta = DEFAULT_LINK_LIFETIME,
) -> EmailMessage:
    """'<Product>: N images ready' with one card per variant: thumbnail, facts and download link."""
    _check_envelope(recipients, sent_at)
    if not variants:
        raise ValueError("a ready email needs at least one variant")
    product = _one_line(product) or UNNAMED_PRODUCT
    count = len(variants)
    subject = f"{product}: {count} image{'s' if count != 1 else ''} ready"
    cards = []
    inline = []
    for index, variant in enumerate(variants):
        cid = _content_id(job_id, f"thumb{index}-{variant.channel}")
        inline.append(_Inline(cid=cid, jpeg=variant.thumbnail_jpeg))
        thumb_width, thumb_height = _image_size(variant.thumbnail_jpeg)
        cards.append(
            {
                "channel": _one_line(variant.channel),
                "url": variant.url,
                "size": f"{variant.width} × {variant.height} px",
                "format": variant.format.upper(),
                "watermarked": variant.watermarked,
                "cid": cid,
                "thumb_width": thumb_width,
                "thumb_height": thumb_height,
            }
        )
    context = {
        "product": product,
        "variants": cards,
        "links_valid_for": _describe_duration(links_valid_for),
        "links_expire_at": _describe_time(sent_at + links_valid_for),
    }
    return _compose(
        kind="ready",
        sender=sender,
        recipients=recipients,
        subject=subject,
        job_id=job_id,
        sent_at=sent_at,
        context=context,
        inline=inline,
        attachments=[],
    )


def build_review_email(
    *,
    sender: str,
    recipients: list[str],
    product: str,
    job_id: str,
    reasons: list[str],
    original: bytes,
    cutout: bytes | None,
    sent_at: datetime,
    actions: Sequence[Link] = (),
) -> EmailMessage:
    """'<Product>: needs review' with the reasons, original and attempted cutout shown and attached.

    The original is attached as a JPEG and the cutout as a PNG (so its transparency survives), both
    downscaled to `ATTACHMENT_MAX_EDGE`. `actions` (e.g. approve / reject links) render as buttons.
    """
    _check_envelope(recipients, sent_at)
    product = _one_line(product) or UNNAMED_PRODUCT
    original_preview = _Inline(cid=_content_id(job_id, "original"), jpeg=make_thumbnail(original))
    inline = [original_preview]
    original_small = _flatten(_load_downscaled(original, ATTACHMENT_MAX_EDGE), "white")
    attachments = [_Attachment("original.jpg", _encode_jpeg(original_small), "image", "jpeg")]
    cutout_preview = None
    if cutout is not None:
        cutout_preview = _Inline(
            cid=_content_id(job_id, "cutout"), jpeg=make_thumbnail(cutout, background="checkerboard")
        )
        inline.append(cutout_preview)
        cutout_small = _load_downscaled(cutout, ATTACHMENT_MAX_EDGE)
        attachments.append(_Attachment("cutout.png", _encode_png(cutout_small), "image", "png"))
    context = {
        "product": product,
        "reasons": [_one_line(reason) for reason in reasons],
        "previews": [
            {"cid": p.cid, "label": label, "size": _image_size(p.jpeg)}
            for p, label in ((original_preview, "Your photo"), (cutout_preview, "Attempted cutout"))
            if p is not None
        ],
        "attachments": [a.filename for a in attachments],
        "actions": [{"label": _one_line(a.label), "url": a.url} for a in actions],
    }
    return _compose(
        kind="review",
        sender=sender,
        recipients=recipients,
        subject=f"{product}: needs review",
        job_id=job_id,
        sent_at=sent_at,
        context=context,
        inline=inline,
        attachments=attachments,
    )


def build_held_email(
    *,
    sender: str,
    recipients: list[str],
    product: str,
    job_id: str,
    reasons: list[str],
    sent_at: datetime,
) -> EmailMessage:
    """'<Product>: waiting for the shop's review', for the person who sent the photo in (not the owner).

    It says what happened to their photo and why, and that the owner decides; it carries no link and no
    image: deciding is the owner's, and the review email with the buttons goes to the owner alone.
    """
    _check_envelope(recipients, sent_at)
    product = _one_line(product) or UNNAMED_PRODUCT
    return _compose(
        kind="held",
        sender=sender,
        recipients=recipients,
        subject=f"{product}: waiting for the shop's review",
        job_id=job_id,
        sent_at=sent_at,
        context={"product": product, "reasons": [_one_line(reason) for reason in reasons]},
        inline=[],
        attachments=[],
    )


def build_rejected_email(
    *,
    sender: str,
    recipients: list[str],
    file_name: str,
    job_id: str,
    reason: str,
    kept_at: str,
    sent_at: datetime,
) -> EmailMessage:
    """'<file name>: could not be used' with the reason, what to send instead, and where the file is."""
    _check_envelope(recipients, sent_at)
    file_name = _one_line(file_name) or UNNAMED_FILE
    reason = _one_line(reason) or UNKNOWN_REJECTION
    context = {"file_name": file_name, "reason": reason, "kept_at": _one_line(kept_at)}
    return _compose(
        kind="rejected",
        sender=sender,
        recipients=recipients,
        subject=f"{file_name}: could not be used",
        job_id=job_id,
        sent_at=sent_at,
        context=context,
        inline=[],
        attachments=[],
    )


@dataclass(frozen=True)
class HeldJob:
    """One held product in the daily review digest."""

    job_id: str
    product: str
    reasons: list[str]
    waited_hours: float
    original: bytes
    cutout: bytes | None
    actions: Sequence[Link] = ()


def build_digest_email(
    *, sender: str, recipients: list[str], held: list[HeldJob], day: str, sent_at: datetime
) -> EmailMessage:
    """'N products waiting for review': each held job with its thumbnails, reasons and how long it waited.

    One message per day for all held jobs, so a shop with a backlog gets a reminder, not a flood.
    """
    _check_envelope(recipients, sent_at)
    if not held:
        raise ValueError("a digest needs at least one held job")
    inline: list[_Inline] = []
    entries = []
    for job in held:
        previews = [("Your photo", _Inline(_content_id(job.job_id, "original"), make_thumbnail(job.original)))]
        if job.cutout is not None:
            thumb = make_thumbnail(job.cutout, background="checkerboard")
            previews.append(("Attempted cutout", _Inline(_content_id(job.job_id, "cutout"), thumb)))
        inline.extend(preview for _label, preview in previews)
        entries.append({
            "job_id": _one_line(job.job_id),
            "product": _one_line(job.product) or UNNAMED_PRODUCT,
            "reasons": [_one_line(reason) for reason in job.reasons],
            "waited": _describe_wait(job.waited_hours),
            "previews": [{"cid": p.cid, "label": label, "size": _image_size(p.jpeg)} for label, p in previews],
            "actions": [{"label": _one_line(a.label), "url": a.url} for a in job.actions],
        })
    count = len(held)
    subject = f"{count} product{'s' if count != 1 else ''} waiting for review"
    return _compose(
        kind="digest",
        sender=sender,
        recipients=recipients,
        subject=subject,
        job_id=f"digest-{day}",
        sent_at=sent_at,
        context={"held": entries},
        inline=inline,
        attachments=[],
    )


def _describe_wait(hours: float) -> str:
    """"3 days" / "26 hours": how long a held product has been waiting, in the unit a person would say."""
    if hours >= 48:
        return f"{int(hours // 24)} days"
    whole = max(1, int(hours))
    return f"{whole} hour{'s' if whole != 1 else ''}"


def _compose(
    *,
    kind: Kind,
    sender: str,
    recipients: list[str],
    subject: str,
    job_id: str,
    sent_at: datetime,
    context: dict[str, Any],
    inline: list[_Inline],
    attachments: list[_Attachment],
) -> EmailMessage:
    """Assemble mixed( alternative( text, related( html, inline images ) ), attachments )."""
    job_id = _one_line(job_id)
    context = {**context, "subject": subject, "job_id": job_id}
    message = EmailMessage(policy=policy.default)
    message["From"] = _one_line(sender)
    message["To"] = ", ".join(_one_line(r) for r in recipients)
    message["Subject"] = subject
    message["Date"] = format_datetime(sent_at)
    message["X-Picr-Job"] = job_id
    message["X-Picr-Kind"] = kind
    message.set_content(_render(f"{kind}.txt", context))
    message.add_alternative(_render(f"{kind}.html", context), subtype="html")
    html_part = message.get_body(preferencelist=("html",))
    for image in inline:
        html_part.add_related(image.jpeg, "image", "jpeg", cid=f"<{image.cid}>")
    for attachment in attachments:
        message.add_attachment(
            attachment.data, attachment.maintype, attachment.subtype, filename=attachment.filename
        )
    _set_content_boundaries(message)
    return message


def _check_envelope(recipients: list[str], sent_at: datetime) -> None:
    """Fail before any image work: the Date header comes from `sent_at`, never from the wall clock."""
    if sent_at.tzinfo is None or sent_at.utcoffset() is None:
        raise ValueError("sent_at must be timezone-aware")
    if not recipients:
        raise ValueError("at least one recipient is required")


def _set_content_boundaries(part: MIMEPart) -> None:
    """Name each multipart boundary after a hash of its children (bottom-up).

    The stdlib picks random boundaries; a hash makes the build reproducible and cannot occur in the
    content it was computed from except by a SHA-256 collision.
    """
    if not part.is_multipart():
        return
    children = part.get_payload()
    for child in children:
        _set_content_boundaries(child)
    digest = hashlib.sha256(b"".join(child.as_bytes() for child in children)).hexdigest()
    part.set_boundary(f"picr-{digest[:40]}")


@cache
def _environment() -> Environment:
    """HTML templates autoescape; `.txt` templates do not (they are never rendered as HTML)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _render(template_name: str, context: dict[str, Any]) -> str:
    return _environment().get_template(template_name).render(context)


# --------------------------------------------------------------------------- adapters


def send_via_ses(ses_client: Any, message: EmailMessage) -> str:
    """Send through SES SendRawEmail; recipients come from the To header. Returns SES's MessageId.

    ``Source`` is passed explicitly: the role may only send as the configured sender
    (``ses:FromAddress``), and that check should not depend on SES parsing the From header.
    """
    raw = message.as_bytes(policy=policy.SMTP)
    if len(raw) > SES_MAX_MESSAGE_BYTES:
        raise ValueError(f"message is {len(raw)} bytes; SES accepts at most {SES_MAX_MESSAGE_BYTES}")
    response = ses_client.send_raw_email(Source=str(message["From"]), RawMessage={"Data": raw})
    return response["MessageId"]


def publish_via_sns(sns_client: Any, topic_arn: str, message: EmailMessage) -> str:
    """Publish the message's plain-text part (which carries the links) to an SNS topic.

    SNS cannot carry attachments, so their names are listed instead of silently dropped. The job id and
    kind go along as message attributes so subscribers can filter. Returns SNS's MessageId.
    """
    body = message.get_body(preferencelist=("plain",)).get_content()
    dropped = [part.get_filename() for part in message.iter_attachments()]
    if dropped:
        body += f"\nSent by email only (SNS cannot carry attachments): {', '.join(dropped)}.\n"
    response = sns_client.publish(
        TopicArn=topic_arn,
        Subject=_sns_subject(str(message["Subject"])),
        Message=body,
        MessageAttributes={
            "picr_job": {"DataType": "String", "StringValue": str(message["X-Picr-Job"])},
            "picr_kind": {"DataType": "String", "StringValue": str(message["X-Picr-Kind"])},
        },
    )
    return response["MessageId"]


def _sns_subject(subject: str) -> str:
    subject = _one_line(subject)
    if len(subject) <= SNS_MAX_SUBJECT_CHARS:
        return subject
    return subject[: SNS_MAX_SUBJECT_CHARS - 3].rstrip() + "..."


# --------------------------------------------------------------------------- text helpers


def _one_line(value: str) -> str:
    """Collapse every line break, control character and whitespace run into one space.

    Names arrive from file names and uploads; this is what keeps a name with CR/LF from starting a new
    header (or a fake line in the body).
    """
    cleaned = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in value)
    return " ".join(cleaned.split())


def _content_id(job_id: str, name: str) -> str:
    """A deterministic RFC 2392 Content-ID (without angle brackets) for an inline image."""
    safe = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{name}.{job_id}").strip("-.")
    return f"{safe}@picr.invalid"


def _require_web_url(url: str) -> None:
    """Only http(s) links: anything else (javascript:, data:) has no business in a notification."""
    if not re.match(r"https?://[^\s]+\Z", url):
        raise ValueError(f"not an http(s) URL: {url[:80]!r}")


def _describe_duration(duration: timedelta) -> str:
    if duration <= timedelta(0):
        raise ValueError("links_valid_for must be positive")
    if duration.total_seconds() % 86400 == 0:
        days = duration.days
        return f"{days} day{'s' if days != 1 else ''}"
    hours = round(duration.total_seconds() / 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def _describe_time(moment: datetime) -> str:
    """UTC, spelled out ("28 Nov 2025, 14:05 UTC"): unambiguous for a reader in any locale."""
    utc = moment.astimezone(UTC)
    return f"{utc.day} {utc:%b %Y, %H:%M} UTC"
