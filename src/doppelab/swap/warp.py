"""Piecewise-affine (triangle-wise) warping between two landmark sets of the face mesh.

The triangles are MediaPipe's own face tessellation (the 3-cliques of its edge list: about 850
triangles over 468 points, with holes at the eyes and mouth); each eye hole is closed by a fan
around the iris centre so the source's eyes travel with its skin. The mouth hole stays open: the
target keeps its own mouth interior (teeth, tongue), as the masks expect.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np
import numpy.typing as npt
from mediapipe.python.solutions import face_mesh_connections as fmc

from doppelab.core.types import ImageU8
from doppelab.extract.topology import contours

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
RIGHT_IRIS_CENTRE, LEFT_IRIS_CENTRE = 468, 473


@cache
def triangles() -> I32:
    """``(T, 3)`` vertex indices of the mesh triangles (read-only)."""
    edges = {tuple(sorted(e)) for e in fmc.FACEMESH_TESSELATION}
    adj: dict[int, set[int]] = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    tris = {tuple(sorted((a, b, c))) for a, b in edges for c in adj[a] & adj[b]}
    c = contours()
    for loop, centre in ((c.right_eye, RIGHT_IRIS_CENTRE), (c.left_eye, LEFT_IRIS_CENTRE)):
        for i in range(len(loop)):
            tris.add((int(loop[i]), int(loop[(i + 1) % len(loop)]), centre))
    out = np.array(sorted(tris), dtype=np.int32)
    out.setflags(write=False)
    return out


def triangle_affines(dst: F32, src: F32, tris: I32) -> F32:
    """Per-triangle ``(T, 2, 3)`` affines mapping ``dst`` triangle points to ``src`` ones.

    Closed form through barycentric coordinates (vectorised; degenerate triangles, which cover
    no pixel, get a finite affine)."""
    d = dst[tris, :2].astype(np.float64)
    s = src[tris, :2].astype(np.float64)
    x0, y0 = d[:, 0, 0], d[:, 0, 1]
    ex1, ey1 = d[:, 1, 0] - x0, d[:, 1, 1] - y0
    ex2, ey2 = d[:, 2, 0] - x0, d[:, 2, 1] - y0
    raw: npt.NDArray[np.float64] = ex1 * ey2 - ex2 * ey1
    det = np.where(np.abs(raw) < 1e-9, 1e-9, raw)
    # barycentric l1 = (ey2 dx - ex2 dy) / det, l2 = (-ey1 dx + ex1 dy) / det
    du1, du2 = s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]
    out = np.empty((len(tris), 2, 3))
    out[:, :, 0] = (du1 * ey2[:, None] - du2 * ey1[:, None]) / det[:, None]
    out[:, :, 1] = (-du1 * ex2[:, None] + du2 * ex1[:, None]) / det[:, None]
    out[:, :, 2] = s[:, 0] - out[:, :, 0] * x0[:, None] - out[:, :, 1] * y0[:, None]
    return np.asarray(out, dtype=np.float32)


def triangle_ids(points: F32, tris: I32, size: int, step: int = 2) -> npt.NDArray[np.int32]:
    """``(size, size)`` int32 raster of which triangle covers each pixel (-1 for none).

    Rasterised at ``1/step`` resolution and upsampled: neighbouring triangles' affines agree on
    their shared edge, so a pixel given its neighbour's triangle maps almost the same."""
    small = -(-size // step)
    ids = np.full((small, small), -1, np.int32)
    polys = list(np.round((points[:, :2] + 0.5) / step * 16 - 8).astype(np.int32)[tris])
    for k, poly in enumerate(polys):
        cv2.fillConvexPoly(ids, poly, (k,), cv2.LINE_8, 4)
    if step == 1:
        return ids
    return np.asarray(cv2.resize(ids, (size, size), interpolation=cv2.INTER_NEAREST), np.int32)


@cache
def _grid(size: int) -> tuple[F32, F32]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    xs.setflags(write=False)
    ys.setflags(write=False)
    return xs, ys


def warp_mesh(
    src_image: ImageU8, src_points: F32, dst_points: F32, size: int
) -> tuple[ImageU8, F32]:
    """Warp ``src_image`` so its mesh lands on ``dst_points``; returns the ``(size, size, 3)``
    image and the coverage mask ``(size, size)`` (1 where a triangle maps, else 0)."""
    tris = triangles()
    ids = triangle_ids(dst_points, tris, size)
    coef = triangle_affines(dst_points, src_points, tris).reshape(-1, 6)
    covered = ids >= 0
    c = np.take(coef, np.where(covered, ids, 0), axis=0)  # (size, size, 6)
    xs, ys = _grid(size)
    map_x = c[..., 0] * xs + c[..., 1] * ys + c[..., 2]
    map_y = c[..., 3] * xs + c[..., 4] * ys + c[..., 5]
    out = cv2.remap(src_image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, np.uint8), covered.astype(np.float32)
