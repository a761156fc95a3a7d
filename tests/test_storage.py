"""The bucket adapter and key layout against moto, on the template's (versioned) bucket."""

from __future__ import annotations

import requests

from picr.storage import ImageBucket, manifest_key, out_key, rejected_key, work_key


def test_key_layout():
    assert work_key("j" * 20, "source.jpg") == f"work/{'j' * 20}/source.jpg"
    assert out_key("market", "j" * 20, "jpg") == f"out/market/{'j' * 20}.jpg"
    assert manifest_key("j" * 20) == f"out/manifests/{'j' * 20}.json"
    assert rejected_key("j" * 20, "a.pdf") == f"rejected/{'j' * 20}/a.pdf"


def test_put_get_optional_copy_move_and_presign(stack):
    bucket = ImageBucket(stack.s3, stack.bucket)
    assert bucket.get_optional("config/channels.json") is None
    version = bucket.put("inbox/a.jpg", b"photo", "image/jpeg", {"product": "Candle"})
    stored = bucket.get("inbox/a.jpg")
    assert (stored.data, stored.content_type, stored.metadata, stored.version_id) == (
        b"photo", "image/jpeg", {"product": "Candle"}, version)
    bucket.move("inbox/a.jpg", "rejected/x/a.jpg", version)
    assert not bucket.exists("inbox/a.jpg") and bucket.get("rejected/x/a.jpg").data == b"photo"
    # the move leaves a delete marker: the original version is still recoverable
    assert bucket.get("inbox/a.jpg", version).data == b"photo"
    assert requests.get(bucket.presign("rejected/x/a.jpg", 60), timeout=10).content == b"photo"
