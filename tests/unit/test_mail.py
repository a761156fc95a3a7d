"""The email lane, pure: raw MIME as SES stores it → the photos to take in, or why the whole mail is refused."""

from __future__ import annotations

import email
import email.policy
import io
import os
import re
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

from picr.intake.mail import MailLimits, is_allowed, read_mail
from picr.notify.emails import build_intake_notice
from tests.support.phone_mail import ALLOWED, HEIC, JPEG, PASSED, SENT_AT, SHOP, VERDICTS, hostile_body, phone_mail, png

# ------------------------------------------------------------------ pure parsing

def test_a_phone_mail_brings_its_heic_and_jpeg_and_skips_the_signature_logo():
    intake = read_mail(phone_mail(), allowed_senders=ALLOWED)
    assert intake.refusal is None
    assert intake.sender == "shop@example.com"
    assert intake.product == "Sea salt candle"
    assert [(p.file_name, p.content_type) for p in intake.photos] == [
        ("IMG_0417.HEIC", "image/heic"), ("IMG_0418.JPG", "image/jpeg")]
    assert intake.photos[0].data == HEIC and intake.photos[1].data == JPEG
    assert [(s.file_name, s.code) for s in intake.skipped] == [("logo.png", "decoration")]
    assert intake.reported_skips == []


def test_a_photo_sent_as_octet_stream_is_recognised_by_its_bytes_and_a_fake_jpeg_is_not():
    intake = read_mail(phone_mail(attachments=[
        ("IMG_0417", HEIC, "application", "octet-stream"),
        ("invoice.jpg.pdf", b"%PDF-1.7 not a photo", "application", "pdf"),
    ]), allowed_senders=ALLOWED)
    assert [(p.file_name, p.content_type) for p in intake.photos] == [("IMG_0417", "image/heic")]
    assert [(s.file_name, s.code) for s in intake.skipped if s.code != "decoration"] == [
        ("invoice.jpg.pdf", "not_a_photo")]


def test_inline_photos_count_like_attachments_and_tiny_ones_are_decoration():
    message = EmailMessage(policy=email.policy.SMTP)
    for name, value in {**VERDICTS, "Authentication-Results": PASSED}.items():
        message[name] = value
    message["From"], message["Subject"] = SHOP, "Vase"
    message.set_content('<p>Here</p><img src="cid:p1">', subtype="html")
    message.add_related(JPEG, "image", "jpeg", cid="<p1>", disposition="inline", filename="image0.jpeg")
    message.add_related(png(1, 1), "image", "png", cid="<pixel>")  # a tracking pixel
    message.add_related(png(900, 60), "image", "png", cid="<banner>")  # a banner: short edge under 100
    intake = read_mail(message.as_bytes(), allowed_senders=ALLOWED)
    assert [p.file_name for p in intake.photos] == ["image0.jpeg"]
    assert [s.code for s in intake.skipped] == ["decoration", "decoration"]


def test_a_tiny_heic_is_decoration_in_a_fresh_process(tmp_path):
    """Pillow learns HEIF on first use, not at import (picr.image.photo.register_heif): the email lane must teach
    it before measuring attachments, or an iPhone's tiny HEIC logo would pass as a photo. A process of its own,
    as a cold start is: in this one, other tests have taught Pillow already."""
    pillow_heif.register_heif_opener()
    small = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(small, "HEIF")
    mail = tmp_path / "mail.eml"
    mail.write_bytes(phone_mail(attachments=[("IMG_1.HEIC", small.getvalue(), "image", "heic"),
                                             ("IMG_2.JPG", JPEG, "image", "jpeg")], logo=False))
    script = ("import sys; from pathlib import Path; from picr.intake.mail import read_mail\n"
              "intake = read_mail(Path(sys.argv[1]).read_bytes(), allowed_senders=[sys.argv[2]])\n"
              "print([p.file_name for p in intake.photos], [(s.file_name, s.code) for s in intake.skipped])")
    layer = Path(__file__).resolve().parents[2] / "layers" / "pillow"
    done = subprocess.run([sys.executable, "-c", script, str(mail), ALLOWED[0]], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(layer)}, timeout=120, check=True)
    assert done.stdout.strip() == "['IMG_2.JPG'] [('IMG_1.HEIC', 'decoration')]"


