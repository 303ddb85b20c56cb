"""Self-mesh pseudo-fakes: the ``mesh`` swap's own pipeline run from a person onto themselves.

A real face (the target) gets the texture of *another* face of the same person (another frame of
the same clip, or another photo of the same identity), warped triangle by triangle onto the
target's 478-point mesh (:func:`~doppelab.swap.mesh.warp_face`, what the ``mesh`` method does),
colour-matched inside the face (Reinhard, histogram or none, as ``swap --colour`` offers), the
mask eroded and feathered and the face pasted by alpha or Poisson blending. No identity changes,
so nothing is swapped between people and no file is written: like a self-blend, the sample lives
only in a training batch. What it adds over a self-blend is the mesh method's traces: texture
resampled through ~900 affine triangles from another pose and expression, lighting and shading
from another moment, the mouth kept from the target. A detector trained on them learns those
traces on every training identity instead of only on the one swap pair it may train on.

Convention: crops ``(S, S, 3)`` uint8 RGB and landmarks ``(478, 2|3)`` in crop pixels, as
:mod:`~doppelab.detect.selfblend`; all randomness from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from doppelab.core.types import ImageU8, Landmarks
from doppelab.detect.selfblend import BlendConfig, BlendSample, boundary_map, global_transform
from doppelab.swap.mesh import warp_face
from doppelab.swap.postprocess import alpha_blend, poisson_blend, shape_mask, transfer_colour

__all__ = ["MeshConfig", "partners", "self_mesh"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshConfig:
    """Ranges of the random self-mesh (fractions are of the crop side)."""

    max_erode: float = 0.04  # mask erosion range (0, max)
    min_feather: float = 0.01  # mask feather range (min, max)
    max_feather: float = 0.08
    p_poisson: float = 0.25  # Poisson instead of alpha blending
    p_source_change: float = 0.3  # also change the source's colour/sharpness (SBI's transform)
    colour_modes: tuple[str, ...] = ("reinhard", "histogram", "none")
    colour_p: tuple[float, ...] = (0.5, 0.3, 0.2)


def partners(
    media: npt.NDArray[np.str_], identity: npt.NDArray[np.str_]
) -> list[npt.NDArray[np.int64]]:
    """For every row, the other rows a self-mesh may take its texture from: the same clip or
    photo, else (a single face) other media of the same identity, else none (group photos'
    ``group`` identity is not a person, so only their own media counts)."""
    by_media: dict[str, list[int]] = {}
    by_id: dict[str, list[int]] = {}
    for i, (m, p) in enumerate(zip(media.tolist(), identity.tolist(), strict=True)):
        by_media.setdefault(m, []).append(i)
        if p != "group":
            by_id.setdefault(p, []).append(i)
    out = []
    for i, (m, p) in enumerate(zip(media.tolist(), identity.tolist(), strict=True)):
        pool = by_media[m] if len(by_media[m]) > 1 else by_id.get(p, [])
        out.append(np.array([j for j in pool if j != i], np.int64))
    return out


def self_mesh(
    target: ImageU8,
    target_lm: Landmarks,
    source: ImageU8,
    source_lm: Landmarks,
    rng: np.random.Generator,
    cfg: MeshConfig | None = None,
) -> BlendSample:
    """``source``'s face warped onto ``target``'s mesh and pasted like the ``mesh`` swap does.

    Shape: crops (S, S, 3) uint8, landmarks (478, 2|3) in crop px -> image/mask/boundary (S, S).
    """
    cfg = cfg or MeshConfig()
    size = target.shape[0]
    if rng.random() < cfg.p_source_change:
        source = global_transform(source, rng, BlendConfig(shift=0.0, scale=0.0))
    dst = np.asarray(target_lm[:, :2], np.float32)
    src_lm = np.asarray(source_lm[:, :2], np.float32)
    warped, valid = warp_face(source, src_lm, dst, dst, size, mouth_feather_px=1.0)
    mode = str(rng.choice(list(cfg.colour_modes), p=list(cfg.colour_p)))
    warped = transfer_colour(warped, target, valid, mode)
    mask = shape_mask(
        valid, rng.uniform(0.0, cfg.max_erode), rng.uniform(cfg.min_feather, cfg.max_feather)
    )
    if rng.random() < cfg.p_poisson:
        image = poisson_blend(warped, target, mask)
    else:
        image = alpha_blend(warped, target, mask)
    return BlendSample(image=image, mask=mask, boundary=boundary_map(mask))
