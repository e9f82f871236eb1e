"""pHash fingerprints: the draft-mode speed-up must never change which images are duplicates."""

import io

from PIL import Image

from lingshu.data.dedup import exact_groups
from lingshu.data.images import inspect_image


def _hashes(paths, draft):
    return [(p.name, inspect_image(p.read_bytes(), 1, 10**9, jpeg_draft=draft)[0].phash) for p in paths]


def test_full_decode_hash_is_exactly_imagehash_phash(repo):
    import imagehash

    paths = sorted((repo / "data/sources/vqa_rad/images").glob("*.jpg"))
    assert len(paths) == 315
    ours = _hashes(paths, False)
    reference = [(p.name, int(str(imagehash.phash(Image.open(p))), 16)) for p in paths]
    assert ours == reference
    assert exact_groups(ours) == exact_groups(reference)


def test_a_reencoded_copy_is_a_duplicate_and_a_different_image_is_not(repo):
    paths = sorted((repo / "data/sources/vqa_rad/images").glob("*.jpg"))[:2]
    original = paths[0].read_bytes()
    buffer = io.BytesIO()
    Image.open(io.BytesIO(original)).save(buffer, format="JPEG", quality=90)
    for draft in (True, False):
        a = inspect_image(original, 1, 10**9, draft)[0]
        b = inspect_image(buffer.getvalue(), 1, 10**9, draft)[0]
        c = inspect_image(paths[1].read_bytes(), 1, 10**9, draft)[0]
        assert a.sha256 != b.sha256 and a.phash == b.phash
        assert a.phash != c.phash


def test_non_jpeg_png_formats_are_stored_as_png():
    buffer = io.BytesIO()
    Image.effect_noise((80, 80), 30).save(buffer, format="BMP")
    info, stored = inspect_image(buffer.getvalue(), 64, 10**9)
    assert info.ext == "png" and Image.open(io.BytesIO(stored)).format == "PNG"
