"""Contact sheet and statistics of a FaceSet (``doppelab faces``)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from doppelab.core.types import ImageU8
from doppelab.extract.faceset import QUALITY_FIELDS, FaceSet


def stats(fs: FaceSet) -> dict[str, Any]:
    """Counts, per-person and per-source numbers and quality percentiles (JSON-ready)."""
    q = fs.column("quality")
    people, counts = np.unique(fs.people, return_counts=True)
    quality = (
        {
            f: {
                "p5": float(np.percentile(q[f], 5)),
                "median": float(np.median(q[f])),
                "p95": float(np.percentile(q[f], 95)),
            }
            for f in QUALITY_FIELDS
        }
        if len(fs)
        else {}
    )
    return {
        "path": str(fs.root),
        "faces": len(fs),
        "size": fs.size,
        "people": {int(p): int(c) for p, c in zip(people, counts, strict=True)},
        "tracks": fs.meta.get("tracks"),
        "sources": [
            {k: s[k] for k in ("path", "kind", "frames", "frames_with_face", "faces")}
            for s in fs.meta.get("sources", [])
        ],
        "quality": quality,
    }


def contact_sheet(fs: FaceSet, *, max_faces: int = 64, tile: int = 96, columns: int = 8) -> ImageU8:
    """A grid of faces spread evenly over each person, labelled ``p<person> #<index>``.

    Shape: returns ``(rows * (tile + 14), columns * tile, 3)`` uint8 RGB.
    """
    n = len(fs)
    if n == 0:
        return np.zeros((tile, tile * columns, 3), np.uint8)
    picks: list[int] = []
    persons = np.unique(fs.people)
    per = max(1, max_faces // len(persons))
    for p in persons:
        idx = np.flatnonzero(fs.people == p)
        picks.extend(idx[np.linspace(0, len(idx) - 1, min(per, len(idx))).round().astype(int)])
    picks = sorted(set(picks))[:max_faces]
    batch = fs.batch(picks)
    label_h = 14
    rows = (len(picks) + columns - 1) // columns
    sheet = np.full((rows * (tile + label_h), columns * tile, 3), 24, np.uint8)
    for k, (i, crop) in enumerate(zip(picks, batch["crops"], strict=True)):
        r, c = divmod(k, columns)
        y, x = r * (tile + label_h), c * tile
        sheet[y : y + tile, x : x + tile] = cv2.resize(
            crop, (tile, tile), interpolation=cv2.INTER_AREA
        )
        text = f"p{int(fs.people[i])} #{i}"
        cv2.putText(
            sheet,
            text,
            (x + 3, y + tile + 11),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            (230, 230, 230),
            1,
            cv2.LINE_AA,
        )
    return sheet
