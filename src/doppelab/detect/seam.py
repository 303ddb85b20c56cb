"""SeamNet: a small-receptive-field CNN on patches along the face boundary.

Why it exists (measured, see docs/detect.md "Why unseen people fail"): the whole-face BlendNet
learnt *who* is real. Real clips of people it was trained on score about -4 logits, real clips of
people it never saw +4 to +35, so across unseen people a per-person offset, not the seam,
decides the ranking. A network that only ever sees a 32 px patch (a quarter of the 128 px crop)
around the face hull cannot recognise a person, only local evidence: a step in colour, noise or
sharpness where a face was pasted.

Patches: ``K`` centres on the face hull (evenly spaced along its perimeter) and on the hull
shrunk towards its centroid (``SHRINK``), where inner-face and shrunken masks put their seams.
Training: real faces vs self-blends (the same pairs and degradations as BlendNet); a fake
patch counts only when the blend's boundary map crosses its centre region (the seam is in
it), every real patch counts. Score of a face: the mean of its ``TOP`` highest patch logits
(a seam need not run all round the face).

Shape: crops ``(N, 128, 128, 3)`` uint8 RGB, landmarks ``(N, 478, 2)`` crop px; patches
``(N, K, PATCH, PATCH, 3)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional as F

PATCH = 32
K_HULL = 12  # centres on the hull and as many on the shrunken hull
SHRINK = 0.82
TOP = 4
SEAM_MIN = 0.5  # boundary-map peak in a fake patch's centre region for it to count


@dataclass(frozen=True, slots=True, kw_only=True)
class SeamNetConfig:
    """Channel widths of the four conv layers (strides 2, 1, 2, 1)."""

    widths: tuple[int, int, int, int] = (12, 24, 32, 48)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class SeamNet(nn.Module):
    """Patch classifier: 4 conv-BN-SiLU layers (receptive field 19 px, about 2M multiply-adds
    per patch), avg+max pool, linear."""

    def __init__(self, cfg: SeamNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or SeamNetConfig()
        layers: list[nn.Module] = []
        cin = 3
        for cout, stride in zip(self.cfg.widths, (2, 1, 2, 1), strict=True):
            layers += [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)]
            layers.append(nn.SiLU())
            cin = cout
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(2 * cin, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.body(x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return self.fc(pooled).squeeze(1)


def patch_centres(landmarks: npt.NDArray[np.float32], size: int = 128) -> npt.NDArray[np.float32]:
    """``2 * K_HULL`` patch centres ``(K, 2)`` of one face (crop px), clamped so every patch
    lies inside the crop."""
    hull = cv2.convexHull(landmarks[:468, :2].astype(np.float32)).reshape(-1, 2)
    closed = np.vstack([hull, hull[:1]]).astype(np.float64)
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    arc = np.r_[0.0, np.cumsum(seg)]
    at = np.linspace(0.0, arc[-1], K_HULL, endpoint=False)
    pts = np.stack([np.interp(at, arc, closed[:, i]) for i in (0, 1)], axis=1)
    centre = hull.mean(axis=0)
    both = np.vstack([pts, centre + SHRINK * (pts - centre)])
    half = PATCH / 2
    return np.asarray(np.clip(both, half, size - half), np.float32)


def _corners(centres: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    return np.asarray(np.round(centres - PATCH / 2), np.int64)


def extract_patches(
    crops: npt.NDArray[np.uint8], landmarks: npt.NDArray[np.float32]
) -> npt.NDArray[np.uint8]:
    """Patches ``(N, K, PATCH, PATCH, 3)`` at :func:`patch_centres` of every face."""
    out = np.zeros((len(crops), 2 * K_HULL, PATCH, PATCH, 3), np.uint8)
    for n, (crop, lm) in enumerate(zip(crops, landmarks, strict=True)):
        for k, (x, y) in enumerate(_corners(patch_centres(lm, crop.shape[0]))):
            out[n, k] = crop[y : y + PATCH, x : x + PATCH]
    return out


def seam_in_patches(
    boundary: npt.NDArray[np.float32], landmarks: npt.NDArray[np.float32]
) -> npt.NDArray[np.bool_]:
    """Whether the blend seam crosses each patch's centre half (``(K,)``), from a full-size
    ``(S, S)`` boundary map."""
    q = PATCH // 4
    hit = []
    for x, y in _corners(patch_centres(landmarks, boundary.shape[0])):
        hit.append(float(boundary[y + q : y + PATCH - q, x + q : x + PATCH - q].max()) >= SEAM_MIN)
    return np.array(hit, dtype=bool)


def to_tensor(patches: npt.NDArray[np.uint8]) -> torch.Tensor:
    """``(M, P, P, 3)`` uint8 -> ``(M, 3, P, P)`` float in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(patches)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


@torch.no_grad()
def face_scores(
    model: SeamNet, crops: npt.NDArray[np.uint8], landmarks: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Face logits ``(N,)`` (mean of the ``TOP`` patch logits) and all patch logits ``(N, K)``."""
    if len(crops) == 0:
        return np.zeros(0, np.float32), np.zeros((0, 2 * K_HULL), np.float32)
    model.eval()
    p = extract_patches(crops, landmarks)
    n, k = p.shape[:2]
    logits = model(to_tensor(p.reshape(n * k, PATCH, PATCH, 3))).numpy().reshape(n, k)
    top = np.sort(logits, axis=1)[:, -TOP:].mean(axis=1)
    return np.asarray(top, np.float32), np.asarray(logits, np.float32)


def pack(model: SeamNet) -> dict[str, npt.NDArray[np.generic]]:
    """The weights (fp32, they are small) + config as JSON bytes, for ``np.savez``."""
    import json

    out: dict[str, npt.NDArray[np.generic]] = {
        k: v.detach().cpu().numpy() for k, v in model.state_dict().items()
    }
    out["__config__"] = np.frombuffer(json.dumps(model.cfg.to_dict()).encode(), np.uint8)
    return out


def unpack(arrays: dict[str, npt.NDArray[np.generic]]) -> SeamNet:
    """Rebuild a :class:`SeamNet` (eval mode) from :func:`pack` arrays."""
    import json

    cfg = json.loads(bytes(np.asarray(arrays["__config__"])).decode())
    model = SeamNet(SeamNetConfig(widths=tuple(cfg["widths"])))
    state = {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items() if k != "__config__"}
    model.load_state_dict(state)
    return model.eval()


def patch_loss(model: SeamNet, patches: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the patch logits."""
    return F.binary_cross_entropy_with_logits(model(patches), labels)
