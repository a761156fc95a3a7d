"""The calibration corpus: its class table, its sources (never a held-out file), the split, and the
generator's invariants on real pixels (exact masks, byte-for-byte rebuilds) on a few photos.

The sources are the pinned Debian packages, fetched once into the shared cache (``~/.cache/picr-corpus``
or ``$PICR_CORPUS_CACHE``) by the same code ``make corpus`` uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from tools.corpus import build, catalogue
from tools.corpus.sources import PACKAGES, Package, SourceError, SourceTree, deb_name, fetch, read_held_out

HELD_OUT = read_held_out()

# The classes and counts docs/calibration-corpus.md documents; a change to either must change both.
DOCUMENTED = {
    "plain": (30, "publish"), "thin": (45, "publish"), "low_contrast": (35, "publish"), "clutter": (40, "publish"),
    "fills_frame": (25, "publish"), "two_products": (30, "publish"), "salient_distractor": (45, "hold"),
    "see_through": (40, "hold"), "glow_flame_smoke": (35, "hold"), "cut_by_frame": (30, "hold"), "empty": (20, "hold"),
}


@pytest.fixture(scope="module")
def tree() -> Path:
    return fetch()


@pytest.fixture(scope="module")
def library(tree) -> build.Library:
    return build.Library(SourceTree(tree))


# ---- the spec -------------------------------------------------------------------------------------


def test_class_table_is_the_documented_one_with_over_300_photos():
    assert {c.name: (c.count, c.expected) for c in build.CLASSES} == DOCUMENTED
    ids = build.photo_ids()
    assert len(ids) == len(set(ids)) == sum(count for count, _ in DOCUMENTED.values()) >= 300
    for c in build.CLASSES:
        mine = [i for i in ids if build.split_of(i)[0] is c]
        assert len(mine) == c.count
        evaluation = [i for i in mine if build.part_for(i) == catalogue.EVAL]
        assert c.count / 4 <= len(evaluation) <= c.count / 2, c.name   # about a third of every class
        assert c.reason.endswith(".") and len(c.reason) > 30


def test_limit_keeps_every_class():
    assert {build.split_of(i)[0].name for i in build.photo_ids(limit=1)} == set(DOCUMENTED)


# ---- sources ----------------------------------------------------------------------------------------


def test_no_catalogue_file_is_held_out_and_every_pool_is_split():
    assert len(HELD_OUT) > 50
    keys = [s.key for s in catalogue.ALL_SOURCES]
    assert len(keys) == len(set(keys))            # a file is in one pool only, so it has one part
    for source in catalogue.ALL_SOURCES:
        assert (source.package, source.path) not in HELD_OUT, source.key
        assert source.package in PACKAGES
    for name in catalogue.POOLS:
        assert catalogue.pool(name, catalogue.FIT) and catalogue.pool(name, catalogue.EVAL), name
        assert not {s.key for s in catalogue.pool(name, catalogue.FIT)} & {s.key for s in catalogue.pool(name,
                                                                                                        "eval")}


def test_source_tree_refuses_a_held_out_file_before_reading_it(tmp_path):
    package, path = sorted(HELD_OUT)[0]
    sources = SourceTree(tmp_path)     # an empty tree: refusing must not depend on the file existing
    with pytest.raises(SourceError, match="held out"):
        sources.open(package, path)
    assert not sources.opened


def _stem(path: str) -> str:
    """A stamp's name without Tux Paint's mirrored-copy suffixes (``x_mirror.png`` is ``x.png`` flipped)."""
    name = Path(path).stem.lower()
    for suffix in ("_mirror", "-mirror", "_flipped", "_flip"):
        name = name.removesuffix(suffix)
    return name


def test_every_catalogue_file_exists_and_none_is_a_mirrored_copy_of_a_held_out_one(tree):
    """Held-out files are compared by name only: their pixels are never read, not even by a test."""
    held_stems = {(package, _stem(path)) for package, path in HELD_OUT}
    for source in catalogue.ALL_SOURCES:
        assert (tree / source.package / source.path.lstrip("/")).is_file(), source.key
        assert (source.package, _stem(source.path)) not in held_stems, f"{source.path} is a copy of a held-out file"


def test_fetch_refuses_a_package_file_whose_sha256_is_not_the_pinned_one(tmp_path, monkeypatch):
    real = PACKAGES["mypaint-data-extras"]
    monkeypatch.setitem(PACKAGES, real.name, Package(real.name, real.version, "0" * 64, real.licence))
    with pytest.raises(SourceError, match="is not the pinned"):
        fetch([real.name], cache=tmp_path)
    assert not (tmp_path / "x" / real.name).exists()
    assert not (tmp_path / "debs" / deb_name(real)).exists()


# ---- pixels -----------------------------------------------------------------------------------------


def _scene(monkeypatch, library, photo_id: str, level: float) -> build.Scene:
    """The photo's scene with a flat ``level`` background, no shadow: what is left is the cut-outs."""
    def flat(self, source, params=None):
        self.image = np.full((self.height, self.width, 3), level, np.float32)
        self.sources.append(source.record("background"))

    monkeypatch.setattr(build.Scene, "lay_background", flat)
    monkeypatch.setattr(build, "drop_shadow", lambda background, *args, **kwargs: background)
    ctx = build.Context(photo_id, build.part_for(photo_id), np.random.default_rng(build.seed_for(photo_id)), library)
    return build.BUILDERS[build.split_of(photo_id)[0].name](ctx)


