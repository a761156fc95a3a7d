"""One honest message per job: ready (with links), needs review (with the evidence), or rejected; the daily
digest of held jobs; and the reply about an emailed photo that was only partly used.

A held job's review email carries the decision buttons and goes to the owner only; whoever sent the photo
in gets a plain "held" status message instead, with no link in it. Every builder is pure (see
``picr.notify.message``): the same inputs give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from picr.image.thumbnail import (
    JPEG_MAGIC,
    encode_jpeg,
    encode_png,
    flatten,
    image_size,
    load_downscaled,
    make_thumbnail,
)
from picr.intake.mail import MailIntake
from picr.intake.naming import UNNAMED_PRODUCT, one_line
from picr.notify.message import (
    DEFAULT_LINK_LIFETIME,
    Attachment,
    Envelope,
    Inline,
    Link,
    compose,
    content_id,
    describe_duration,
    describe_time,
    describe_wait,
    require_web_url,
)

ATTACHMENT_MAX_EDGE = 1200
"""Review attachments are for judging a cutout by eye, not for reuse; 1200 px shows a hole or a ragged
edge clearly and keeps original + cutout far below SES's 10 MB message limit."""

UNNAMED_FILE = "Your file"
UNKNOWN_REJECTION = "It could not be read as a photo."
"""Fallbacks: a blank name or reason must still produce a sensible email, never a lost one."""


@dataclass(frozen=True)
class VariantLink:
    """One finished channel image as the owner sees it: a thumbnail, its facts and a download link."""

    channel: str
    url: str
    width: int
    height: int
    format: str
    watermarked: bool
    thumbnail_jpeg: bytes

    def __post_init__(self) -> None:
        require_web_url(self.url)
        if not self.thumbnail_jpeg.startswith(JPEG_MAGIC):
            raise ValueError(f"thumbnail for channel {self.channel!r} is not JPEG data")


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


def product_label(product: str | None) -> str:
    """The product's name as a message shows it: one line, never blank."""
    return one_line(product or "") or UNNAMED_PRODUCT


def build_ready_email(*, sender: str, recipients: list[str], product: str, job_id: str,
                      variants: list[VariantLink], sent_at: datetime,
                      links_valid_for: timedelta = DEFAULT_LINK_LIFETIME) -> EmailMessage:
    """'<Product>: N images ready' with one card per variant: thumbnail, facts and download link."""
    envelope = Envelope(sender, recipients, job_id, sent_at)
    if not variants:
        raise ValueError("a ready email needs at least one variant")
    product = product_label(product)
    cards = []
    inline = []
    for index, variant in enumerate(variants):
        cid = content_id(job_id, f"thumb{index}-{variant.channel}")
        inline.append(Inline(cid=cid, jpeg=variant.thumbnail_jpeg))
        thumb_width, thumb_height = image_size(variant.thumbnail_jpeg)
        cards.append({
            "channel": one_line(variant.channel), "url": variant.url,
            "size": f"{variant.width} × {variant.height} px", "format": variant.format.upper(),
            "watermarked": variant.watermarked, "cid": cid, "thumb_width": thumb_width, "thumb_height": thumb_height,
        })
    context = {
        "product": product,
        "variants": cards,
        "links_valid_for": describe_duration(links_valid_for),
        "links_expire_at": describe_time(sent_at + links_valid_for),
    }
    count = len(variants)
    return compose("ready", envelope, f"{product}: {count} image{'s' if count != 1 else ''} ready", context,
                   inline=inline)


def build_review_email(*, sender: str, recipients: list[str], product: str, job_id: str, reasons: list[str],
                       original: bytes, cutout: bytes | None, sent_at: datetime,
                       actions: Sequence[Link] = ()) -> EmailMessage:
    """'<Product>: needs review' with the reasons, original and attempted cutout shown and attached.

    The original is attached as a JPEG and the cutout as a PNG (so its transparency survives), both
    downscaled to ``ATTACHMENT_MAX_EDGE``. ``actions`` (e.g. approve / reject links) render as buttons.
    """
    envelope = Envelope(sender, recipients, job_id, sent_at)
    product = product_label(product)
    previews = _previews(job_id, original, cutout)
    attachments = [Attachment("original.jpg", encode_jpeg(flatten(load_downscaled(original, ATTACHMENT_MAX_EDGE),
                                                                  "white")), "image", "jpeg")]
    if cutout is not None:
        attachments.append(Attachment("cutout.png", encode_png(load_downscaled(cutout, ATTACHMENT_MAX_EDGE)),
                                      "image", "png"))
    context = {
        "product": product,
        "reasons": _lines(reasons),
        "previews": _preview_cards(previews),
        "attachments": [a.filename for a in attachments],
        "actions": _buttons(actions),
    }
    return compose("review", envelope, f"{product}: needs review", context,
                   inline=[preview for _label, preview in previews], attachments=attachments)


def build_held_email(*, sender: str, recipients: list[str], product: str, job_id: str, reasons: list[str],
                     sent_at: datetime) -> EmailMessage:
    """'<Product>: waiting for the shop's review', for the person who sent the photo in (not the owner).

    It says what happened to their photo and why, and that the owner decides; it carries no link and no
    image: deciding is the owner's, and the review email with the buttons goes to the owner alone.
    """
    envelope = Envelope(sender, recipients, job_id, sent_at)
    product = product_label(product)
    return compose("held", envelope, f"{product}: waiting for the shop's review",
                   {"product": product, "reasons": _lines(reasons)})


