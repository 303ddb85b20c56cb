"""Icons (fuzz round 3): read through Pillow, which takes the largest entry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from doppelab.core.media import iter_frames, probe, read_image


def test_ico_reads_largest_image(tmp_path: Path) -> None:
    """An icon is an image (Pillow: its largest entry), not a one-frame video of its first."""
    path = tmp_path / "icon.ico"
    big = np.zeros((64, 64, 3), np.uint8)
    big[:, :, 0] = 200
    Image.fromarray(big).save(path, "ICO", sizes=[(16, 16), (64, 64)])
    info = probe(path)
    assert (info.kind, info.width, info.height, info.container) == ("image", 64, 64, "ico")
    image = read_image(path)
    assert image.shape == (64, 64, 3) and image[..., 0].mean() > 190
    assert [f.image.shape for f in iter_frames(path)] == [(64, 64, 3)]
