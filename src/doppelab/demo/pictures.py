"""The demo report's pictures, one or more per stage, as inline PNG data URIs.

Stages (the keys of :attr:`DemoResult.figures`): ``landmarks`` (478 points and the detector's
box on a frame), ``crop`` (aligned crop, soft mask, both together), ``swap`` (source photo, the
real frame and each fake of the same frame), ``detect`` (per-frame timeline of every file,
blend-seam heatmaps of the most suspicious faces) and ``provenance`` (what the invisible
watermark adds to a frame, and the decoder's evidence on every file against its thresholds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from doppelab.core.media import read_image
from doppelab.core.types import Face, ImageU8
from doppelab.detect.predict import MediaResult
from doppelab.detect.report import figure_uri, overlay, png_data_uri, pyplot, timeline_plot
from doppelab.extract.faceset import FaceSet
from doppelab.provenance import watermark

WIDTH = 320  # display width of frame pictures in the report (px)


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """One picture: ``key`` names it uniquely, ``uri`` is a ``data:image/png;base64`` URI."""

    key: str
    caption: str
    uri: str
    width: int = WIDTH


def image_figure(image: ImageU8, key: str, caption: str, width: int = WIDTH) -> Figure:
    return Figure(key=key, caption=caption, uri=png_data_uri(image), width=width)


def from_file(path: Path, key: str, caption: str) -> Figure:
    image = read_image(path)
    return image_figure(image, key, caption, width=min(image.shape[1], 3 * WIDTH))


def middle_face(fs: FaceSet) -> int:
    """Index of the face on the middle frame of the FaceSet's first source."""
    frames = fs.column("frames")["index"]
    return int(np.argmin(np.abs(frames - np.median(frames))))


def landmarks_figure(frame: ImageU8, face: Face) -> Figure:
    """The frame with the detector's box and the 478 tracked landmarks."""
    img = frame.copy()
    b = face.bbox
    cv2.rectangle(img, (round(b.x0), round(b.y0)), (round(b.x1), round(b.y1)), (255, 200, 0), 2)
    for x, y in face.landmarks[:, :2]:
        cv2.circle(img, (round(float(x)), round(float(y))), 1, (0, 255, 80), -1, cv2.LINE_AA)
    return image_figure(img, "landmarks", f"frame {face.source.index}: BlazeFace box (yellow) "
                        f"and the 478 FaceMesh landmarks (green), score {b.score:.2f}")


def crop_figures(face: Face) -> list[Figure]:
    """Aligned crop, its soft mask and the crop seen through the mask."""
    assert face.crop is not None and face.mask is not None
    crop, mask = face.crop, face.mask
    grey = np.repeat((mask * 255).astype(np.uint8)[..., None], 3, axis=2)
    tint = (crop * (0.25 + 0.75 * mask[..., None])).astype(np.uint8)
    q = face.quality
    detail = "" if q is None else f" (yaw {q.yaw:.0f}°, sharpness {q.blur:.0f})"
    size = crop.shape[0]
    return [
        image_figure(crop, "crop", f"aligned {size} px crop{detail}", width=224),
        image_figure(grey, "mask", "soft face mask (hull of the landmarks)", width=224),
        image_figure(tint, "crop_masked", "crop through the mask", width=224),
    ]


def swap_figures(source: Path, frames: dict[str, ImageU8]) -> list[Figure]:
    """The source photo, then the real frame and every fake of the same frame."""
    figs = [image_figure(read_image(source), "source", "source face: Grace Hopper (public domain)",
                         width=WIDTH * 5 // 6)]
    for name, frame in frames.items():
        label = "before: real frame" if name == "real" else f"after: {name.replace('_', ' ')}"
        figs.append(image_figure(frame, f"frame_{name}", label))
    return figs


def timeline_figure(detected: dict[str, MediaResult]) -> Figure | None:
    """Per-frame fused P(fake) of every file on one time axis (detect's own timeline plot)."""
    uri = timeline_plot(detected, dpi=90)
    if uri is None:
        return None
    return Figure(key="timeline", caption="per-frame timeline (most suspicious face per frame)",
                  uri=uri, width=640)


def detect_figures(detected: dict[str, MediaResult]) -> list[Figure]:
    """The timeline and, per file, its most suspicious face with the blend-seam heatmap."""
    timeline = timeline_figure(detected)
    figs = [] if timeline is None else [timeline]
    for name, res in detected.items():
        if not res.suspicious:
            continue
        s = res.suspicious[0]
        figs.append(image_figure(
            overlay(s["crop"], s["heatmap"]), f"heatmap_{name}",
            f"{name}: frame {s['frame']}, P(fake) {s['probability']:.2f}, blend-seam heatmap",
            width=224))
    return figs


def watermark_figure(frame: ImageU8, payload_id: int) -> Figure:
    """What the invisible watermark adds to a frame (luma difference x 25 around grey)."""
    marked = watermark.embed(frame, payload_id)
    diff = marked.astype(np.float32).mean(axis=2) - frame.astype(np.float32).mean(axis=2)
    img = np.clip(128 + 25 * diff, 0, 255).astype(np.uint8)
    return image_figure(np.repeat(img[..., None], 3, axis=2), "watermark_pattern",
                        f"the invisible watermark of payload {payload_id:08x}, amplified 25x "
                        f"(RMS {float(np.sqrt(np.mean(diff ** 2))):.1f} grey levels)")


def evidence_figure(verdicts: dict[str, Any]) -> Figure:
    """The watermark decoder's two tests per file against their thresholds: the pilot's sync
    z-score and the share of coded bits agreeing with the decoded codeword."""
    plt = pyplot()
    names = list(verdicts)
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.4))
    tests = (("sync_score", watermark.Z_MIN, "pilot sync z-score"),
             ("bit_agreement", watermark.AGREE_MIN, "bit agreement"))
    for ax, (field, threshold, title) in zip(axes, tests, strict=True):
        values = [float(verdicts[n]["watermark"][field]) for n in names]
        colours = ["#1b5e20" if v >= threshold else "#9e9e9e" for v in values]
        ax.barh(names, values, color=colours)
        ax.axvline(threshold, color="#b00020", ls="--", lw=1, label=f"threshold {threshold:g}")
        ax.set_title(title, fontsize=10)
        ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return Figure(key="watermark_evidence", caption="watermark decoder per file: a claim needs "
                  "both tests above their thresholds (and a valid CRC)",
                  uri=figure_uri(fig, dpi=90), width=640)


def closeups(frames: dict[str, ImageU8], face: Face, size: int = 192) -> list[Figure]:
    """The face region of the same frame in every file, side by side."""
    b = face.bbox
    cx, cy = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2
    half = 0.8 * max(b.x1 - b.x0, b.y1 - b.y0)
    out = []
    for name, frame in frames.items():
        h, w = frame.shape[:2]
        x0, y0 = max(0, round(cx - half)), max(0, round(cy - half))
        x1, y1 = min(w, round(cx + half)), min(h, round(cy + half))
        crop = cv2.resize(frame[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_CUBIC)
        out.append(image_figure(np.ascontiguousarray(crop), f"closeup_{name}",
                                f"{name.replace('_', ' ')}: close-up", width=size))
    return out


def provenance_figures(
    frames: dict[str, ImageU8], payloads: dict[str, int], verdicts: dict[str, Any]
) -> list[Figure]:
    """The watermark pattern of the first fake and the decoder's evidence on every file."""
    figs = []
    if payloads:
        figs.append(watermark_figure(frames["real"], next(iter(payloads.values()))))
    figs.append(evidence_figure(verdicts))
    return figs