@pytest.mark.parametrize("photo_id", ["plain-001", "thin-002", "two_products-001", "fills_frame-001",
                                      "see_through-002", "glow_flame_smoke-001", "cut_by_frame-001"])
def test_mask_is_exactly_the_alpha_the_photo_was_composited_with(monkeypatch, library, photo_id):
    # I = αF + (1−α)B, so two flat backgrounds give α = 1 − (I_white − I_black): the photo's own alpha
    black = _scene(monkeypatch, library, photo_id, 0.0)
    white = _scene(monkeypatch, library, photo_id, 1.0)
    composited = 1.0 - (white.image - black.image).mean(axis=2)
    assert np.abs(composited - black.mask).max() < 1e-4
    assert black.mask.max() > 0.5
    if photo_id.startswith("cut_by_frame"):
        side = black.params["cut_side"]
        edge = {"left": black.mask[:, 0], "right": black.mask[:, -1], "top": black.mask[0], "bottom": black.mask[-1]}
        assert (edge[side] >= 0.5).sum() > 10      # the product runs off that side
        assert 0.14 <= black.params["hidden_alpha_share"] <= 0.46
    if photo_id.startswith("see_through"):
        inside = (black.mask > 0.02) & (black.mask < 0.98)
        assert inside.sum() / (black.mask > 0.02).sum() > 0.5    # mostly partial alpha


@pytest.mark.parametrize("photo_id", ["salient_distractor-001", "clutter-002"])
def test_mask_holds_the_product_and_nothing_the_owner_does_not_sell(monkeypatch, library, photo_id):
    black = _scene(monkeypatch, library, photo_id, 0.0)
    white = _scene(monkeypatch, library, photo_id, 1.0)
    composited = 1.0 - (white.image - black.image).mean(axis=2)
    product = black.params["layers"][-1]
    assert product["in_mask"] and not any(layer["in_mask"] for layer in black.params["layers"][:-1])
    x0, y0 = product["position"]
    w, h = product["placed_size"]
    inside = np.zeros(black.mask.shape, bool)
    inside[max(0, y0):y0 + h, max(0, x0):x0 + w] = True
    # the product's own alpha is exactly the mask; the other objects are in the photo and not in the mask
    assert np.abs(composited[inside] - black.mask[inside]).max() < 1e-4
    assert black.mask[~inside].max() == 0.0
    assert composited[~inside].max() > 0.5
    if photo_id.startswith("salient_distractor"):
        assert black.params["rival_area_ratio"] >= 2.5


def _built(out: Path, ids: list[str]) -> dict[str, dict[str, bytes]]:
    return {i: {name: (out / "cases" / i / name).read_bytes() for name in ("photo.jpg", "mask.png", "meta.json")}
            for i in ids}


SUBSET = ["plain-000", "cut_by_frame-002", "empty-001", "low_contrast-002"]


@pytest.fixture(scope="module")
def subset(tree, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    build.build(out, SUBSET)
    return out


def test_building_again_gives_byte_identical_files_in_any_order(subset, tmp_path):
    build.build(tmp_path, list(reversed(SUBSET)))
    assert _built(tmp_path, SUBSET) == _built(subset, SUBSET)
    assert (tmp_path / "manifest.json").read_bytes() == (subset / "manifest.json").read_bytes()


def test_built_photos_are_phone_like_jpegs_with_a_matching_mask(subset):
    for photo_id in SUBSET:
        case = subset / "cases" / photo_id
        photo, mask = Image.open(case / "photo.jpg"), Image.open(case / "mask.png")
        assert photo.format == "JPEG" and photo.mode == "RGB" and not photo.info.get("exif")
        assert JpegImagePlugin.get_sampling(photo) == 2          # 4:2:0
        assert 1200 <= max(photo.size) <= 2600
        assert mask.mode == "L" and mask.size == photo.size
        meta = json.loads((case / "meta.json").read_text())
        assert meta["size"] == list(photo.size)
        assert 85 <= meta["params"]["jpeg_quality"] <= 92
        m = np.asarray(mask, np.float32) / 255
        assert meta["object_fraction"] == round(float((m >= 0.5).mean()), 4)
    assert not np.asarray(Image.open(subset / "cases" / "empty-001" / "mask.png")).any()


def test_manifest_names_only_catalogue_files_of_the_photos_part_and_never_a_held_out_one(subset):
    manifest = json.loads((subset / "manifest.json").read_text())
    assert [p["id"] for p in manifest["photos"]] == sorted(SUBSET)
    by_key = {s.key: s for s in catalogue.ALL_SOURCES}
    for photo in manifest["photos"]:
        assert photo["expected"] == build.CLASS_BY_NAME[photo["class"]].expected
        assert photo["expect"] == {"publish": "pass", "hold": "review"}[photo["expected"]]
        assert photo["reason"] and photo["seed"] == build.seed_for(photo["id"])
        for used in photo["source"]:
            assert (used["package"], used["path"]) not in HELD_OUT
            source = by_key[f"{used['package']}:{used['path']}"]
            assert used["version"] == PACKAGES[used["package"]].version and used["licence"] == source.licence
            assert catalogue.part_of(source.key) == photo["part"]
    assert {p["package"] for p in manifest["packages"]} == set(PACKAGES)