def test_path_traversal_and_control_characters_never_reach_the_file_name():
    hostile = ["../../out/market/x.jpg", "..\\..\\work\\evil.jpg", "ca\u202endle\x07.jpg", ".hidden.jpg"]
    intake = read_mail(phone_mail(attachments=[(name, JPEG, "image", "jpeg") for name in hostile]),
                       allowed_senders=ALLOWED)
    names = [p.file_name for p in intake.photos]
    assert names == ["x.jpg", "evil.jpg", "candle.jpg", "hidden.jpg"]
    for name in names:
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert all(ch.isprintable() and ord(ch) < 128 for ch in name)


def test_rfc2231_encoded_names_with_line_breaks_are_cleaned_and_duplicates_made_unique():
    raw = phone_mail(attachments=[("x.jpg", JPEG, "image", "jpeg"), ("x.jpg", JPEG, "image", "jpeg")], logo=False)
    raw = raw.replace(b'filename="x.jpg"', b"filename*=utf-8''evil%0D%0ABcc%3A%20x%40y.jpg", 1)
    intake = read_mail(raw, allowed_senders=ALLOWED)
    decoded, plain = (p.file_name for p in intake.photos)
    assert plain == "x.jpg"
    assert decoded.startswith("evil") and decoded.endswith(".jpg")
    assert not set(decoded) & set("\r\n:@ /")
    twice = read_mail(phone_mail(attachments=[("x.jpg", JPEG, "image", "jpeg")] * 3), allowed_senders=ALLOWED)
    assert [p.file_name for p in twice.photos] == ["x.jpg", "x-2.jpg", "x-3.jpg"]


def test_photo_count_and_sizes_are_capped():
    limits = MailLimits(max_photos=2, max_photo_bytes=len(JPEG))
    intake = read_mail(phone_mail(attachments=[("a.jpg", JPEG, "image", "jpeg"), ("big.heic", HEIC + b"\0" * len(JPEG),
                                                                                  "image", "heic"),
                                               ("b.jpg", JPEG, "image", "jpeg"), ("c.jpg", JPEG, "image", "jpeg")]),
                       allowed_senders=ALLOWED, limits=limits)
    assert [p.file_name for p in intake.photos] == ["a.jpg", "b.jpg"]
    assert [(s.file_name, s.code) for s in intake.reported_skips] == [("big.heic", "too_large"),
                                                                      ("c.jpg", "over_limit")]
    whole = phone_mail()
    refused = read_mail(whole, allowed_senders=ALLOWED, limits=MailLimits(max_mail_bytes=len(whole) - 1))
    assert (refused.refusal.code, refused.photos) == ("too_large", [])


@pytest.mark.parametrize(("headers", "code"), [
    ({"X-SES-Virus-Verdict": "FAIL"}, "virus"),
    ({"X-SES-Virus-Verdict": "PROCESSING_FAILED"}, "virus"),
    ({"X-SES-Spam-Verdict": "FAIL"}, "spam"),
    ({"Authentication-Results": "amazonses.com; spf=fail; dkim=fail; dmarc=fail header.from=example.com"},
     "spoofed"),
])
def test_ses_verdicts_that_do_not_pass_refuse_the_whole_mail(headers, code):
    intake = read_mail(phone_mail(headers=headers), allowed_senders=ALLOWED)
    assert intake.refusal is not None and intake.refusal.code == code
    assert intake.photos == []


def test_a_sender_cannot_outvote_ses_with_verdict_headers_of_their_own():
    raw = phone_mail(headers={"X-SES-Spam-Verdict": "FAIL"})
    forged = raw.replace(b"From:", b"X-SES-Spam-Verdict: PASS\r\nFrom:", 1)
    assert read_mail(forged, allowed_senders=ALLOWED).refusal.code == "spam"


def test_an_unscanned_mail_is_refused_and_a_gray_spam_verdict_is_not():
    unscanned = phone_mail().replace(b"X-SES-Virus-Verdict: PASS\r\n", b"")
    assert read_mail(unscanned, allowed_senders=ALLOWED).refusal.code == "unscanned"
    gray = read_mail(phone_mail(headers={"X-SES-Spam-Verdict": "GRAY"}), allowed_senders=ALLOWED)
    assert gray.refusal is None and len(gray.photos) == 2


