"""Named landmark groups of the 478-point FaceMesh (468 mesh points + 10 iris points).

Closed contours are chained from MediaPipe's own connection lists (which ship in its wheel), so
the index sets stay those of the model that produced the landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
from mediapipe.python.solutions import face_mesh_connections as fmc

IntArray = npt.NDArray[np.int64]

# Eye-aspect-ratio points: (outer corner, upper 1, upper 2, inner corner, lower 2, lower 1).
RIGHT_EYE_EAR = (33, 160, 158, 133, 153, 144)
LEFT_EYE_EAR = (362, 385, 387, 263, 373, 380)
# Symmetric (right, left) pairs used to define the head's x axis.
SYMMETRIC_PAIRS = ((33, 263), (133, 362), (61, 291), (234, 454), (70, 300), (127, 356))
FOREHEAD, CHIN, NOSE_TIP = 10, 152, 1
# Points that move little with expression: eye corners, nose bridge/tip/base, upper cheeks,
# forehead, temples. Alignment fits these (not the jaw or lips) so the crop does not breathe
# with the mouth.
STABLE_POINTS = (
    33,
    133,
    362,
    263,
    168,
    6,
    197,
    195,
    5,
    4,
    1,
    98,
    327,
    10,
    151,
    9,
    8,
    234,
    454,
    127,
    356,
    116,
    345,
    50,
    280,
    109,
    338,
    67,
    297,
)
# Five points of the ArcFace/SFace convention (right eye, left eye, nose tip, mouth corners),
# as seen in the image (the subject's right eye is on the image's left).
FIVE_POINTS = ((33, 133), (362, 263), (1,), (61,), (291,))


@dataclass(frozen=True, slots=True)
class Contours:
    """Closed polygons (index arrays in drawing order) of the face parts."""

    face_oval: IntArray
    right_eye: IntArray
    left_eye: IntArray
    right_brow: IntArray
    left_brow: IntArray
    lips_outer: IntArray
    lips_inner: IntArray
    nose: IntArray


def _loops(edges: frozenset[tuple[int, int]]) -> list[IntArray]:
    """Chain undirected edges into closed loops (each vertex of degree 2)."""
    adj: dict[int, list[int]] = {}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    seen: set[int] = set()
    loops: list[IntArray] = []
    for start in sorted(adj):
        if start in seen:
            continue
        loop, prev, cur = [start], -1, start
        seen.add(start)
        while True:
            nxt = [n for n in adj[cur] if n != prev]
            if not nxt or nxt[0] == start:
                break
            prev, cur = cur, nxt[0]
            if cur in seen:
                break
            seen.add(cur)
            loop.append(cur)
        loops.append(np.asarray(loop, dtype=np.int64))
    return loops


def _hull_order(idx: IntArray, ref: npt.NDArray[np.float32]) -> IntArray:
    """Order indices by angle around their centroid in a reference shape (for open part sets)."""
    pts = ref[idx, :2]
    c = pts.mean(axis=0)
    ang = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
    return idx[np.argsort(ang)]


@cache
def contours() -> Contours:
    """The part contours, chained once and cached (immutable)."""
    lips = sorted(_loops(frozenset(fmc.FACEMESH_LIPS)), key=len, reverse=True)
    nose_idx = np.asarray(sorted({i for e in fmc.FACEMESH_NOSE for i in e}), dtype=np.int64)

    def one(edges: frozenset[tuple[int, int]]) -> IntArray:
        return max(_loops(edges), key=len)

    return Contours(
        face_oval=one(frozenset(fmc.FACEMESH_FACE_OVAL)),
        right_eye=one(frozenset(fmc.FACEMESH_RIGHT_EYE)),
        left_eye=one(frozenset(fmc.FACEMESH_LEFT_EYE)),
        right_brow=np.asarray(sorted({i for e in fmc.FACEMESH_RIGHT_EYEBROW for i in e})),
        left_brow=np.asarray(sorted({i for e in fmc.FACEMESH_LEFT_EYEBROW for i in e})),
        lips_outer=lips[0],
        lips_inner=lips[1],
        nose=nose_idx,
    )
