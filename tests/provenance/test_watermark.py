"""Watermark: survives each listed attack, never claims unmarked images, shape/type guards."""

from __future__ import annotations

import numpy as np
import pytest

from doppelab.core.errors import UsageError
from doppelab.provenance import ecc, watermark
from tests.provenance.conftest import ATTACKS

PID = 0x5EED1234


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


@pytest.fixture(scope="module")
def marked(astronaut: np.ndarray, coffee: np.ndarray) -> dict[str, np.ndarray]:
    return {"astronaut": watermark.embed(astronaut, PID), "coffee": watermark.embed(coffee, PID)}


def test_smoke_shape_and_psnr(astronaut: np.ndarray, coffee: np.ndarray,
                              marked: dict[str, np.ndarray]) -> None:
    for name, orig in (("astronaut", astronaut), ("coffee", coffee)):
        out = marked[name]
        assert out.shape == orig.shape and out.dtype == np.uint8
        assert _psnr(orig, out) >= 38.0


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_roundtrip_survives_attack(marked: dict[str, np.ndarray], name: str,
                                   attack: str) -> None:
    result = watermark.detect(ATTACKS[attack](marked[name]))
    assert result.found, result
    assert result.payload_id == PID
    assert result.bit_agreement >= 0.9


def test_unmarked_images_never_claimed(astronaut: np.ndarray, coffee: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    flat = np.full((300, 400, 3), 128, np.uint8)
    ramp = np.repeat(np.linspace(0, 255, 500, dtype=np.uint8)[None, :, None], 3, 2)
    ramp = np.ascontiguousarray(np.repeat(ramp, 260, 0))
    noise = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    for img in (astronaut, coffee, flat, ramp, noise, astronaut[:, ::-1].copy()):
        result = watermark.detect(img)
        assert not result.found and result.payload_id is None and result.confidence == 0.0


def test_other_key_does_not_read(marked: dict[str, np.ndarray]) -> None:
    assert not watermark.detect(marked["astronaut"], key="another-lab").found


def test_video_vote(astronaut: np.ndarray) -> None:
    frames = [watermark.embed(np.roll(astronaut, 3 * i, axis=1), PID) for i in range(3)]
    result = watermark.detect_frames(frames)
    assert result.found and result.payload_id == PID and result.frames_checked == 3


def test_exception_bad_input() -> None:
    with pytest.raises(UsageError):
        watermark.embed(np.zeros((64, 64), np.uint8), PID)
    with pytest.raises(UsageError):
        watermark.embed(np.zeros((16, 16, 3), np.uint8), PID)
    with pytest.raises(ValueError):
        ecc.id_to_bits(1 << 32)


def test_too_small_to_carry_a_mark_is_not_found() -> None:
    """verify on a 1x1 or 17x9 image used to exit 2 ("usage error") from the size guard of
    embed; such an image cannot carry a mark, so the answer is simply "not found"."""
    for shape in ((1, 1, 3), (9, 17, 3), (16, 3000, 3)):
        tiny = np.full(shape, 128, np.uint8)
        assert not watermark.detect(tiny).found
        video = watermark.detect_frames([tiny, tiny])
        assert not video.found and video.frames_checked == 2
    with pytest.raises(UsageError):
        watermark.detect(np.zeros((64, 64), np.uint8))


def test_ecc_roundtrip_and_crc() -> None:
    rng = np.random.default_rng(1)
    scramble = rng.integers(0, 2, ecc.INFO_BITS).astype(np.int8)
    coded = ecc.encode_payload(PID, scramble)
    assert coded.shape == (ecc.CODED_BITS,)
    soft = (2.0 * coded - 1.0) + rng.normal(0, 0.5, coded.shape)
    pid, ok, _ = ecc.decode_payload(soft, scramble)
    assert ok and pid == PID
    _, ok_wrong, _ = ecc.decode_payload(-(2.0 * coded - 1.0), scramble)
    assert not ok_wrong
