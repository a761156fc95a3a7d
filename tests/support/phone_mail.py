"""Emails as phone mail apps build them, stored the way SES's receipt rule stores them.

multipart/mixed with the photos inline or attached (a HEIC from an iPhone, a JPEG), a text body, and a
signature logo in multipart/related; SES's verdict and authentication headers on top unless asked not to.
"""

from __future__ import annotations

import email.policy
import io
from datetime import UTC, datetime
from email.message import EmailMessage

from PIL import Image

from tools.shared_data import SAMPLES

HEIC = (SAMPLES / "guitar.heic").read_bytes()
JPEG = (SAMPLES / "toolbox.jpg").read_bytes()
SHOP = "Shop Owner <Shop@Example.com>"
ALLOWED = ["shop@example.com"]
VERDICTS = {"X-SES-Spam-Verdict": "PASS", "X-SES-Virus-Verdict": "PASS"}
PASSED = ("amazonses.com; spf=pass (spfCheck: domain of example.com designates 192.0.2.1 as permitted sender) "
          "client-ip=192.0.2.1; envelope-from=shop@example.com; helo=mail.example.com; "
          "dkim=pass header.i=@example.com; dmarc=pass header.from=example.com;")
"""SES's Authentication-Results for a mail example.com really sent, spelled as SES writes it."""
SENT_AT = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def png(width: int, height: int, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


LOGO = png(160, 48)


def phone_mail(*, sender: str = SHOP, subject: str = "Fwd: Sea salt candle",
               attachments: list[tuple[str, bytes, str, str]] | None = None,
               headers: dict[str, str] | None = None, logo: bool = True, ses: bool = True) -> bytes:
    """A phone-like email: SES headers first (unless ``ses`` is False: the mail as sent), then
    multipart/mixed (text, related html + logo, photos)."""
    message = EmailMessage(policy=email.policy.SMTP)
    ses_headers = {**VERDICTS, "Authentication-Results": PASSED} if ses else {}
    for name, value in {**ses_headers, **(headers or {})}.items():
        message[name] = value
    message["From"] = sender
    message["To"] = "photos@in.example.com"
    message["Subject"] = subject
    message["Message-ID"] = "<A1B2@phone.example.com>"
    message.set_content("Two angles of the new candle.\n\n-- \nThe Candle Shop\n")
    if logo:
        message.add_alternative('<p>Two angles.</p><img src="cid:logo@shop">', subtype="html")
        message.get_body(preferencelist=("html",)).add_related(LOGO, "image", "png", cid="<logo@shop>",
                                                               filename="logo.png")
    for name, data, maintype, subtype in attachments if attachments is not None else [
        ("IMG_0417.HEIC", HEIC, "image", "heic"), ("IMG_0418.JPG", JPEG, "image", "jpeg")
    ]:
        message.add_attachment(data, maintype, subtype, filename=name)
    return message.as_bytes()


def hostile_body(*, depth: int = 1, parts: int = 1, sender: str = SHOP) -> bytes:
    """A mail whose body is ``depth`` nested multiparts around ``parts`` tiny text parts, from ``sender``."""
    head = phone_mail(sender=sender).split(b"\r\n\r\n", 1)[0].split(b"\r\nContent-Type:", 1)[0]
    opening = b"".join(b'\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d' % (n, n) for n in range(depth))
    leaves = b"\r\n--b%d".join([b"\r\nContent-Type: text/plain\r\n\r\nx"] * parts) % ((depth - 1,) * (parts - 1))
    closing = b"".join(b"\r\n--b%d--" % n for n in reversed(range(depth)))
    return head + opening + leaves + closing + b"\r\n"
