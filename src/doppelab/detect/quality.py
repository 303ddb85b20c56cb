"""Conditions under which the face detectors are known to drift: small and compressed faces.

Measured by ``bench/detect_robust.py`` (docs/detect.md, "Compression and size"): at full size
the video AUC and the false alarms held down to CRF 40 (0.008 bits per pixel), but with faces
of about 134 px the false alarms on real dev videos rose from 3 to 4-5 of 8 as the bit rate fell
below about 0.05 bits per pixel, and with faces of 67 px to 5 of 8 even at CRF 23. A verdict on
such a video keeps its probability; it gets a caveat, so that a "likely fake" there is read
with that drift in mind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from doppelab.core.types import MediaInfo

SMALL_FACE_PX = 100.0  # median face width below which the drift was seen at any bit rate
COMPRESSED_FACE_PX = 150.0  # ... and below which it was seen once the video was compressed
LOW_BITS_PER_PIXEL = 0.05


def bits_per_pixel(path: str | Path, info: MediaInfo) -> float | None:
    """The file's mean bits per pixel and frame (audio included; None when not a video or its
    size, duration or rate is unknown)."""
    if info.kind != "video" or not info.duration or not info.fps or Path(path).is_dir():
        return None
    pixels = float(info.width) * float(info.height) * float(info.fps) * float(info.duration)
    if pixels <= 0:
        return None
    return Path(path).stat().st_size * 8.0 / pixels


def assess(face_widths: list[float], bpp: float | None) -> tuple[dict[str, float], list[str]]:
    """Quality facts (median face width in px, bits per pixel) and the caveats they call for."""
    quality: dict[str, float] = {}
    notes: list[str] = []
    if bpp is not None:
        quality["bits_per_pixel"] = round(bpp, 4)
    if not face_widths:
        return quality, notes
    face = float(np.median(face_widths))
    quality["face_px"] = round(face, 1)
    if face < SMALL_FACE_PX:
        notes.append(f"small faces (median {face:.0f} px wide): real faces this small drift "
                     "towards 'fake' (measured: 5 of 8 real dev videos over 0.5 at 67 px)")
    elif face < COMPRESSED_FACE_PX and bpp is not None and bpp < LOW_BITS_PER_PIXEL:
        notes.append(f"small, strongly compressed faces (median {face:.0f} px wide, "
                     f"{bpp:.3f} bits per pixel): real faces like these drift towards 'fake' "
                     "(measured: 4-5 of 8 real dev videos over 0.5 at 134 px, against 3 "
                     "uncompressed)")
    return quality, notes
