import email
import io
import re
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from html import unescape

import boto3
import numpy as np
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends
from PIL import Image

from picr.image.thumbnail import CHECKER_SQUARE_PX, flatten, load_downscaled, make_thumbnail, thumbnail_of
from picr.notify.emails import (
    ATTACHMENT_MAX_EDGE,
    VariantLink,
    build_held_email,
    build_ready_email,
    build_rejected_email,
    build_review_email,
)
from picr.notify.export_email import build_export_email
from picr.notify.message import Link
from picr.notify.send import SES_MAX_MESSAGE_BYTES, publish_via_sns, send_via_ses
from tools.shared_data import CASES

REGION = "eu-west-2"
SENDER = "picr <picr@shop.example>"
OWNER = "owner@shop.example"
SENT_AT = datetime(2025, 11, 21, 9, 30, tzinfo=UTC)
GUITAR = CASES / "03_guitar_cluttered_living_room"


# --------------------------------------------------------------------------- helpers


def _encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _half_transparent(size=(800, 400)) -> bytes:
    """Left half fully transparent, right half opaque red."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste((200, 20, 20, 255), (size[0] // 2, 0, size[0], size[1]))
    return _encode(image)


def _parsed(message: EmailMessage) -> EmailMessage:
    return email.message_from_bytes(message.as_bytes(), policy=policy.default)


def _variants(count: int = 3) -> list[VariantLink]:
    specs = [("web", 1600, "png", True), ("market", 2000, "jpeg", False), ("social", 1080, "jpeg", True)]
    return [
        VariantLink(
            channel=channel,
            url=f"https://picr-images.s3.eu-west-2.amazonaws.com/out/{channel}/j1.{fmt}?X-Amz-Expires=604800&a=b",
            width=edge,
            height=edge,
            format=fmt,
            watermarked=watermarked,
            thumbnail_jpeg=make_thumbnail(_encode(Image.new("RGB", (edge, edge), (30 * i, 90, 160)))),
        )
        for i, (channel, edge, fmt, watermarked) in enumerate(specs[:count])
    ]


def _ready(product="Candle no. 4", variants=None, **kw) -> EmailMessage:
    return build_ready_email(
        sender=SENDER, recipients=[OWNER], product=product, job_id="job-1",
        variants=_variants() if variants is None else variants, sent_at=SENT_AT, **kw,
    )


PLAIN_ORIGINAL = _encode(Image.new("RGB", (600, 800), (90, 120, 150)), "JPEG")
HALF_CUTOUT = _half_transparent()


def _review(
    product="Glass vase", original=PLAIN_ORIGINAL, cutout=HALF_CUTOUT, actions=(),
    reasons=("Only 3% of the photo was kept as product.",),
) -> EmailMessage:
    return build_review_email(
        sender=SENDER, recipients=[OWNER], product=product, job_id="job-2", reasons=list(reasons),
        original=original, cutout=cutout, sent_at=SENT_AT, actions=actions,
    )


def _rejected(file_name="invoice.pdf", job_id="job-3") -> EmailMessage:
    return build_rejected_email(
        sender=SENDER, recipients=[OWNER], file_name=file_name, job_id=job_id,
        reason="This file is a PDF document, not a photo.", kept_at=f"rejected/{job_id}/{file_name}",
        sent_at=SENT_AT,
    )


def _held(product="Glass vase", reasons=("Only 3% of the photo was kept as product.",)) -> EmailMessage:
    return build_held_email(sender=SENDER, recipients=["staff@shop.example"], product=product, job_id="job-4",
                            reasons=list(reasons), sent_at=SENT_AT)


def _html(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def _text(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def _inline_images(message: EmailMessage) -> dict[str, bytes]:
    return {
        part["Content-ID"].strip("<>"): part.get_content()
        for part in message.walk()
        if part["Content-ID"] and part.get_content_disposition() == "inline"
    }


def _attachments(message: EmailMessage) -> dict[str, EmailMessage]:
    return {part.get_filename(): part for part in message.iter_attachments()}


# --------------------------------------------------------------------------- thumbnails


def test_thumbnail_is_a_small_jpeg_with_alpha_on_white():
    thumb = _decode(make_thumbnail(_half_transparent((800, 400))))
    assert thumb.format == "JPEG" and thumb.mode == "RGB"
    assert thumb.size == (240, 120)
    pixels = np.asarray(thumb).astype(int)
    assert (pixels[10:110, 10:110] >= 250).all()  # transparent half -> white
    assert np.abs(pixels[60, 180] - (200, 20, 20)).max() <= 8  # opaque half keeps its colour


def test_checkerboard_thumbnail_shows_transparency_as_squares():
    thumb = np.asarray(_decode(make_thumbnail(_half_transparent((800, 400)), background="checkerboard")))
    grey = thumb[..., 0].astype(int)
    middle = CHECKER_SQUARE_PX // 2
    light, dark = grey[middle, middle], grey[middle, middle + CHECKER_SQUARE_PX]
    assert light >= 245 and 190 <= dark <= 215
    assert abs(grey[middle + CHECKER_SQUARE_PX, middle + CHECKER_SQUARE_PX] - light) <= 6
    assert np.abs(thumb[60, 180].astype(int) - (200, 20, 20)).max() <= 8


@pytest.mark.parametrize("size", [(1, 1), (7, 9), (240, 120), (241, 17), (800, 599)])
def test_the_checkerboard_is_exact_squares_from_a_light_top_left_at_any_size(size):
    """Pixel for pixel (before JPEG): square (column // 8 + row // 8) is dark when odd, cut off at the edges."""
    shown = np.asarray(flatten(Image.new("RGBA", size, (0, 0, 0, 0)), "checkerboard"))
    rows, columns = np.indices(size[::-1]) // CHECKER_SQUARE_PX
    expected = np.where(((rows + columns) % 2 == 1)[..., None], (204, 204, 204), (255, 255, 255))
    assert shown.shape == (*size[::-1], 3) and (shown == expected).all()


@pytest.mark.parametrize("background", ["white", "checkerboard"])
def test_a_thumbnail_of_an_image_in_memory_is_the_thumbnail_of_its_png(background):
    """The variants stage's thumbnail (from the frame it just rendered) is byte for byte the one publish would
    make by decoding the lossless file: a real photo's pixels with a soft alpha, both backgrounds."""
    with Image.open(CASES / "03_guitar_cluttered_living_room" / "photo.jpg") as opened:
        photo = opened.convert("RGB").crop((400, 200, 1400, 1000))
    alpha = Image.linear_gradient("L").resize(photo.size)
    frame = photo.convert("RGBA")
    frame.putalpha(alpha)
    before = frame.tobytes()
    made = thumbnail_of(frame, background=background)
    assert made == make_thumbnail(_encode(frame), background=background)
    assert frame.tobytes() == before  # the frame itself is left as it was: it is also the one encoded
    assert _decode(made).size == (240, 192)


def test_a_shrunk_image_with_alpha_takes_no_colour_from_under_its_transparent_pixels():
    """Shrinking works on premultiplied colours: a transparent pixel's hidden colour (green here, as a
    matting tool may leave it) must not tint the opaque product's soft edge."""
    frame = Image.new("RGBA", (1600, 1600), (0, 255, 0, 0))
    frame.paste((200, 20, 20, 255), (403, 403, 1203, 1203))
    small = np.asarray(load_downscaled(_encode(frame), 240)).astype(int)
    assert small.shape == (240, 240, 4)
    seen = small[..., 3] > 0
    assert ((small[..., 3] > 0) & (small[..., 3] < 255)).any()   # the edge is soft: there is an edge to tint
    assert small[seen][:, 1].max() <= 20 + 8   # no green: only the product's colour (Lanczos may overshoot red)
    shown = np.asarray(flatten(Image.fromarray(small.astype(np.uint8), "RGBA"), "white")).astype(int)
    flattened_first = np.asarray(flatten(frame, "white").resize((240, 240), Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(shown - flattened_first).mean() < 0.5 and small[120, 120].tolist() == [200, 20, 20, 255]


def test_an_image_with_alpha_that_needs_no_shrinking_keeps_its_exact_pixels():
    frame = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    frame.paste((250, 240, 10, 3), (0, 0, 100, 100))   # nearly transparent: premultiplying would round it
    assert flatten(frame, "white").tobytes() == flatten(_decode(_encode(frame)), "white").tobytes()
    assert _decode(thumbnail_of(frame)).size == (200, 100)


def test_thumbnail_never_enlarges_and_respects_max_edge():
    small = _encode(Image.new("RGB", (100, 50), "blue"))
    assert _decode(make_thumbnail(small)).size == (100, 50)
    assert _decode(make_thumbnail(small, max_edge=40)).size == (40, 20)


def test_thumbnail_turns_a_sideways_phone_photo_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° clockwise to view
    sideways = _encode(Image.new("RGB", (400, 200), "green"), "JPEG", exif=exif)
    assert _decode(make_thumbnail(sideways)).size == (120, 240)


# --------------------------------------------------------------------------- ready


@pytest.mark.parametrize(
    ("count", "subject"), [(3, "Candle no. 4: 3 images ready"), (1, "Candle no. 4: 1 image ready")]
)
def test_ready_subject_counts_the_outputs(count, subject):
    assert _parsed(_ready(variants=_variants(count)))["Subject"] == subject


def test_ready_has_text_html_and_a_cid_thumbnail_per_variant():
    variants = _variants()
    message = _parsed(_ready(variants=variants))
    html, text = _html(message), _text(message)
    referenced = re.findall(r'src="cid:([^"]+)"', html)
    inline = _inline_images(message)
    assert len(referenced) == 3 and set(referenced) == set(inline)
    assert sorted(inline.values()) == sorted(v.thumbnail_jpeg for v in variants)
    for variant in variants:
        assert variant.url in text
        assert f'href="{variant.url.replace("&", "&amp;")}"' in html
    assert "web: 1600 × 1600 px, PNG, watermark: yes" in text
    assert "market: 2000 × 2000 px, JPEG, watermark: no" in text
    assert "1600 × 1600 px &middot; PNG &middot; watermark: yes" in html
    assert "until 28 Nov 2025, 09:30 UTC" in text and "for 7 days" in html


def test_ready_states_the_link_lifetime_it_was_given():
    text = _text(_ready(links_valid_for=timedelta(days=1)))
    assert "work for 1 day, until 22 Nov 2025, 09:30 UTC" in text


def test_every_kind_carries_job_kind_and_date_headers_and_no_message_id():
    for message, job_id, kind in [(_ready(), "job-1", "ready"), (_review(), "job-2", "review"),
                                  (_rejected(), "job-3", "rejected"), (_held(), "job-4", "held")]:
        parsed = _parsed(message)
        assert parsed["X-Picr-Job"] == job_id and parsed["X-Picr-Kind"] == kind
        assert parsed["From"] == SENDER and parsed["To"] == (OWNER if kind != "held" else "staff@shop.example")
        assert parsedate_to_datetime(parsed["Date"]) == SENT_AT
        assert "Message-ID" not in parsed


def test_date_keeps_the_given_offset():
    paris = datetime(2025, 11, 21, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    message = build_rejected_email(
        sender=SENDER, recipients=[OWNER], file_name="a.pdf", job_id="j", reason="Not a photo.",
        kept_at="rejected/j/a.pdf", sent_at=paris,
    )
    assert message["Date"] == "Fri, 21 Nov 2025 10:30:00 +0100"


def test_same_inputs_give_identical_bytes():
    assert _ready().as_bytes() == _ready().as_bytes()
    assert _review().as_bytes() == _review().as_bytes()


def test_script_in_product_name_is_escaped_in_html_and_plain_in_text():
    product = 'Vase <script>alert("x")</script>'
    for message in (_ready(product=product), _review(product=product), _held(product=product)):
        parsed = _parsed(message)
        html = _html(parsed)
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
        assert product in _text(parsed)
        assert parsed["Subject"].startswith(product)


def test_newline_in_a_name_cannot_create_a_header():
    message = _parsed(_ready(product="Vase\r\nBcc: thief@evil.example\r\n\r\n<b>body</b>"))
    assert message["Bcc"] is None
    assert message["Subject"] == "Vase Bcc: thief@evil.example <b>body</b>: 3 images ready"
    rejected = _parsed(_rejected(file_name="a.pdf\nX-Evil: 1", job_id="job\r\n-3"))
    assert rejected["X-Evil"] is None
    assert rejected["Subject"] == "a.pdf X-Evil: 1: could not be used"
    assert rejected["X-Picr-Job"] == "job -3"
    assert set(rejected.keys()) == {"From", "To", "Subject", "Date", "X-Picr-Job", "X-Picr-Kind",
                                    "MIME-Version", "Content-Type"}


def test_control_characters_in_names_become_spaces():
    message = _parsed(_ready(product="Vase\x00\x1b[31m red\u2028two\x85three\t"))
    assert message["Subject"] == "Vase [31m red two three: 3 images ready"
    assert "Vase [31m red two three" in _text(message)


def test_blank_names_and_reasons_still_make_a_sensible_email():
    assert _parsed(_ready(product=" \r\n"))["Subject"] == "Your product: 3 images ready"
    message = build_rejected_email(sender=SENDER, recipients=[OWNER], file_name="", job_id="j", reason="",
                                   kept_at="rejected/j/", sent_at=SENT_AT)
    assert message["Subject"] == "Your file: could not be used"
    assert "It could not be read as a photo." in _text(message)


def test_refuses_naive_time_bad_links_and_non_jpeg_thumbnails():
    with pytest.raises(ValueError, match="timezone"):
        build_rejected_email(sender=SENDER, recipients=[OWNER], file_name="a", job_id="j", reason="r",
                             kept_at="k", sent_at=datetime(2025, 11, 21, 9, 30))
    with pytest.raises(ValueError, match="http"):
        Link(label="Approve", url="javascript:alert(1)")
    with pytest.raises(ValueError, match="JPEG"):
        VariantLink("web", "https://x.example/a.png", 10, 10, "png", False, _half_transparent())
    with pytest.raises(ValueError, match="variant"):
        _ready(variants=[])


# --------------------------------------------------------------------------- review


def _guitar_cutout() -> bytes:
    photo = Image.open(GUITAR / "photo.jpg").convert("RGB")
    photo.putalpha(Image.open(GUITAR / "mask.png").convert("L"))
    return _encode(photo)


def test_review_of_a_2000px_photo_attaches_both_images_small_enough_for_ses():
    original = (GUITAR / "photo.jpg").read_bytes()
    message = _review(original=original, cutout=_guitar_cutout())
    raw = message.as_bytes()
    assert len(raw) < 2 * 1024 * 1024  # SES allows 10 MB; two 1200 px images should need a fraction
    parsed = email.message_from_bytes(raw, policy=policy.default)
    attachments = _attachments(parsed)
    assert set(attachments) == {"original.jpg", "cutout.png"}
    original_small = _decode(attachments["original.jpg"].get_content())
    cutout_small = _decode(attachments["cutout.png"].get_content())
    assert original_small.format == "JPEG" and original_small.size == (ATTACHMENT_MAX_EDGE, 900)
    assert cutout_small.format == "PNG" and cutout_small.size == (ATTACHMENT_MAX_EDGE, 900)
    # transparency survives: the mask's background stays clear, the guitar stays opaque
    mask_small = np.asarray(Image.open(GUITAR / "mask.png").convert("L").resize((1200, 900))) > 128
    alpha = np.asarray(cutout_small.getchannel("A"))
    assert (alpha[~mask_small] < 128).mean() > 0.99 and (alpha[mask_small] >= 128).mean() > 0.97
    assert parsed["Subject"] == "Glass vase: needs review"


def test_review_shows_reasons_previews_and_next_steps():
    reasons = ["Only 3% of the photo was kept as product.", "The cutout is in 14 separate pieces."]
    message = _parsed(_review(reasons=reasons))
    html, text = _html(message), _text(message)
    for reason in reasons:
        assert f"<li style=\"margin:0 0 4px 0;\">{reason}</li>" in html
        assert f"- {reason}" in text
    referenced = re.findall(r'src="cid:([^"]+)"', html)
    assert len(referenced) == 2 and set(referenced) == set(_inline_images(message))
    assert "Your photo" in html and "Attempted cutout" in html
    assert "plain, uncluttered backdrop in even light" in text
    assert "decide on this cutout" not in text  # no action links yet: no promise of one


def test_review_cutout_preview_is_on_a_checkerboard():
    message = _parsed(_review())
    cutout_cid = next(cid for cid in _inline_images(message) if cid.startswith("cutout"))
    preview = np.asarray(_decode(_inline_images(message)[cutout_cid]))[..., 0].astype(int)
    left_half = preview[:, : preview.shape[1] // 2 - 4]
    assert left_half.max() >= 245 and 190 <= left_half.min() <= 215  # both checker tones present


def test_review_actions_render_as_buttons():
    actions = [Link("Approve cutout", "https://u.example/approve?t=1&j=2"), Link("Reject", "https://u.example/r")]
    message = _parsed(_review(actions=actions))
    html, text = _html(message), _text(message)
    assert re.search(r'<a href="https://u.example/approve\?t=1&amp;j=2"[^>]*>Approve cutout</a>', html)
    assert re.search(r'<a href="https://u.example/r"[^>]*>Reject</a>', html)
    assert "- Approve cutout: https://u.example/approve?t=1&j=2" in text


def test_review_without_a_cutout_attaches_the_original_only():
    message = _parsed(_review(cutout=None, reasons=[]))
    assert set(_attachments(message)) == {"original.jpg"}
    assert len(_inline_images(message)) == 1
    assert "The cutout did not pass the automatic checks." in _text(message)


# --------------------------------------------------------------------------- rejected


def test_held_tells_the_sender_what_happened_and_why_with_no_link_and_no_image():
    message = _parsed(_held())
    text, html = _text(message), _html(message)
    assert message["Subject"] == "Glass vase: waiting for the shop's review"
    for body in (text, html):
        assert "Only 3% of the photo was kept as product." in body and "nothing was published" in body
        assert "shop owner" in body and "http" not in body and "href" not in body
    assert _inline_images(message) == {} and _attachments(message) == {}


def test_rejected_says_why_what_to_send_and_where_the_file_is():
    message = _parsed(_rejected(file_name="<b>invoice</b>.pdf"))
    html, text = _html(message), _text(message)
    assert message["Subject"] == "<b>invoice</b>.pdf: could not be used"
    assert "This file is a PDF document, not a photo." in text
    assert "JPEG, PNG, HEIC or WebP" in text and "JPEG, PNG, HEIC or WebP" in html
    assert "rejected/job-3/<b>invoice</b>.pdf" in text
    assert "rejected/job-3/&lt;b&gt;invoice&lt;/b&gt;.pdf" in html
    assert "<b>" not in html
    assert not list(message.iter_attachments())


# --------------------------------------------------------------------------- adapters


@pytest.fixture
def aws():
    with mock_aws():
        yield


def test_send_via_ses_delivers_a_readable_raw_message(aws):
    ses = boto3.client("ses", region_name=REGION)
    ses.verify_email_identity(EmailAddress="picr@shop.example")
    message_id = send_via_ses(ses, _ready())
    sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert len(sent) == 1 and sent[0].id == message_id
    assert OWNER in sent[0].destinations
    delivered = email.message_from_string(sent[0].raw_data, policy=policy.default)
    assert delivered["Subject"] == "Candle no. 4: 3 images ready"
    assert delivered["X-Picr-Kind"] == "ready"
    assert len(_inline_images(delivered)) == 3


def test_send_via_ses_refuses_an_oversized_message_before_calling_ses(aws):
    ses = boto3.client("ses", region_name=REGION)
    ses.verify_email_identity(EmailAddress="picr@shop.example")
    message = _rejected()
    message.add_attachment(b"\0" * (SES_MAX_MESSAGE_BYTES * 3 // 4 + 1), "application", "octet-stream")
    with pytest.raises(ValueError, match="SES accepts at most"):
        send_via_ses(ses, message)
    assert ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages == []


def test_publish_via_sns_sends_the_text_with_links_and_names_dropped_attachments(aws):
    sns = boto3.client("sns", region_name=REGION)
    topic_arn = sns.create_topic(Name="picr-notify")["TopicArn"]
    actions = [Link("Approve cutout", "https://u.example/approve?t=1")]
    message_id = publish_via_sns(sns, topic_arn, _review(product="Glass vase " * 20, actions=actions))
    sent_id, body, subject, attributes, _ = sns_backends[DEFAULT_ACCOUNT_ID][REGION].topics[
        topic_arn
    ].sent_notifications[-1]
    assert sent_id == message_id
    assert len(subject) <= 100 and subject.startswith("Glass vase Glass vase") and "\n" not in subject
    assert "https://u.example/approve?t=1" in body
    assert body.rstrip().endswith(
        "Sent by email only (SNS cannot carry attachments): original.jpg, cutout.png."
    )
    assert attributes["picr_kind"]["Value"] == "review" and attributes["picr_job"]["Value"] == "job-2"


def test_html_is_one_document_with_entities_that_decode_to_the_text_facts():
    html = _html(_parsed(_rejected()))
    assert html.lstrip().startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert 'name="viewport"' in html
    assert unescape(re.search(r"<title>(.*)</title>", html).group(1)) == "invoice.pdf: could not be used"


def _export(url: str | None = "https://abc.lambda-url.eu-west-2.on.aws/download?t=x.y", left_out: int = 0):
    return build_export_email(sender=SENDER, recipients=[OWNER], export_id="0123456789abcdef", channel="market",
                              selection="the products sent from 1 Nov 2025 to 7 Nov 2025", count=42,
                              size_bytes=17_345_678, url=url, left_out=left_out, sent_at=SENT_AT)


def test_the_export_email_links_the_zip_and_says_what_is_in_it_and_for_how_long():
    parsed = _parsed(_export(left_out=3))
    assert parsed["Subject"] == "market: 42 images in one zip"
    assert (parsed["X-Picr-Kind"], parsed["X-Picr-Job"], parsed["To"]) == ("export", "0123456789abcdef", OWNER)
    for body in (_text(parsed), unescape(re.sub(r"<[^>]+>", " ", _html(parsed)))):
        assert "the products sent from 1 Nov 2025 to 7 Nov 2025" in body and "42 files, 17.3 MB" in body
        assert "works for 7 days, until 28 Nov 2025, 09:30 UTC" in body
        assert "3 products of your selection had no market image" in body
    assert 'href="https://abc.lambda-url.eu-west-2.on.aws/download?t=x.y"' in _html(parsed)


def test_the_export_email_without_a_zip_says_why_and_links_nothing():
    parsed = _parsed(_export(url=None, left_out=5))
    assert parsed["Subject"] == "market: no images to put in a zip"
    assert "no zip was made" in _text(parsed) and "http" not in _text(parsed)
    with pytest.raises(ValueError, match="not an http"):
        _export(url="javascript:alert(1)")
