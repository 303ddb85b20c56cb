"""A float TIFF (Pillow mode F), whose samples FFmpeg's TIFF decoder cannot read, is read with
Pillow and scaled from 0..1 (fuzz round 5, ``bench/fuzz_corpus5.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from doppelab.core.errors import InputError
from doppelab.core.media import iter_frames, probe, read_image


def _ramp() -> np.ndarray:
    return np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (32, 1))


def test_roundtrip_float_tiff(tmp_path: Path) -> None:
    path = tmp_path / "float.tiff"
    Image.fromarray(_ramp()).save(path)
    want = np.round(_ramp() * 255)
    got = read_image(path)
    assert got.shape == (32, 64, 3)
    assert np.abs(got[:, :, 0].astype(float) - want).max() <= 1
    info = probe(path)
    assert (info.kind, info.width, info.height) == ("image", 64, 32)
    frames = list(iter_frames(path))
    assert len(frames) == 1
    assert np.array_equal(frames[0].image, got)


def test_float_tiff_in_0_255(tmp_path: Path) -> None:
    path = tmp_path / "float255.tif"
    Image.fromarray(_ramp() * 255).save(path)
    assert read_image(path)[:, -1, 0].min() == 255


def test_exception_tiff_nobody_reads(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tiff"
    bad.write_bytes(b"II*\x00" + bytes(range(256)) * 4)
    with pytest.raises(InputError):
        probe(bad)
    with pytest.raises(InputError):
        list(iter_frames(bad))
