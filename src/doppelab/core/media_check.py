"""Checks shared by the image and video readers: paths, ids, sniffing, typed error mapping.

Every error raised or returned here is a :mod:`doppelab.core.errors` input error whose one-line
message names the path; :mod:`doppelab.core.media` (the public entry points) says which error
means what, and re-exports :func:`check_readable`, :func:`media_id` and the constants.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import av

from doppelab.core.errors import (
    DimensionsTooLargeError,
    EmptyFileError,
    FileAccessError,
    InputError,
    NotMediaError,
    TruncatedMediaError,
    UnsupportedCodecError,
)
from doppelab.core.storage import name_problem, read_regular

__all__ = [
    "AUDIO_SUFFIXES", "DEFAULT_MAX_PIXELS", "IMAGE_SUFFIXES", "MAX_SIDE", "NOT_IMAGE",
    "STILL_KINDS", "VIDEO_SUFFIXES", "bad_data", "check_name", "check_pixels", "check_readable",
    "check_side", "map_av_error", "media_id", "sniff",
]

DEFAULT_MAX_PIXELS = 8192 * 8192  # decompression-bomb guard
# OpenCV's warps (and MediaPipe's graphs, which abort the process) assert every side < 32767
# (SHRT_MAX): a 256x65791 GIF (fuzz round 6) is within DEFAULT_MAX_PIXELS but not this.
MAX_SIDE = 32_766
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus"})
_SNIFF_BYTES = 512
# sniff names decoded with Pillow (an icon through Pillow is its largest image; FFmpeg would
# decode the first one, often 16 or 32 px)
STILL_KINDS = frozenset({"jpeg", "png", "webp", "bmp", "ico"})
NOT_IMAGE = "unrecognised image"


def check_name(path: str | Path) -> None:
    """Raise :class:`FileAccessError` when the OS cannot hold ``path`` at all (a name over 255
    bytes): ``Path.is_dir()`` and friends raise ``OSError`` on it instead of answering."""
    problem = name_problem(path)
    if problem:
        raise FileAccessError(f"cannot access {os.fsdecode(path)}: {problem}")


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


def sniff(path: Path) -> str | None:
    """Container family from the first bytes, or None when they look like no known media.

    Only a regular file is read: the path is opened without blocking and anything else (a FIFO,
    whose plain ``open`` waits for a writer forever, a device, a socket) gives None, so callers
    that sniff before :func:`check_readable` never hang."""
    try:
        head = read_regular(path, _SNIFF_BYTES)
    except OSError:
        return None
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"):
        return "isobmff"
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"WEBP", b"WAVE"):
        return head[8:12].decode().strip().lower()
    signatures = {
        b"\x1a\x45\xdf\xa3": "matroska", b"\xff\xd8\xff": "jpeg", b"\x89PNG\r\n\x1a\n": "png",
        b"GIF87a": "gif", b"GIF89a": "gif", b"FLV\x01": "flv", b"\x00\x00\x01\xba": "mpeg",
        b"OggS": "ogg", b"BM": "bmp", b"II*\x00": "tiff", b"MM\x00*": "tiff",
    }
    for magic, name in signatures.items():
        if head.startswith(magic):
            return name
    if head[:4] == b"\x00\x00\x01\x00" and len(head) >= 22 and head[4:6] != b"\x00\x00" \
            and head[9] == 0:  # ICO: reserved 0, type 1, image count, first entry's reserved 0
        return "ico"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpegts"
    return None


def bad_data(path: Path, detail: str = "") -> InputError:
    """TruncatedMediaError when the file starts like media, NotMediaError otherwise."""
    suffix = f" ({detail})" if detail else ""
    kind = sniff(path)
    if kind is None:
        return NotMediaError(f"not an image or video{suffix}: {path}")
    if detail == NOT_IMAGE and kind not in STILL_KINDS:
        return NotMediaError(f"not an image but {kind} data: {path}")
    return TruncatedMediaError(f"truncated or corrupt {kind} data{suffix}: {path}")


def map_av_error(exc: Exception, path: Path) -> InputError:
    """Translate a PyAV/OS error raised while reading ``path`` into a typed input error."""
    if isinstance(exc, av.error.DecoderNotFoundError):
        return UnsupportedCodecError(f"no decoder for this codec in the bundled FFmpeg: {path}")
    if isinstance(exc, FileNotFoundError):
        return FileAccessError(f"no such file: {path}")
    if isinstance(exc, PermissionError) and not os.access(path, os.R_OK):
        return FileAccessError(f"permission denied: {path}")
    # A readable file FFmpeg answers EPERM for names other files it will not open (an
    # ``ffconcat`` list with absolute paths): bad data, not a permission problem.
    if isinstance(exc, IsADirectoryError):
        return FileAccessError(f"is a directory, expected a file: {path}")
    if isinstance(exc, MemoryError):
        return DimensionsTooLargeError(f"out of memory while decoding: {path}")
    return bad_data(path)


def check_pixels(width: int, height: int, max_pixels: int, path: Path) -> None:
    """Raise :class:`DimensionsTooLargeError` for a picture over ``max_pixels`` or with a side
    over :data:`MAX_SIDE`."""
    if width * height > max_pixels:
        raise DimensionsTooLargeError(
            f"{width}x{height} = {width * height} pixels is over the limit of {max_pixels}: {path}"
        )
    check_side(width, height, path)


def check_side(width: int, height: int, what: str | Path) -> None:
    """Raise :class:`DimensionsTooLargeError` when a side of a ``width`` x ``height`` picture is
    over :data:`MAX_SIDE` (``what`` names it in the message)."""
    if max(width, height) > MAX_SIDE:
        raise DimensionsTooLargeError(
            f"{width}x{height}: a side over {MAX_SIDE} px, the most OpenCV and MediaPipe take: "
            f"{what}")
