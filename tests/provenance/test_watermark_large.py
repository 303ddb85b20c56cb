"""Large images: the decoder reduces them once (REDUCE_SIDE), PDQ hashes a reduced copy.

Images up to REDUCE_SIDE px a side must decode exactly as before (the full-resolution luma);
larger ones must still decode their payload, also after a crop or a flip.
"""

from __future__ import annotations

import cv2
import numpy as np
import pdqhash
import pytest

from doppelab.provenance import fingerprint, watermark
from tests.provenance.conftest import crop, jpeg

PID = 0x1A46E5ED


def _photo(src: np.ndarray, width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.resize(src, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    img += rng.normal(0, 3, (height, width)).astype(np.int16)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _old_soft(image: np.ndarray) -> np.ndarray:
    """The decoder before the reduction: search and fold the full-resolution luma."""
    lay = watermark._layout(watermark.DEFAULT_KEY)
    luma = watermark._luma(image)
    s = watermark._search(luma, lay)
    return watermark._soft_bits(watermark._folded(luma, s.width, s.height), s.flipped, s.dy,
                                s.dx, lay)


@pytest.fixture(scope="module")
def large(astronaut: np.ndarray) -> np.ndarray:
    return watermark.embed(_photo(astronaut, 2500, 1800), PID)


def test_small_images_decode_exactly_as_before(astronaut: np.ndarray,
                                               coffee: np.ndarray) -> None:
    side = watermark.REDUCE_SIDE
    for img in (watermark.embed(astronaut, PID), coffee,
                watermark.embed(_photo(coffee, side, 700), PID)):
        assert max(img.shape[:2]) <= side
        soft, _z, _s = watermark.decode_soft(img)
        assert soft.tobytes() == _old_soft(img).tobytes()


@pytest.mark.parametrize("size", [(2500, 1800), (700, 2600), (1500, 900)])
def test_shape_decoder_luma_is_one_area_reduction(astronaut: np.ndarray,
                                                  size: tuple[int, int]) -> None:
    w, h = size
    img = _photo(astronaut, w, h)
    got = watermark._decoder_luma(img)
    side = watermark.REDUCE_SIDE
    assert got.shape == (min(h, side), min(w, side)) and got.dtype == np.float32
    want = cv2.resize(watermark._luma(img), (min(w, side), min(h, side)),
                      interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(got, want, atol=1e-3)


@pytest.mark.parametrize("attack", ["none", "crop10", "flip", "jpeg50"])
def test_roundtrip_large_image(large: np.ndarray, attack: str) -> None:
    img = {"none": lambda x: x, "crop10": lambda x: crop(x, 0.1, False),
           "flip": lambda x: np.ascontiguousarray(x[:, ::-1]),
           "jpeg50": lambda x: jpeg(x, 50)}[attack](large)
    result = watermark.detect(img)
    assert result.found and result.payload_id == PID, result
    assert result.bit_agreement >= 0.95 and result.sync_score >= 6.0
    assert result.flipped == (attack == "flip")


def test_large_unmarked_image_not_claimed(coffee: np.ndarray) -> None:
    result = watermark.detect(_photo(coffee, 2400, 1600, seed=1))
    assert not result.found and result.payload_id is None


def test_pdq_small_unchanged_large_close(coffee: np.ndarray) -> None:
    def full(img: np.ndarray) -> np.ndarray:
        return np.packbits(pdqhash.compute(np.ascontiguousarray(img))[0].astype(np.uint8))

    assert fingerprint.pdq(coffee).tobytes() == full(coffee).tobytes()
    big = _photo(coffee, 2600, 1700, seed=2)
    small = fingerprint._reduced(big)
    assert small.shape == (fingerprint.HASH_SIDE, fingerprint.HASH_SIDE, 3)
    dist = int(np.unpackbits(fingerprint.pdq(big) ^ full(big)).sum())
    assert dist <= 16  # a near-duplicate by far (MATCH_DISTANCE is 31)
    assert len(fingerprint.query_hashes(big)) == 3 and len(fingerprint.fingerprints(big)) == 3
