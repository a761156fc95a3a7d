"""Mail intake: one raw email SES stored under ``mail/`` → its photos under ``inbox/``, or a logged refusal.

Safe to run twice for the same email: each photo goes to a key derived from the email's own key and is
written only if absent (``Inbox.drop``), and the reply about a partly used email is delivered once per
email (``deliver`` is idempotent per notice). A refused email gets no reply: a sender who is not on the
allowlist, or a mail SES judged spam or infected, may well not be who the From header says.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

from botocore.exceptions import ClientError

from picr.aws.bucket import ImageBucket
from picr.aws.inbox import Inbox
from picr.intake.mail import MailLimits, read_mail
from picr.intake.naming import safe_file_name
from picr.intake.origin import MAIL_LANE, Origin
from picr.notify.emails import build_intake_notice

MAIL_PREFIX = "mail/"

Deliver = Callable[[dict[str, str], EmailMessage], str]


@dataclass
class MailIntakeContext:
    bucket: ImageBucket
    inbox: Inbox
    deliver: Deliver
    sender: str
    owner: list[str]
    allowed_senders: Sequence[str]
    limits: MailLimits = field(default_factory=MailLimits)


@dataclass(frozen=True)
class MailOutcome:
    """What became of one email: ``taken`` (keys under inbox/), ``refused`` or ``missing``."""

    mail_key: str
    status: str
    sender: str | None = None
    reason: str | None = None
    detail: str | None = None
    keys: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    replied: bool = False


def inbox_name(mail_key: str, file_name: str) -> str:
    """``mail/<id>`` + ``x.jpg`` → ``mail/<id>/x.jpg`` (under inbox/): one folder per email, so a retry
    lands on the same keys and two emails never collide."""
    return f"mail/{safe_file_name(posixpath.basename(mail_key))}/{file_name}"


def take_in_mail(mail_key: str, ctx: MailIntakeContext, *, sent_at: datetime) -> MailOutcome:
    try:
        raw = ctx.bucket.get(mail_key).data
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return MailOutcome(mail_key, "missing", reason="the email is no longer in the bucket")
        raise
    intake = read_mail(raw, allowed_senders=ctx.allowed_senders, limits=ctx.limits)
    if intake.refusal is not None:
        return MailOutcome(mail_key, "refused", sender=intake.sender, reason=intake.refusal.code,
                           detail=intake.refusal.message)
    origin = Origin(lane=MAIL_LANE, product=intake.product, sender=intake.sender, reply_to=intake.sender)
    keys = []
    for photo in intake.photos:
        name = inbox_name(mail_key, photo.file_name)
        ctx.inbox.drop(name, photo.data, photo.content_type, origin)
        keys.append(f"inbox/{name}")
    replied = False
    if intake.reported_skips or not intake.photos:
        notice = build_intake_notice(
            intake=intake, sender=ctx.sender, recipients=[r for r in (intake.sender, *ctx.owner) if r],
            mail_id=posixpath.basename(mail_key), taken=[photo.file_name for photo in intake.photos],
            sent_at=sent_at,
        )
        ctx.deliver({"mail_key": mail_key, "kind": "intake"}, notice)
        replied = True
    return MailOutcome(mail_key, "taken", sender=intake.sender, keys=keys,
                       skipped=[f"{skip.file_name}: {skip.code}" for skip in intake.skipped], replied=replied)
