"""Training data for the autoencoder: a FaceSet held in memory at the model's resolution, and
batch augmentation in torch (shared random affine + colour for input and target, random warp of
the input only — the classic recipe that makes the decoder learn to redraw a face from a code).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from doppelab.core.errors import FaceSetError
from doppelab.extract.faceset import FaceSet
from doppelab.extract.identity import mean_embedding
from doppelab.extract.masks import PART_BITS

MIN_FACES = 8
PRIORITY_PARTS = PART_BITS["eyes"] | PART_BITS["irises"] | PART_BITS["mouth"] | PART_BITS["brows"]


@dataclass(frozen=True, slots=True)
class FaceData:
    """Faces of one identity: ``images (N, 3, R, R)`` uint8, ``masks (N, 1, R, R)`` uint8,
    ``priority (N, 1, R, R)`` uint8 (eyes, brows, mouth), plus the person's mean embedding."""

    images: torch.Tensor
    masks: torch.Tensor
    priority: torch.Tensor
    identity: np.ndarray
    coverage: float
    path: str

    def __len__(self) -> int:
        return int(self.images.shape[0])


def load_faces(
    path: str | Path, resolution: int, chunk: int = 256, holdout_every: int = 0
) -> FaceData:
    """Load a FaceSet's crops, masks and part maps resized to ``resolution``; with
    ``holdout_every`` k > 0, faces of frames whose index is a multiple of k are left out (kept
    back for evaluation)."""
    fs = FaceSet.open(path)
    keep = np.arange(len(fs))
    if holdout_every > 0:
        keep = keep[fs.column("frames")["index"] % holdout_every != 0]
    if len(keep) < MIN_FACES:
        raise FaceSetError(f"{path} has {len(keep)} usable faces; training needs {MIN_FACES}")
    if fs.size < resolution:
        raise FaceSetError(
            f"{path} holds {fs.size} px crops; a {resolution} px model needs "
            f"crops of at least {resolution} px (re-extract with --size)"
        )
    imgs, masks, prio = [], [], []
    for start in range(0, len(keep), chunk):
        b = fs.batch(keep[start : start + chunk])
        for crop, mask, parts in zip(b["crops"], b["masks"], b["parts"], strict=True):
            imgs.append(cv2.resize(crop, (resolution, resolution), interpolation=cv2.INTER_AREA))
            masks.append(
                cv2.resize(
                    (mask * 255).astype(np.uint8),
                    (resolution, resolution),
                    interpolation=cv2.INTER_AREA,
                )
            )
            part = ((parts & PRIORITY_PARTS) > 0).astype(np.uint8) * 255
            prio.append(cv2.resize(part, (resolution, resolution), interpolation=cv2.INTER_AREA))
    return FaceData(
        images=torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous(),
        masks=torch.from_numpy(np.stack(masks))[:, None].contiguous(),
        priority=torch.from_numpy(np.stack(prio))[:, None].contiguous(),
        identity=mean_embedding(fs.embeddings),
        coverage=float(fs.meta["config"]["coverage"]),
        path=str(path),
    )


def _affine_grid(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    rot = (torch.rand(n, generator=gen) - 0.5) * (2 * np.pi / 18)  # +-10 degrees
    scale = 1.0 + (torch.rand(n, generator=gen) - 0.5) * 0.1
    shift = (torch.rand(n, 2, generator=gen) - 0.5) * 0.1
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(rot) / scale, torch.sin(rot) / scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, shift[:, 0]], 1),
            torch.stack([sin * flip, cos, shift[:, 1]], 1),
        ],
        1,
    )
    return F.affine_grid(theta, [n, 1, size, size], align_corners=False)


def _warp_field(n: int, size: int, gen: torch.Generator, amount: float = 0.05) -> torch.Tensor:
    coarse = torch.randn(n, 2, 5, 5, generator=gen) * amount
    coarse[:, :, [0, -1], :] = 0  # keep the border in place
    coarse[:, :, :, [0, -1]] = 0
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True).permute(
        0, 2, 3, 1
    )


def augment(
    data: FaceData, idx: torch.Tensor, gen: torch.Generator, warp: bool = True
) -> dict[str, torch.Tensor]:
    """A training batch: ``input`` (warped), ``target``, ``mask``, ``priority`` (float 0-1)."""
    n, size = len(idx), data.images.shape[-1]
    img = data.images[idx].float() / 255.0
    extra = torch.cat([data.masks[idx], data.priority[idx]], 1).float() / 255.0
    grid = _affine_grid(n, size, gen)
    target = F.grid_sample(
        img, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )
    extra = F.grid_sample(extra, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    gain = 1.0 + (torch.rand(n, 3, 1, 1, generator=gen) - 0.5) * 0.2
    bias = (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.1
    target = (target * gain + bias).clamp(0, 1)
    inp = target
    if warp:
        inp = F.grid_sample(
            target,
            _identity(n, size) + _warp_field(n, size, gen),
            mode="bilinear",
            padding_mode="reflection",
            align_corners=False,
        )
    return {"input": inp, "target": target, "mask": extra[:, :1], "priority": extra[:, 1:]}


def _identity(n: int, size: int) -> torch.Tensor:
    theta = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(n, 2, 3)
    return F.affine_grid(theta, [n, 1, size, size], align_corners=False)
