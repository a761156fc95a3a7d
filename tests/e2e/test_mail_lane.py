"""The email lane end to end through the local runner: emails in as SES stores them, the sender and the owner
answered."""

from __future__ import annotations

import email
import email.policy
import io
from pathlib import Path

import pytest
from PIL import Image

from tests.support.phone_mail import JPEG, phone_mail
from tools.shared_data import PHOTOS

# ------------------------------------------------------------------ the local runner, end to end

@pytest.mark.slow
def test_the_runner_takes_emails_like_ses_and_answers_sender_and_owner(tmp_path, caplog):
    from tools.process import run

    inputs = tmp_path / "in"
    inputs.mkdir()
    # An iPhone-style HEIC of a photo u2netp's gate profile publishes (the guitar, teddy and binocular samples
    # are held for review by it: this test is about the lane, not the cutout's judgement).
    photos = [("IMG_0417.HEIC", heic_of(PHOTOS / "cases" / "05_large_red_anemone_mint_paper" / "photo.jpg"),
               "image", "heic"),
              ("IMG_0418.JPG", JPEG, "image", "jpeg")]
    (inputs / "candle.eml").write_bytes(phone_mail(attachments=photos, ses=False))
    (inputs / "stranger.eml").write_bytes(phone_mail(sender="mallory@evil.example", ses=False))
    (inputs / "traversal.eml").write_bytes(phone_mail(
        subject="Broken", attachments=[("../../out/market/x.jpg", b"not really a jpeg", "image", "jpeg")], ses=False))
    out = tmp_path / "out"
    summary = run(sorted(inputs.iterdir()), out, quiet=True,
                  parameters={"AllowedSenders": "shop@example.com"})

    by_input: dict[str, list[dict]] = {}
    for entry in summary["jobs"]:
        by_input.setdefault(entry["input"], []).append(entry)
    candle = by_input["candle.eml"]
    assert [(e["status"], e["product"]) for e in candle] == [("done", "Sea salt candle")] * 2
    assert sorted(e["key"].rpartition("/")[2] for e in candle) == ["IMG_0417.HEIC", "IMG_0418.JPG"]
    for entry in candle:
        (eml,) = [p for p in entry["emails"] if p.endswith(".eml")]
        ready = email.message_from_bytes((out / eml).read_bytes(), policy=email.policy.default)
        assert ready["To"] == "owner@example.com, shop@example.com"
        assert ready["Subject"] == "Sea salt candle: 3 images ready"

    (stranger,) = by_input["stranger.eml"]
    assert (stranger["status"], stranger["reason_code"], stranger["emails"]) == ("refused", "sender_not_allowed", [])
    refusals = [record for record in caplog.records if record.getMessage() == "mail refused"]
    assert [(r.reason, r.sender) for r in refusals] == [("sender_not_allowed", "mallory@evil.example")]

    (traversal,) = by_input["traversal.eml"]
    assert traversal["key"].startswith("inbox/mail/") and traversal["key"].endswith("/x.jpg")
    assert traversal["status"] == "rejected"
    (eml,) = [p for p in traversal["emails"] if p.endswith(".eml")]
    rejected = email.message_from_bytes((out / eml).read_bytes(), policy=email.policy.default)
    assert rejected["To"] == "owner@example.com, shop@example.com" and rejected["Subject"] == "x.jpg: could not be used"
    assert not (out / "bucket" / "out" / "market" / "x.jpg").exists()
    assert summary["counts"]["done"] == 2 and summary["counts"]["refused"] == 1
    assert summary["dead_letters"] == 0


def heic_of(path: Path) -> bytes:
    out = io.BytesIO()
    with Image.open(path) as image:
        image.save(out, "HEIF", quality=80)
    return out.getvalue()
