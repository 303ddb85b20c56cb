"""Media input: probe and decode images, image folders and videos (PyAV + Pillow for images).

Convention: every decoded image is ``(H, W, 3)`` uint8 RGB, C-contiguous and upright (EXIF
orientation for images, the display matrix / ``rotate`` tag for videos). ``MediaInfo.rotation`` is
the clockwise rotation in degrees (0, 90, 180, 270) that was needed to show the stored pixels
upright; ``MediaInfo.width``/``height`` are the upright (display) size. Video timestamps are
seconds from the stream's start, taken from each frame's ``pts * time_base`` (variable frame rate
is honoured). Pixel aspect ratio is ignored (square pixels are assumed).

Every failure is a typed :mod:`doppelab.core.errors` error whose one-line message names the path:

* missing path, directory where a file is expected, no read permission -> ``FileAccessError``
* zero bytes -> ``EmptyFileError``
* not media (text, random bytes, a folder without images, no video stream) -> ``NotMediaError``
* starts like media but is cut off or corrupt -> ``TruncatedMediaError``
* codec without a decoder in the bundled FFmpeg -> ``UnsupportedCodecError``
* ``width * height > max_pixels`` (read from the header, before any decoding)
  -> ``DimensionsTooLargeError``

Truncated videos: a file whose index is missing (an MP4 cut before its ``moov`` box) cannot be
opened and raises ``TruncatedMediaError``. A file whose index survives but whose data is cut short
(or corrupt) is delivered as a clean, shorter stream: :func:`iter_frames` yields every frame that
decodes, then stops and logs a warning. A video with zero decodable frames always raises
``TruncatedMediaError``. In a folder of images, an image that cannot be read is skipped with a
logged warning (its position still counts as an index); a folder where none can be read raises.

The writing side (:func:`write_image`, :class:`VideoWriter`) lives in
:mod:`doppelab.core.media_write` and is re-exported here.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import sys
import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream
from PIL import Image, ImageOps, UnidentifiedImageError

from doppelab.core.errors import (
    DimensionsTooLargeError,
    DoppelabError,
    EmptyFileError,
    FileAccessError,
    InputError,
    NotMediaError,
    TruncatedMediaError,
    UnsupportedCodecError,
    UsageError,
)
from doppelab.core.media_write import VideoWriter, write_image
from doppelab.core.types import AudioInfo, Frame, FrameRef, ImageU8, MediaInfo

__all__ = [
    "DEFAULT_MAX_PIXELS", "IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "VideoWriter", "check_readable",
    "iter_frames", "media_id", "probe", "read_image", "write_image",
]

DEFAULT_MAX_PIXELS = 8192 * 8192  # decompression-bomb guard
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"})

_log = logging.getLogger(__name__)

# EXIF orientation -> clockwise degrees of its rotation part (mirrored variants keep the rotation).
_EXIF_ROTATION = {1: 0, 2: 0, 3: 180, 4: 180, 5: 270, 6: 90, 7: 90, 8: 270}
_EXIF_ORIENTATION_TAG = 0x0112
_SNIFF_BYTES = 512
_STILL_KINDS = frozenset({"jpeg", "png", "webp", "bmp"})  # _sniff names decoded with Pillow
_NOT_IMAGE = "unrecognised image"


# ---------------------------------------------------------------------------------------------
# Paths and ids


def check_readable(path: str | Path) -> None:
    """Raise unless ``path`` is an existing, readable, non-empty regular file.

    Raises:
        FileAccessError: missing, a directory or other non-file, or no read permission.
        EmptyFileError: the file has zero bytes.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise FileAccessError(f"no such file: {p}") from None
    except PermissionError:
        raise FileAccessError(f"permission denied: {p}") from None
    except OSError as exc:
        raise FileAccessError(f"cannot access {p}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise FileAccessError(f"is a directory, expected a file: {p}")
    if not stat.S_ISREG(st.st_mode):
        raise FileAccessError(f"not a regular file: {p}")
    if not os.access(p, os.R_OK):
        raise FileAccessError(f"no read permission: {p}")
    if st.st_size == 0:
        raise EmptyFileError(f"empty file (0 bytes): {p}")


def media_id(path: str | Path) -> str:
    """A stable short id: sha1 of (resolved absolute path, size, mtime_ns), first 16 hex digits.

    The same file gives the same id across runs; editing, replacing or moving it gives a new one.
    """
    p = Path(path)
    try:
        st = p.stat()
        resolved = p.resolve()
    except OSError as exc:
        raise FileAccessError(f"cannot access {p}: {exc.strerror or exc}") from None
    key = os.fsencode(resolved) + f"\0{st.st_size}\0{st.st_mtime_ns}".encode()
    return hashlib.sha1(key, usedforsecurity=False).hexdigest()[:16]


def _sniff(path: Path) -> str | None:
    """Container family from the first bytes, or None when they look like no known media."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return None
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"):
        return "isobmff"
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"WEBP", b"WAVE"):
        return head[8:12].decode().strip().lower()
    signatures = {
        b"\x1a\x45\xdf\xa3": "matroska", b"\xff\xd8\xff": "jpeg", b"\x89PNG\r\n\x1a\n": "png",
        b"GIF87a": "gif", b"GIF89a": "gif", b"FLV\x01": "flv", b"\x00\x00\x01\xba": "mpeg",
        b"OggS": "ogg", b"BM": "bmp",
    }
    for magic, name in signatures.items():
        if head.startswith(magic):
            return name
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpegts"
    return None


def _bad_data(path: Path, detail: str = "") -> InputError:
    """TruncatedMediaError when the file starts like media, NotMediaError otherwise."""
    suffix = f" ({detail})" if detail else ""
    kind = _sniff(path)
    if kind is None:
        return NotMediaError(f"not an image or video{suffix}: {path}")
    if detail == _NOT_IMAGE and kind not in _STILL_KINDS:
        return NotMediaError(f"not an image but {kind} data: {path}")
    return TruncatedMediaError(f"truncated or corrupt {kind} data{suffix}: {path}")


def _map_av_error(exc: Exception, path: Path) -> InputError:
    """Translate a PyAV/OS error raised while reading ``path`` into a typed input error."""
    if isinstance(exc, av.error.DecoderNotFoundError):
        return UnsupportedCodecError(f"no decoder for this codec in the bundled FFmpeg: {path}")
    if isinstance(exc, FileNotFoundError):
        return FileAccessError(f"no such file: {path}")
    if isinstance(exc, PermissionError):
        return FileAccessError(f"permission denied: {path}")
    if isinstance(exc, IsADirectoryError):
        return FileAccessError(f"is a directory, expected a file: {path}")
    if isinstance(exc, MemoryError):
        return DimensionsTooLargeError(f"out of memory while decoding: {path}")
    return _bad_data(path)


def _check_pixels(width: int, height: int, max_pixels: int, path: Path) -> None:
    if width * height > max_pixels:
        raise DimensionsTooLargeError(
            f"{width}x{height} = {width * height} pixels is over the limit of {max_pixels}: {path}"
        )


# ---------------------------------------------------------------------------------------------
# Images (Pillow: lazy header read, EXIF orientation, 16-bit and palette modes)


def _open_image(path: Path, max_pixels: int) -> Image.Image:
    """Open an image reading only its header, after the size guard."""
    check_readable(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise DimensionsTooLargeError(f"{exc}: {path}") from None
    except UnidentifiedImageError:
        raise _bad_data(path, _NOT_IMAGE) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _map_av_error(exc, path) from None
    width, height = image.size
    try:
        _check_pixels(width, height, max_pixels, path)
    except DimensionsTooLargeError:
        image.close()
        raise
    return image


def _exif_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # a malformed EXIF block must not make a good image unreadable
        return 1
    return value if isinstance(value, int) and value in _EXIF_ROTATION else 1


def _to_rgb_u8(image: Image.Image) -> ImageU8:
    """Any Pillow mode -> ``(H, W, 3)`` uint8 RGB (16-bit scaled to 8, alpha dropped)."""
    if image.mode.startswith("I;16") or image.mode == "I":
        wide = np.asarray(image).astype(np.int64)
        shift = 8 if image.mode != "I" or int(wide.max(initial=0)) > 255 else 0
        gray = np.clip(wide >> shift, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def read_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageU8:
    """Decode one image file (JPEG, PNG, WebP, BMP, ...) upright.

    Shape: ``(H, W, 3)`` uint8 RGB after the EXIF orientation is applied; grayscale, palette and
    16-bit inputs are converted, an alpha channel is dropped.

    Raises:
        FileAccessError, EmptyFileError, NotMediaError, TruncatedMediaError,
        DimensionsTooLargeError: see the module docstring.
    """
    p = Path(path)
    with _open_image(p, max_pixels) as image:
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
            return _to_rgb_u8(upright)
        except DoppelabError:
            raise
        except MemoryError:
            raise DimensionsTooLargeError(f"out of memory while decoding: {p}") from None
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, zlib.error...
            raise TruncatedMediaError(f"truncated or corrupt image ({exc}): {p}") from None


def _probe_image(path: Path, max_pixels: int) -> MediaInfo:
    with _open_image(path, max_pixels) as image:
        width, height = image.size
        rotation = _EXIF_ROTATION[_exif_orientation(image)]
        fmt = (image.format or "").lower() or None
    if rotation in (90, 270):
        width, height = height, width
    return MediaInfo(path=path, kind="image", width=width, height=height, frames=1,
                     container=fmt, rotation=rotation)


def _folder_images(folder: Path) -> list[Path]:
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise FileAccessError(f"cannot list folder {folder}: {exc.strerror or exc}") from None
    images = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES
              and not p.name.startswith(".") and p.is_file()]
    if not images:
        raise NotMediaError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder: {folder}")
    return sorted(images, key=lambda p: p.name)


def _probe_folder(folder: Path, max_pixels: int) -> MediaInfo:
    """Size of the first readable image; ``frames`` counts every image file."""
    files = _folder_images(folder)
    errors: list[InputError] = []
    for file in files:
        try:
            first = _probe_image(file, max_pixels)
        except InputError as exc:
            errors.append(exc)
            continue
        return MediaInfo(path=folder, kind="image", width=first.width, height=first.height,
                         frames=len(files), container="folder")
    raise errors[0]


def _iter_folder(
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


# ---------------------------------------------------------------------------------------------
# Videos (PyAV)


def _open_video(path: Path) -> InputContainer:
    check_readable(path)
    try:
        return av.open(str(path), "r", metadata_errors="replace")
    except (av.FFmpegError, OSError, UnicodeError, ValueError) as exc:
        raise _map_av_error(exc, path) from None


def _video_stream(container: InputContainer, path: Path, max_pixels: int) -> VideoStream:
    """The first real video stream (cover-art pictures skipped), checked before decoding."""
    streams = [s for s in container.streams.video
               if not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        raise NotMediaError(f"no video stream: {path}")
    stream = streams[0]
    try:
        ctx = stream.codec_context
    except Exception:
        ctx = None
    if ctx is None:
        raise UnsupportedCodecError(f"no decoder for the video codec in the bundled FFmpeg: {path}")
    if ctx.width <= 0 or ctx.height <= 0:
        raise _bad_data(path, "no frame size in the header")
    _check_pixels(ctx.width, ctx.height, max_pixels, path)
    return stream


def _quarter_turns(frame: VideoFrame, stream: VideoStream) -> int:
    """Counter-clockwise quarter turns (np.rot90's k) that make ``frame`` upright."""
    ccw = getattr(frame, "rotation", 0) or 0  # display matrix (PyAV >= 14), counter-clockwise
    if not ccw:
        try:
            ccw = -int(float(stream.metadata.get("rotate", "0")))  # legacy tag: clockwise
        except ValueError:
            ccw = 0
    return round(float(ccw) / 90.0) % 4


class _ArrayPool:
    """Output arrays recycled once the caller has dropped every reference to them.

    Each decoded frame otherwise lands in freshly mapped memory, and the page faults cost about
    a third of the decode time at 512x512; one copy into a warm, unreferenced array is cheaper.
    An array still referenced anywhere (a Frame, a view, a tensor) is never reused (CPython
    reference counts; the 3 below are the pool's list, the loop variable and getrefcount's own).
    """

    def __init__(self, size: int = 3) -> None:
        self.size = size
        self.arrays: list[ImageU8] = []

    def upright_copy(self, image: ImageU8, turns: int) -> ImageU8:
        """``image`` rotated by ``turns`` counter-clockwise quarter turns, in a pooled array."""
        view = np.rot90(image, turns) if turns else image
        out = next((a for a in self.arrays if a.shape == view.shape and sys.getrefcount(a) <= 3),
                   None)
        if out is None:
            out = np.empty(view.shape, np.uint8)
            if len(self.arrays) < self.size:
                self.arrays.append(out)
        np.copyto(out, view)
        return out


def _decode_first(container: InputContainer, stream: VideoStream, path: Path) -> VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise _decode_error(exc, path) from None
    raise TruncatedMediaError(f"no decodable video frames: {path}")


def _decode_error(exc: Exception, path: Path) -> InputError:
    """A stream that opened but fails to decode its first frame is corrupt (or unsupported)."""
    if isinstance(exc, (av.error.DecoderNotFoundError, OSError, MemoryError)):
        return _map_av_error(exc, path)
    return TruncatedMediaError(f"no decodable video frames ({exc}): {path}")


def _stream_duration(container: InputContainer, stream: VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _audio_info(container: InputContainer) -> AudioInfo | None:
    if not container.streams.audio:
        return None
    audio = container.streams.audio[0]
    try:
        ctx = audio.codec_context
        codec, rate, channels = ctx.name, ctx.sample_rate, ctx.channels
    except Exception:  # no decoder: still report that there is audio
        codec, rate, channels = "unknown", 0, 0
    return AudioInfo(codec=codec, sample_rate=rate, channels=channels)


def _probe_video(path: Path, max_pixels: int) -> MediaInfo:
    with _open_video(path) as container:
        stream = _video_stream(container, path, max_pixels)
        first = _decode_first(container, stream, path)
        turns = _quarter_turns(first, stream)
        width, height = stream.codec_context.width, stream.codec_context.height
        if turns % 2:
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate
        return MediaInfo(
            path=path, kind="video", width=width, height=height, fps=float(rate) if rate else None,
            frames=stream.frames or None, duration=_stream_duration(container, stream),
            video_codec=stream.codec_context.name, container=container.format.name,
            rotation=(360 - 90 * turns) % 360, audio=_audio_info(container),
        )


def _iter_video(
    container: InputContainer, stream: VideoStream, path: Path, every: int, start: int
) -> Iterator[Frame]:
    mid = media_id(path)
    time_base = stream.time_base or Fraction(1, 90_000)
    origin = stream.start_time or 0
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    expected = stream.frames
    reformatter = VideoReformatter()  # reused: keeps one swscale context for the whole clip
    pool = _ArrayPool()
    turns: int | None = None
    index = 0
    timestamp = 0.0
    with container:
        frames = container.decode(stream)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except (av.FFmpegError, OSError, ValueError) as exc:
                if index == 0:
                    raise _decode_error(exc, path) from None
                _log.warning("%s: stopped after %d decodable frames (%s)", path, index, exc)
                break
            if turns is None:
                turns = _quarter_turns(frame, stream)
            if frame.pts is not None:
                timestamp = float((frame.pts - origin) * time_base)
            elif index:
                timestamp += float(1 / rate)
            if index >= start and index % every == 0:
                rgb = cast(ImageU8, reformatter.reformat(frame, format="rgb24").to_ndarray())
                image = pool.upright_copy(rgb, turns)
                del rgb  # its buffer goes straight back to the allocator, still warm
                yield Frame(ref=FrameRef(media_id=mid, index=index, timestamp=timestamp),
                            image=image)
            index += 1
    if index == 0:
        raise TruncatedMediaError(f"no decodable video frames: {path}")
    if expected and index < expected:
        _log.warning("%s: the header lists %d frames, %d decoded (cut short?)",
                     path, expected, index)


# ---------------------------------------------------------------------------------------------
# Public entry points


def _is_image_path(path: Path) -> bool:
    """By content when the first bytes tell (a misnamed file still works), else by suffix."""
    kind = _sniff(path) if path.is_file() else None
    if kind is not None:
        return kind in _STILL_KINDS
    return path.suffix.lower() in IMAGE_SUFFIXES


def probe(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> MediaInfo:
    """Describe an image, an image folder or a video without decoding it all.

    Images: header only (size, EXIF orientation). Videos: container and stream headers plus the
    first frame (which proves the stream decodes and gives the rotation). A folder is reported as
    ``kind="image"`` with the first image's size and ``frames`` = the number of images.

    Raises:
        FileAccessError, EmptyFileError, NotMediaError, TruncatedMediaError,
        UnsupportedCodecError, DimensionsTooLargeError: see the module docstring.
    """
    p = Path(path)
    if p.is_dir():
        return _probe_folder(p, max_pixels)
    if _is_image_path(p):
        return _probe_image(p, max_pixels)
    return _probe_video(p, max_pixels)


def iter_frames(
    path: str | Path,
    *,
    every: int = 1,
    start: int = 0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    threads: int = 0,
) -> Iterator[Frame]:
    """Decode an image, a folder of images or a video into upright RGB frames.

    Indices count every frame (video: decode order; folder: position in the name-sorted list of
    images), so ``every`` keeps indices with ``index % every == 0`` and ``start`` skips indices
    below it, which keeps a resumed run on the same frames. Timestamps are seconds (video:
    ``pts * time_base`` from the stream start; folder: the position; single image: 0).
    ``threads`` is the decoder thread count (0 = FFmpeg's choice).

    The path is opened and checked here (errors are raised by this call); decoding errors are
    raised while iterating. Shape: each ``Frame.image`` is ``(H, W, 3)`` uint8 RGB, the caller's
    to keep; a video frame's array is recycled for a later frame only once nothing references it.
    """
    if every < 1 or start < 0 or threads < 0:
        raise UsageError(f"need every >= 1, start >= 0, threads >= 0 (got {every}, {start}, "
                         f"{threads})")
    p = Path(path)
    if p.is_dir():
        return _iter_folder(p, _folder_images(p), every, start, max_pixels)
    if _is_image_path(p):
        image = read_image(p, max_pixels=max_pixels)
        frames = [Frame(ref=FrameRef(media_id=media_id(p), index=0, timestamp=0.0), image=image)]
        return iter(frames if start == 0 else [])
    container = _open_video(p)
    try:
        stream = _video_stream(container, p, max_pixels)
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
    except BaseException:
        container.close()
        raise
    return _iter_video(container, stream, p, every, start)