def test_only_allowlisted_senders_get_in():
    stranger = read_mail(phone_mail(sender="someone@elsewhere.example"), allowed_senders=ALLOWED)
    assert (stranger.refusal.code, stranger.photos, stranger.sender) == (
        "sender_not_allowed", [], "someone@elsewhere.example")
    two = read_mail(phone_mail(sender="shop@example.com, someone@elsewhere.example"), allowed_senders=ALLOWED)
    assert two.refusal.code == "no_sender"
    assert read_mail(phone_mail(), allowed_senders=[]).refusal.code == "sender_not_allowed"
    assert is_allowed("Staff@Example.com", ["@example.com"])
    assert not is_allowed("staff@example.com.evil.test", ["@example.com"])
    assert not is_allowed("shop@example.co", ALLOWED)


def with_from(raw: bytes, value: bytes) -> bytes:
    """``raw`` with its From header's value replaced byte for byte (as a forger would write it: building
    the header through ``EmailMessage`` would re-render it)."""
    return re.sub(rb"^From: [^\r\n]*", lambda _match: b"From: " + value, raw, count=1, flags=re.M)


@pytest.mark.parametrize("value", [
    b"shop@example.com <evil@attacker.test>",  # the allowlist saw shop@, a mail client shows evil@
    b"shop@example.com (Shop) <evil@attacker.test>",
    b"Shop <shop@example.com",
    b"shop@example.com\x00",
])
def test_a_from_header_the_parser_had_to_guess_at_is_refused(value):
    intake = read_mail(with_from(phone_mail(), value), allowed_senders=ALLOWED)
    assert (intake.refusal.code, intake.photos, intake.sender) == ("forged_from", [], None)
    assert value.decode().split()[0].strip("\x00") in intake.refusal.message  # the log shows what was sent


def test_one_from_header_with_one_plain_address_only_and_obsolete_syntax_is_no_defect():
    two = phone_mail().replace(b"From:", b"From: evil@attacker.test\r\nFrom:", 1)
    assert read_mail(two, allowed_senders=ALLOWED).refusal.code == "no_sender"
    literal = read_mail(with_from(phone_mail(), b"shop@[192.0.2.1]"), allowed_senders=["shop@[192.0.2.1]"])
    assert literal.refusal.code == "no_sender"
    dotted = read_mail(with_from(phone_mail(), b"Shop Ltd. <Shop@Example.com>"), allowed_senders=ALLOWED)
    assert (dotted.refusal, dotted.sender) == (None, "shop@example.com")


@pytest.mark.parametrize(("results", "code"), [
    (None, "unauthenticated"),  # no Authentication-Results at all
    ("amazonses.com; spf=none; dkim=none; dmarc=none header.from=example.com", "unauthenticated"),
    ("amazonses.com; spf=temperror; dkim=temperror; dmarc=temperror header.from=example.com", "unauthenticated"),
    ("amazonses.com; spf=fail client-ip=192.0.2.9; envelope-from=shop@example.com; dkim=none; "
     "dmarc=none header.from=example.com", "unauthenticated"),
    ("amazonses.com; spf=none; dkim=fail header.i=@example.com; dmarc=none header.from=example.com",
     "unauthenticated"),
    # Passes that do not speak for example.com: another envelope sender, a look-alike signer, another From.
    ("amazonses.com; spf=pass client-ip=192.0.2.1; envelope-from=bounce@mailer.test; helo=mailer.test; "
     "dkim=none; dmarc=none header.from=example.com", "unauthenticated"),
    ("amazonses.com; spf=none; dkim=pass header.i=@example.com.attacker.test; dmarc=none header.from=example.com",
     "unauthenticated"),
    ("amazonses.com; spf=none; dkim=pass header.i=@ample.com; dmarc=pass header.from=attacker.test",
     "unauthenticated"),
    ("mx.attacker.test; spf=pass; dkim=pass header.i=@example.com; dmarc=pass header.from=example.com",
     "unauthenticated"),  # not SES's
    ("amazonses.com; spf=pass client-ip=192.0.2.1; envelope-from=shop@example.com; dkim=pass "
     "header.i=@example.com; dmarc=fail header.from=example.com", "spoofed"),  # the domain's policy says no
    (PASSED, None),
    ("amazonses.com; spf=none; dkim=pass header.i=@example.com; dmarc=none header.from=example.com", None),
    ("amazonses.com; spf=pass (spfCheck: domain of mail.example.com designates 192.0.2.1 as permitted sender) "
     "client-ip=192.0.2.1; envelope-from=bounce@mail.example.com; helo=mail.example.com; dkim=none; "
     "dmarc=none header.from=example.com", None),  # an envelope sender under the From domain is aligned
    ("amazonses.com 1; dmarc=pass (p=NONE sp=NONE; dis=none) header.from=Example.com", None),
])
def test_an_allowed_sender_counts_only_when_ses_authenticates_the_from_domain(results, code):
    raw = phone_mail(headers={"Authentication-Results": results} if results else None)
    if results is None:
        raw = re.sub(rb"^Authentication-Results:.*\r\n(?:[ \t].*\r\n)*", b"", raw, flags=re.M)
    intake = read_mail(raw, allowed_senders=ALLOWED)
    assert (intake.refusal.code if intake.refusal else None) == code
    assert (len(intake.photos) == 2) == (code is None)


