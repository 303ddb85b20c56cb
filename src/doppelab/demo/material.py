"""Built-in material for the demo: two public-domain portraits that ship inside dependencies.

* **target**: NASA's portrait of astronaut Eileen Collins (``skimage.data.astronaut()``,
  scikit-image; public domain, a work of NASA).
* **source**: the U.S. Navy's 1984 portrait of Commodore Grace M. Hopper
  (``matplotlib/mpl-data/sample_data/grace_hopper.jpg``, shipped with every matplotlib wheel;
  public domain, a work of the U.S. federal government).

Both show one adult. Nothing is downloaded: both files are already installed with doppelab's
dependencies. The demo turns each photo into a short moving clip (slow zoom, sway and tilt), so
that tracking, temporal smoothing and the temporal detector have motion to work on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from doppelab.core.media import VideoWriter, read_image
from doppelab.core.types import ImageU8


@dataclass(frozen=True, slots=True, kw_only=True)
class Portrait:
    """One built-in photo and where it comes from."""

    name: str
    person: str
    credit: str
    licence: str
    path: Path | None  # the installed file (None when generated in memory)


ASTRONAUT = Portrait(
    name="astronaut",
    person="Eileen Collins, NASA astronaut",
    credit="NASA, via scikit-image (skimage.data.astronaut)",
    licence="public domain (work of NASA)",
    path=None,
)


def hopper_path() -> Path:
    """The Grace Hopper portrait installed with matplotlib (raises if matplotlib lacks it)."""
    from matplotlib import cbook

    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def hopper() -> Portrait:
    return Portrait(
        name="hopper",
        person="Grace M. Hopper, U.S. Navy computer scientist",
        credit="U.S. Navy (James S. Davis, 1984), via matplotlib's sample data",
        licence="public domain (work of the U.S. federal government)",
        path=hopper_path(),
    )


def astronaut_image() -> ImageU8:
    """The astronaut photo, 512x512 RGB."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())  # type: ignore[no-untyped-call]


def hopper_image(size: int = 512) -> ImageU8:
    """The Hopper photo (512x600) cut to its upper ``size`` square, where the face is."""
    image = read_image(hopper_path())
    side = min(image.shape[:2])
    return np.ascontiguousarray(cv2.resize(image[:side, :side], (size, size)))


def make_clip(
    photo: ImageU8, path: Path, *, seconds: float = 3.0, fps: int = 25, size: int = 512
) -> Path:
    """A head-and-shoulders clip of ``photo``: slow zoom, sway and tilt, H.264 MP4.

    Shape: ``photo`` is ``(H, W, 3)`` uint8 RGB; the clip is ``size x size``.
    """
    image = cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)
    with VideoWriter(path, fps=fps, width=size, height=size) as writer:
        for i in range(max(1, round(seconds * fps))):
            t = i / fps
            m = cv2.getRotationMatrix2D((size / 2, size / 3), 4 * np.sin(1.3 * t), 1 + 0.04 * t)
            m[:, 2] = m[:, 2] + (12 * np.sin(0.9 * t), 6 * np.cos(1.1 * t))
            frame = cv2.warpAffine(image, m, (size, size), borderMode=cv2.BORDER_REFLECT101)
            writer.write(np.ascontiguousarray(frame), timestamp=t)
    return path
