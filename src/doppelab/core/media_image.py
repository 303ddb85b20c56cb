"""Image input: single images (Pillow: lazy header read, EXIF orientation, 16-bit and palette
modes) and folders of images.

Convention and errors as in :mod:`doppelab.core.media`, which is the public way in (it
re-exports :func:`read_image`).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from doppelab.core.errors import (
    DimensionsTooLargeError,
    DoppelabError,
    FileAccessError,
    InputError,
    NotMediaError,
    TruncatedMediaError,
)
from doppelab.core.media_check import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    NOT_IMAGE,
    bad_data,
    check_pixels,
    check_readable,
    map_av_error,
    media_id,
    sniff,
)
from doppelab.core.types import Frame, FrameRef, ImageU8, MediaInfo

__all__ = ["folder_images", "iter_folder", "probe_folder", "probe_image", "read_image"]

_log = logging.getLogger(__name__)

# EXIF orientation -> clockwise degrees of its rotation part (mirrored variants keep the rotation).
_EXIF_ROTATION = {1: 0, 2: 0, 3: 180, 4: 180, 5: 270, 6: 90, 7: 90, 8: 270}
_EXIF_ORIENTATION_TAG = 0x0112


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Pillow reports damage it works around (corrupt EXIF, large sizes) as Python warnings;
    the outcome is what counts here (a decoded image or a typed error), not a stderr line."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class _ForFFmpeg(Exception):
    """A JPEG that Pillow does not know (lossless SOF3, arithmetic coding...): FFmpeg's decoder
    reads more kinds of JPEG."""


def _open_image(path: Path, max_pixels: int) -> Image.Image:
    """Open an image reading only its header, after the size guard.

    Raises:
        _ForFFmpeg: a file that starts like a JPEG but that Pillow cannot identify.
    """
    check_readable(path)
    try:
        with _quiet():
            image = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise DimensionsTooLargeError(f"{exc}: {path}") from None
    except UnidentifiedImageError:
        if sniff(path) == "jpeg":
            raise _ForFFmpeg from None
        raise bad_data(path, NOT_IMAGE) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise map_av_error(exc, path) from None
    width, height = image.size
    try:
        check_pixels(width, height, max_pixels, path)
    except DimensionsTooLargeError:
        image.close()
        raise
    return image


def _exif_orientation(image: Image.Image) -> int:
    try:
        with _quiet():
            value = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # a malformed EXIF block must not make a good image unreadable
        return 1
    return value if isinstance(value, int) and value in _EXIF_ROTATION else 1


def _to_rgb_u8(image: Image.Image) -> ImageU8:
    """Any Pillow mode -> ``(H, W, 3)`` uint8 RGB (16-bit scaled to 8, float 0..1 to 0..255,
    alpha dropped)."""
    if image.mode.startswith("I;16") or image.mode == "I":
        wide = np.asarray(image).astype(np.int64)
        shift = 8 if image.mode != "I" or int(wide.max(initial=0)) > 255 else 0
        gray = np.clip(wide >> shift, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if image.mode == "F":  # float samples: 0..1 by convention, 0..255 when larger values show
        values = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=0.0,
                               neginf=0.0)
        scale = 255.0 if float(values.max(initial=0.0)) <= 1.0 else 1.0
        gray = np.clip(values * scale + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def _upright(image: Image.Image) -> Image.Image:
    """``image`` turned by its EXIF orientation; as stored when the EXIF block is malformed.

    Upright images are returned as they are: ``exif_transpose`` would copy them (a second
    full-size buffer, 256 MB for 8000 x 8000).
    """
    if _exif_orientation(image) == 1:
        return image
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a malformed EXIF block must not make a good image unreadable
        return image


def read_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageU8:
    """Decode one image file (JPEG, PNG, WebP, BMP, ...) upright.

    Shape: ``(H, W, 3)`` uint8 RGB after the EXIF orientation is applied; grayscale, palette and
    16-bit inputs are converted, an alpha channel is dropped.

    Raises:
        FileAccessError, EmptyFileError, NotMediaError, TruncatedMediaError,
        DimensionsTooLargeError: see the module docstring.
    """
    p = Path(path)
    try:
        opened = _open_image(p, max_pixels)
    except _ForFFmpeg:
        return _ffmpeg_still(p, max_pixels)
    with opened as image:
        try:
            with _quiet():
                image.load()
                return _to_rgb_u8(_upright(image))
        except DoppelabError:
            raise
        except MemoryError:
            raise DimensionsTooLargeError(f"out of memory while decoding: {p}") from None
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, zlib.error...
            raise TruncatedMediaError(f"truncated or corrupt image ({exc}): {p}") from None


def _ffmpeg_still(path: Path, max_pixels: int) -> ImageU8:
    """The picture of a JPEG Pillow cannot read, decoded by FFmpeg (errors as for videos)."""
    from doppelab.core.media_video import open_video, video_stream

    with open_video(path) as container:
        stream = video_stream(container, path, max_pixels)
        try:
            frame = next(iter(container.decode(stream)))
            return np.ascontiguousarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
        except StopIteration:
            raise TruncatedMediaError(f"truncated or corrupt jpeg data: {path}") from None
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise map_av_error(exc, path) from None


def probe_image(path: Path, max_pixels: int) -> MediaInfo:
    try:
        opened = _open_image(path, max_pixels)
    except _ForFFmpeg:
        height, width = _ffmpeg_still(path, max_pixels).shape[:2]
        return MediaInfo(path=path, kind="image", width=width, height=height, frames=1,
                         container="jpeg", rotation=0)
    with opened as image:
        width, height = image.size
        rotation = _EXIF_ROTATION[_exif_orientation(image)]
        fmt = (image.format or "").lower() or None
    if rotation in (90, 270):
        width, height = height, width
    return MediaInfo(path=path, kind="image", width=width, height=height, frames=1,
                     container=fmt, rotation=rotation)


def folder_images(folder: Path) -> list[Path]:
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise FileAccessError(f"cannot list folder {folder}: {exc.strerror or exc}") from None
    images = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES
              and not p.name.startswith(".") and p.is_file()]
    if not images:
        raise NotMediaError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder: {folder}")
    return sorted(images, key=lambda p: p.name)


def probe_folder(folder: Path, max_pixels: int) -> MediaInfo:
    """Size of the first readable image; ``frames`` counts every image file."""
    files = folder_images(folder)
    errors: list[InputError] = []
    for file in files:
        try:
            first = probe_image(file, max_pixels)
        except InputError as exc:
            errors.append(exc)
            continue
        return MediaInfo(path=folder, kind="image", width=first.width, height=first.height,
                         frames=len(files), container="folder")
    raise errors[0]


def iter_folder(
    folder: Path, files: list[Path], every: int, start: int, max_pixels: int
) -> Iterator[Frame]:
    mid = media_id(folder)
    first_error: InputError | None = None
    delivered = 0
    for position, file in enumerate(files):
        if position < start or position % every:
            continue
        try:
            image = read_image(file, max_pixels=max_pixels)
        except InputError as exc:
            _log.warning("skipping unreadable image in folder: %s", exc)
            first_error = first_error or exc
            continue
        delivered += 1
        yield Frame(ref=FrameRef(media_id=mid, index=position, timestamp=float(position)),
                    image=image)
    if delivered == 0 and first_error is not None:
        raise first_error