def build_rejected_email(*, sender: str, recipients: list[str], file_name: str, job_id: str, reason: str,
                         kept_at: str, sent_at: datetime) -> EmailMessage:
    """'<file name>: could not be used' with the reason, what to send instead, and where the file is."""
    envelope = Envelope(sender, recipients, job_id, sent_at)
    file_name = one_line(file_name) or UNNAMED_FILE
    context = {"file_name": file_name, "reason": one_line(reason) or UNKNOWN_REJECTION, "kept_at": one_line(kept_at)}
    return compose("rejected", envelope, f"{file_name}: could not be used", context)


def build_rerender_email(*, sender: str, recipients: list[str], batch_id: str, channel: str, total: int,
                         failed: int, sent_at: datetime) -> EmailMessage:
    """'<channel>: N products re-rendered', once per batch, when its last product has settled."""
    envelope = Envelope(sender, recipients, batch_id, sent_at)
    done = total - failed
    context = {"channel": one_line(channel), "total": total, "done": done, "failed": failed}
    subject = f"{one_line(channel)}: {done} of {total} product{'s' if total != 1 else ''} re-rendered"
    return compose("rerender", envelope, subject, context)


def build_digest_email(*, sender: str, recipients: list[str], held: list[HeldJob], day: str,
                       sent_at: datetime) -> EmailMessage:
    """'N products waiting for review': each held job with its thumbnails, reasons and how long it waited.

    One message per day for all held jobs, so a shop with a backlog gets a reminder, not a flood.
    """
    envelope = Envelope(sender, recipients, f"digest-{day}", sent_at)
    if not held:
        raise ValueError("a digest needs at least one held job")
    inline: list[Inline] = []
    entries = []
    for job in held:
        previews = _previews(job.job_id, job.original, job.cutout)
        inline.extend(preview for _label, preview in previews)
        entries.append({
            "job_id": one_line(job.job_id),
            "product": product_label(job.product),
            "reasons": _lines(job.reasons),
            "waited": describe_wait(job.waited_hours),
            "previews": _preview_cards(previews),
            "actions": _buttons(job.actions),
        })
    count = len(held)
    return compose("digest", envelope, f"{count} product{'s' if count != 1 else ''} waiting for review",
                   {"held": entries}, inline=inline)


def _previews(job_id: str, original: bytes, cutout: bytes | None) -> list[tuple[str, Inline]]:
    """The photo's thumbnail and, when there is one, the attempted cutout's on a checkerboard."""
    previews = [("Your photo", Inline(content_id(job_id, "original"), make_thumbnail(original)))]
    if cutout is not None:
        thumb = make_thumbnail(cutout, background="checkerboard")
        previews.append(("Attempted cutout", Inline(content_id(job_id, "cutout"), thumb)))
    return previews


def _preview_cards(previews: list[tuple[str, Inline]]) -> list[dict[str, Any]]:
    return [{"cid": p.cid, "label": label, "size": image_size(p.jpeg)} for label, p in previews]


def _buttons(actions: Sequence[Link]) -> list[dict[str, str]]:
    return [{"label": one_line(a.label), "url": a.url} for a in actions]


def _lines(texts: Sequence[str]) -> list[str]:
    return [one_line(text) for text in texts]


# --------------------------------------------------------------------------- the reply about an email itself


def build_intake_notice(*, intake: MailIntake, sender: str, recipients: list[str], mail_id: str,
                        taken: Sequence[str], sent_at: datetime) -> EmailMessage:
    """A short plain-text reply when an allowed sender's email was only partly used, or not at all.

    The photos that were taken each get their own result email later (from publish); this one only says
    what was left out and why, so a sender never waits for a result that will not come.
    """
    if sent_at.tzinfo is None:
        raise ValueError("sent_at must be timezone-aware")
    subject_line = intake.subject or "(no subject)"
    lines = [f'Your email "{subject_line}" arrived.', ""]
    if taken:
        lines.append(f"{len(taken)} photo{'s' if len(taken) != 1 else ''} will be processed; you will get "
                     "one email for each:")
        lines += [f"  - {name}" for name in taken]
    else:
        lines.append("No photo in it could be used, so nothing will be processed.")
    if intake.reported_skips:
        lines += ["", "Not used:"]
        lines += [f"  - {skip.file_name}: {skip.message}" for skip in intake.reported_skips]
    lines += ["", "Send a JPEG, PNG, HEIC or WebP photo as an attachment to try again."]
    message = EmailMessage(policy=policy.default)
    message["From"] = sender
    message["To"] = ", ".join(dict.fromkeys(recipients))
    message["Subject"] = f"Re: {subject_line}"[:200]
    message["Date"] = format_datetime(sent_at)
    if intake.message_id:
        message["In-Reply-To"] = intake.message_id
        message["References"] = intake.message_id
    message["X-Picr-Job"] = f"mail-{mail_id}"
    message["X-Picr-Kind"] = "intake"
    message.set_content("\n".join(lines) + "\n")
    return message
