"""Measures of a face swap: identity transfer, expression/pose preservation, temporal
stability, and reconstruction quality of a trained autoencoder on held-back faces."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from doppelab.core.geometry import transform_points, warp_to_crop
from doppelab.core.media import iter_frames
from doppelab.core.types import Embedding
from doppelab.extract.align import AlignConfig, crop_from_landmarks
from doppelab.extract.faceset import FaceSet
from doppelab.extract.identity import IdentityEmbedder
from doppelab.extract.landmarks import FaceTracker, TrackerConfig
from doppelab.extract.masks import face_mask
from doppelab.swap.autoencoder.data import load_faces
from doppelab.swap.autoencoder.losses import masked_ssim
from doppelab.swap.autoencoder.method import AutoencoderMethod

EYES = (33, 263)


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapQuality:
    """Per-video swap measures (see :func:`measure_swap`)."""

    frames: int
    identity_transfer: float  # share of frames closer to the source than to the target person
    landmark_nme: float  # mean landmark error / inter-ocular distance, target vs swapped
    temporal_ratio: float  # frame-to-frame change in the face: swapped / target's own


def _faces(path: Path, every: int) -> dict[int, tuple[npt.NDArray[np.uint8], np.ndarray]]:
    out = {}
    with FaceTracker(TrackerConfig(max_faces=1)) as tracker:
        for fr in iter_frames(path):
            faces = tracker.process(fr.image)
            if faces and fr.ref.index % every == 0:
                out[fr.ref.index] = (fr.image, faces[0].landmarks)
    return out


def _temporal(path: Path, landmarks: dict[int, np.ndarray], every: int) -> float:
    """Mean absolute change between consecutive frames inside the face (128 px crops aligned
    with the target's landmarks, so head motion is removed)."""
    cfg = AlignConfig(size=128)
    prev, diffs = None, []
    for fr in iter_frames(path):
        lm = landmarks.get(fr.ref.index - fr.ref.index % every)
        if lm is None:
            prev = None
            continue
        m = crop_from_landmarks(lm, cfg)
        crop = warp_to_crop(fr.image, m, 128).astype(np.float32)
        mask = face_mask(transform_points(m, lm), 128, 0.0) > 0.5
        if prev is not None:
            diffs.append(float(np.abs(crop - prev)[mask].mean()))
        prev = crop
    return float(np.mean(diffs)) if diffs else float("nan")


def measure_swap(
    target: Path, swapped: Path, source_id: Embedding, target_id: Embedding, every: int = 5
) -> SwapQuality:
    """Compare a swapped video with its target on every ``every``-th frame."""
    emb = IdentityEmbedder()
    tgt, out = _faces(target, every), _faces(swapped, every)
    common = sorted(set(tgt) & set(out))
    closer, errs = 0, []
    for i in common:
        img, lm = out[i]
        e = emb.embed(img, lm)
        closer += float(e @ source_id) > float(e @ target_id)
        lt = tgt[i][1]
        iod = float(np.linalg.norm(lt[EYES[0], :2] - lt[EYES[1], :2]))
        errs.append(float(np.linalg.norm(lm[:468, :2] - lt[:468, :2], axis=1).mean()) / iod)
    lms = {i: tgt[i][1] for i in tgt}
    ratio = _temporal(swapped, lms, every) / _temporal(target, lms, every)
    return SwapQuality(
        frames=len(common),
        identity_transfer=closer / max(len(common), 1),
        landmark_nme=float(np.mean(errs)) if errs else float("nan"),
        temporal_ratio=ratio,
    )


@torch.no_grad()
def reconstruction(model: Path, faceset: Path, who: str, holdout_every: int) -> dict[str, float]:
    """Masked SSIM, L1 and PSNR of ``who``'s held-back faces (frame index % k == 0) passed
    through the autoencoder and decoded as themselves."""
    method = AutoencoderMethod(model=model, source=who)
    assert method._net is not None
    fs = FaceSet.open(faceset)
    held = np.flatnonzero(fs.column("frames")["index"] % holdout_every == 0)
    data = load_faces(faceset, method.crop_size)  # all faces, then pick the held-back ones
    x = data.images[torch.from_numpy(held)].float() / 255
    m = (data.masks[torch.from_numpy(held)].float() / 255 > 0.5).float()
    rgb, _ = method._net(x.contiguous(memory_format=torch.channels_last), who)
    ssim = float(masked_ssim(rgb * m, x * m, m))
    err = ((rgb - x).abs() * m).sum() / (3 * m.sum())
    mse = (((rgb - x) ** 2) * m).sum() / (3 * m.sum())
    return {
        "faces": len(held),
        "ssim": ssim,
        "l1": float(err),
        "psnr": float(10 * torch.log10(1 / mse)),
    }
