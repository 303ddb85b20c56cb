"""Head pose from the 3D landmarks: a similarity fit to the canonical mean face.

Angles follow the usual convention for faces, in degrees: yaw (turn, + when the nose points to
the image's right), pitch (nod, + looking up), roll (tilt in the image plane, + clockwise as
seen). Zero is the pose of the canonical face (see scripts/make_mean_face.py).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from doppelab.extract.topology import CHIN, FOREHEAD, STABLE_POINTS, SYMMETRIC_PAIRS

F64 = npt.NDArray[np.float64]


def similarity_3d(src: F64, dst: F64) -> tuple[float, F64, F64]:
    """Umeyama fit ``dst ≈ scale * src @ rot.T + t`` (no reflection). Shape: (N, 3) each."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s_c, d_c = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d_c.T @ s_c / len(src))
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = float((sig * d).sum() / (s_c**2).sum(axis=1).mean())
    return scale, rot, mu_d - scale * rot @ mu_s


def head_frame(shape: F64) -> F64:
    """Express a 478-point shape in its own head frame (see module doc), unit scale."""
    pairs = np.asarray(SYMMETRIC_PAIRS)
    x = (shape[pairs[:, 1]] - shape[pairs[:, 0]]).mean(axis=0)
    x /= np.linalg.norm(x)
    up = shape[FOREHEAD] - shape[CHIN]  # image y grows downwards: "up" is towards the forehead
    y = -(up - (up @ x) * x)
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    rot = np.stack([x, y, z])
    stable = list(STABLE_POINTS)
    centred = shape - shape[stable].mean(axis=0)
    out = centred @ rot.T
    rms = np.sqrt((out[stable] ** 2).sum(axis=1).mean())
    return np.asarray(out / rms, dtype=np.float64)


@cache
def mean_face() -> npt.NDArray[np.float32]:
    """The canonical mean face ``(478, 3)`` shipped with the package (read-only)."""
    ref = resources.files("doppelab.extract") / "data" / "mean_face.npy"
    with resources.as_file(ref) as path:
        arr = np.load(path)
    arr.setflags(write=False)
    return np.asarray(arr, dtype=np.float32)


def head_pose(landmarks: npt.NDArray[np.float32]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a face's ``(478, 3)`` landmarks (frame px)."""
    stable = list(STABLE_POINTS)
    _, rot, _ = similarity_3d(
        mean_face()[stable].astype(np.float64), landmarks[stable].astype(np.float64)
    )
    # rot maps head-frame axes to image axes (x right, y down, z away from the camera).
    yaw = np.degrees(np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(rot[2, 1], rot[2, 2]))
    roll = np.degrees(np.arctan2(rot[1, 0], rot[0, 0]))
    return float(-yaw), float(-pitch), float(roll)
