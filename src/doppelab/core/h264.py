"""An image through H.264 and back, as a frame of a compressed video would be.

Training augmentations use it so that a detector sees video-codec damage (4x4/8x8 integer
transforms, the deblocking filter, 4:2:0 chroma, motion-compensated prediction) and not only
JPEG's. :func:`h264_roundtrip` codes two frames with libx264 (the encoder PyAV's wheels carry):
the image moved by a sub-pixel ``shift``, then the image itself, and returns the second frame as
decoded. The second frame is predicted from the first (a P-frame), as most frames of a video are,
so it carries inter-frame residual damage at x264's usual P-frame quality for the CRF.

Convention: ``(H, W, 3)`` uint8 RGB in and out; odd sizes are padded by edge replication for the
4:2:0 chroma planes and cropped back.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av
import cv2
import numpy as np

from doppelab.core.errors import UsageError
from doppelab.core.types import ImageU8

MIN_SIDE = 16


def h264_roundtrip(
    image: ImageU8,
    crf: int,
    shift: tuple[float, float] = (0.0, 0.0),
    preset: str = "medium",
) -> ImageU8:
    """``image`` coded as the P-frame of a two-frame H.264 stream at ``crf`` and decoded."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UsageError(
            f"h264_roundtrip takes (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    if not 0 <= crf <= 51:
        raise UsageError(f"CRF must be in 0..51, got {crf}")
    h, w = image.shape[:2]
    ph, pw = max(MIN_SIDE, h + h % 2), max(MIN_SIDE, w + w % 2)
    frame = np.pad(image, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    move = np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float32)
    first: Any = cv2.warpAffine(frame, move, (pw, ph), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT)
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = pw, ph, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.options = {"crf": str(int(crf)), "preset": preset, "bframes": "0", "threads": "1"}
    packets = []
    for pts, img in enumerate((first, frame)):
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        vf.pts = pts
        packets += enc.encode(vf)
    packets += enc.encode(None)
    dec = av.CodecContext.create("h264", "r")
    decoded = [f for p in packets for f in dec.decode(p)] + list(dec.decode(None))
    if len(decoded) != 2:
        raise RuntimeError(f"libx264 round trip gave {len(decoded)} frames, expected 2")
    out = decoded[-1].to_ndarray(format="rgb24")
    return np.ascontiguousarray(out[:h, :w])
