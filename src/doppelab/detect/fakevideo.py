"""Self-blended pseudo-fake videos: a video whose every face is self-blended and pasted back.

Used to measure the detector at video level on people it never saw (``bench/detect.py`` on the
``dev`` clips) without swapping anyone's identity. Each face is aligned as ``detect`` aligns it
(:func:`~doppelab.detect.data.align_face`), blended with a transformed copy of itself
(:func:`~doppelab.detect.selfblend.self_blend`, target kept as the original so the change stays
inside the mask) with the *same* random draws on every frame (a stable "swap" whose mask follows
the landmarks), and pasted back through the exact inverse of its alignment. The real control is
the same clip re-encoded by the same writer, so codec and re-encoding are no cue.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from doppelab.core.geometry import paste_back
from doppelab.core.media import iter_frames, probe
from doppelab.core.media_write import VideoWriter
from doppelab.core.types import ImageU8
from doppelab.detect.data import align_face
from doppelab.detect.selfblend import BlendConfig, self_blend
from doppelab.extract.landmarks import FaceTracker, TrackerConfig


def _blend_frame(image: ImageU8, tracker: FaceTracker, seed: int, cfg: BlendConfig) -> ImageU8:
    out = image
    for face in tracker.process(image):
        crop, m, lm = align_face(image, face.landmarks)
        sample = self_blend(crop, lm, np.random.default_rng(seed + face.track_id), cfg)
        out = paste_back(out, sample.image, sample.mask, m)
    return out


def write_video(
    src: str | Path, dst: str | Path, *, seed: int | None = 0, cfg: BlendConfig | None = None
) -> Path:
    """Write ``dst``: ``src`` with every face self-blended (``seed``), or re-encoded unchanged
    when ``seed`` is None (the real control). Width and height are cropped to even numbers."""
    info = probe(src)
    blend_cfg = replace(cfg or BlendConfig(), p_swap=0.0)
    w, h = info.width - info.width % 2, info.height - info.height % 2
    with (
        FaceTracker(TrackerConfig(max_faces=2)) as tracker,
        VideoWriter(dst, fps=info.fps or 25.0, width=w, height=h) as writer,
    ):
        for frame in iter_frames(src):
            img = frame.image
            if seed is not None:
                img = _blend_frame(img, tracker, seed, blend_cfg)
            writer.write(np.ascontiguousarray(img[:h, :w]), frame.ref.timestamp)
    return Path(dst)
