import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from picr.image.manifest import MANIFEST_VERSION, ManifestOutput, build_manifest, parse_manifest


def _png(size, colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, colour).save(out, "PNG")
    return out.getvalue()


WEB_PNG = _png((160, 160), (200, 40, 40, 255))
SOCIAL_PNG = _png((108, 108), (40, 200, 40, 255))


def _outputs() -> list[ManifestOutput]:
    return [
        ManifestOutput.from_encoded(
            channel="web", key="out/web/job-1/candle.png", data=WEB_PNG, width=160, height=160,
            format="PNG", watermarked=True, checks={"fill_ratio": 0.62, "edges_clean": True},
        ),
        ManifestOutput.from_encoded(
            channel="social", key="out/social/job-1/candle.jpg", data=SOCIAL_PNG, width=108, height=108,
            format="JPEG", watermarked=False, checks={},
        ),
    ]


def _manifest(**overrides) -> bytes:
    arguments = dict(
        job_id="job-1",
        source_file="candle 4.HEIC",
        source_key="inbox/candle 4.HEIC",
        product="Candle no. 4",
        confidence=0.91,
        event_time="2025-11-21T01:40:00.123Z",
        engine="rembg/u2netp",
        outputs=_outputs(),
    )
    arguments.update(overrides)
    return build_manifest(**arguments)


def test_same_inputs_give_identical_bytes():
    assert _manifest() == _manifest()


def test_output_order_does_not_change_the_bytes():
    assert _manifest(outputs=_outputs()[::-1]) == _manifest()


def test_format_is_sorted_two_space_json_with_trailing_newline():
    data = _manifest()
    assert data.endswith(b"}\n") and not data.endswith(b"\n\n")
    assert b'\n  "confidence": 0.91,' in data
    pairs_seen = []
    json.loads(data, object_pairs_hook=lambda pairs: pairs_seen.append([k for k, _ in pairs]) or dict(pairs))
    assert all(keys == sorted(keys) for keys in pairs_seen)


def test_records_every_field_and_output():
    manifest = parse_manifest(_manifest())
    assert manifest == {
        "manifest_version": MANIFEST_VERSION,
        "job_id": "job-1",
        "source_file": "candle 4.HEIC",
        "source_key": "inbox/candle 4.HEIC",
        "product": "Candle no. 4",
        "confidence": 0.91,
        "event_time": "2025-11-21T01:40:00.123Z",
        "engine": "rembg/u2netp",
        "outputs": [
            {
                "channel": "social", "key": "out/social/job-1/candle.jpg", "width": 108, "height": 108,
                "format": "JPEG", "bytes": len(SOCIAL_PNG), "sha256": hashlib.sha256(SOCIAL_PNG).hexdigest(),
                "watermarked": False, "checks": {},
            },
            {
                "channel": "web", "key": "out/web/job-1/candle.png", "width": 160, "height": 160,
                "format": "PNG", "bytes": len(WEB_PNG), "sha256": hashlib.sha256(WEB_PNG).hexdigest(),
                "watermarked": True, "checks": {"fill_ratio": 0.62, "edges_clean": True},
            },
        ],
    }


def test_non_ascii_names_stay_readable():
    data = _manifest(product="Crème brûlée candle")
    assert "Crème brûlée candle".encode() in data


def test_numpy_scalars_in_checks_become_plain_json():
    output = ManifestOutput.from_encoded(
        channel="web", key="out/web/a.png", data=WEB_PNG, width=160, height=160, format="PNG",
        watermarked=True,
        checks={"fill_ratio": np.float32(0.5), "ok": np.bool_(True), "islands": np.int64(1)},
    )
    checks = parse_manifest(_manifest(outputs=[output]))["outputs"][0]["checks"]
    assert checks == {"fill_ratio": 0.5, "ok": True, "islands": 1}


@pytest.mark.parametrize(
    "overrides",
    [
        {"confidence": float("nan")},
        {"event_time": "yesterday"},
        {"event_time": "2025-11-21T01:40:00"},  # no timezone: ambiguous
        {"outputs": _outputs() + _outputs()[:1]},  # duplicate key
    ],
)
def test_rejects_inputs_a_receipt_cannot_record_honestly(overrides):
    with pytest.raises(ValueError):
        _manifest(**overrides)


@pytest.mark.parametrize(
    "change",
    [{"sha256": "abc"}, {"sha256": "F" * 64}, {"width": 0}, {"bytes": 0}, {"key": ""}],
)
def test_output_validates_its_facts(change):
    fields = dict(
        channel="web", key="out/web/a.png", width=10, height=10, format="PNG", bytes=5,
        sha256="0" * 64, watermarked=False, checks={},
    )
    fields.update(change)
    with pytest.raises(ValueError):
        ManifestOutput(**fields)


def test_checks_that_are_not_json_fail_loudly():
    output = ManifestOutput.from_encoded(
        channel="web", key="out/web/a.png", data=WEB_PNG, width=160, height=160, format="PNG",
        watermarked=True, checks={"mask": object()},
    )
    with pytest.raises(TypeError):
        _manifest(outputs=[output])


@pytest.mark.parametrize(
    "data",
    [
        b"[]",
        json.dumps({"job_id": "x"}).encode(),
        _manifest().replace(b'"manifest_version": 1', b'"manifest_version": 99'),
        _manifest().replace(b'"sha256"', b'"sha_256"'),
    ],
)
def test_parse_refuses_what_it_would_misread(data):
    with pytest.raises(ValueError):
        parse_manifest(data)