def test_only_the_topmost_authentication_results_is_ses_and_a_senders_own_is_ignored():
    ses_says = "amazonses.com; spf=none; dkim=none; dmarc=none header.from=example.com"
    forged = phone_mail(headers={"Authentication-Results": ses_says}).replace(
        b"From:", b"Authentication-Results: amazonses.com; dkim=pass header.i=@example.com; dmarc=pass "
                  b"header.from=example.com\r\nFrom:", 1)
    assert read_mail(forged, allowed_senders=ALLOWED).refusal.code == "unauthenticated"


def test_a_body_past_the_depth_or_part_limits_is_refused_not_parsed_without_end():
    deep = read_mail(hostile_body(depth=2000), allowed_senders=ALLOWED)  # a RecursionError in the stdlib parser
    assert (deep.refusal.code, deep.photos) == ("too_complex", [])
    assert "more than 16 levels deep" in deep.refusal.message
    many = read_mail(hostile_body(parts=5000), allowed_senders=ALLOWED)
    assert (many.refusal.code, many.photos) == ("too_complex", [])
    assert "more than 500 parts" in many.refusal.message
    # Just inside the limits, the same shapes are read (and hold no photo).
    assert read_mail(hostile_body(depth=15), allowed_senders=ALLOWED).refusal is None
    assert read_mail(hostile_body(parts=400), allowed_senders=ALLOWED).refusal is None


def test_a_body_that_takes_too_long_to_read_is_refused():
    ticks = iter(range(10_000))  # a clock moving one second every time it is read

    intake = read_mail(phone_mail(), allowed_senders=ALLOWED, limits=MailLimits(max_parse_s=5),
                       clock=lambda: float(next(ticks)))
    assert (intake.refusal.code, intake.photos) == ("too_slow", [])
    assert read_mail(phone_mail(), allowed_senders=ALLOWED, clock=lambda: 0.0).refusal is None


def test_a_strangers_hostile_body_is_never_parsed():
    for raw in (hostile_body(depth=2000, sender="mallory@evil.example"),
                hostile_body(depth=2000, sender="shop@example.com <evil@attacker.test>")):
        assert read_mail(raw, allowed_senders=ALLOWED).refusal.code in {"sender_not_allowed", "forged_from"}
    huge_headers = phone_mail().replace(b"From:", b"X-Pad: " + b"a" * 300_000 + b"\r\nFrom:", 1)
    assert read_mail(huge_headers, allowed_senders=ALLOWED).refusal.code == "too_complex"


def test_the_intake_notice_says_what_was_left_out_and_threads_under_the_original():
    intake = read_mail(phone_mail(attachments=[("a.jpg", JPEG, "image", "jpeg"),
                                               ("notes.pdf", b"%PDF-1.4", "application", "pdf")]),
                       allowed_senders=ALLOWED)
    notice = build_intake_notice(intake=intake, sender="picr@example.com",
                                 recipients=["shop@example.com", "owner@example.com"], mail_id="m1",
                                 taken=["a.jpg"], sent_at=SENT_AT)
    text = notice.get_content()
    assert "1 photo will be processed" in text and "a.jpg" in text
    assert "notes.pdf: It is not a photo" in text
    assert notice["In-Reply-To"] == "<A1B2@phone.example.com>"
    assert notice["To"] == "shop@example.com, owner@example.com"
    assert notice["Subject"] == "Re: Fwd: Sea salt candle"
