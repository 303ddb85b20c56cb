"""Spectral and high-frequency statistics of a face crop and of its face/background boundary.

Features of one aligned 128 px crop (:data:`doppelab.detect.data.NET_SIZE`):

* azimuthal average of the log power spectrum (Hann-windowed grey crop), ``BINS`` radial bins,
  each minus the mean of all bins (so global brightness and contrast do not count);
* the same for the central 64 px of the face (eyes to mouth);
* log energy of a high-pass (image minus its Gaussian blur, three scales) inside the face, in
  the boundary band (the face hull's edge, where a swap is pasted) and outside, and their log
  ratios (a pasted face is often softer or sharper than its surroundings);
* colour mismatch across the boundary: the Lab difference between a ring just inside and a ring
  just outside the face hull, against the same for an inner ring pair (the control);
* steps of colour and high-pass energy between concentric rings around the hull
  (:func:`ring_features`), which catch a seam that lies inside or outside the hull;

then a small MLP on the standardised features (:class:`SmallMLP`, one hidden layer; a logistic
regression, :class:`Logistic`, is still read from older files) turns them into a logit.
Shape: :func:`features` ``(N, 128, 128, 3)`` + landmarks ``(N, 478, 2)`` -> ``(N, D)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from doppelab.core.errors import UsageError

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
BINS = 16
BAND = 4  # half-width of the boundary band in px at 128
SCALES = (0.7, 1.5, 3.0)  # Gaussian sigmas of the high-pass (px at 128)
RING_EDGES = np.arange(-8, 25, 3)
N_FEATURES = 2 * BINS + 4 * len(SCALES) + 6 + 15 + 5 * (len(RING_EDGES) - 2)
# Bump when :func:`features` changes: ``frequency.npz`` records the version it was fitted on (a
# file without one is version 1) and :func:`load_classifier` refuses a file of another version.
# Version 2 (+23 noise-residual features, commit 7ee1795) was evaluated and not adopted
# (docs/detect.md).
FEATURES_VERSION = 1


@cache
def _radial_index(size: int, bins: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    yy, xx = np.mgrid[:size, :size] - size // 2
    r = np.sqrt(xx**2 + yy**2) / (size / 2)
    idx = np.minimum((r * bins).astype(np.int64), bins)  # corners beyond Nyquist -> extra bin
    counts = np.bincount(idx.ravel(), minlength=bins + 1).astype(np.float64)
    return idx, counts


@cache
def _hann(size: int) -> F64:
    w = np.hanning(size)
    return np.outer(w, w)


def azimuthal_spectrum(grey: F32, bins: int = BINS) -> F64:
    """Mean log power per radial frequency bin (DC to Nyquist), minus its mean.

    Shape: ``(S, S)`` grey image -> ``(bins,)``."""
    size = grey.shape[0]
    g = grey.astype(np.float64)
    g = (g - g.mean()) * _hann(size)
    power = np.abs(np.fft.fftshift(np.fft.fft2(g))) ** 2
    idx, counts = _radial_index(size, bins)
    sums = np.bincount(idx.ravel(), weights=np.log(power.ravel() + 1e-8), minlength=bins + 1)
    prof = (sums / np.maximum(counts, 1))[:bins]
    return np.asarray(prof - prof.mean(), np.float64)


def _rings(landmarks: F32, size: int) -> dict[str, npt.NDArray[np.bool_]]:
    hull = cv2.convexHull(landmarks[:468, :2].astype(np.float32)).reshape(-1, 1, 2)
    face = np.zeros((size, size), np.uint8)
    cv2.fillPoly(face, [np.round(hull).astype(np.int32)], (1,))
    k = np.ones((2 * BAND + 1, 2 * BAND + 1), np.uint8)
    inner = cv2.erode(face, k)
    inner2 = cv2.erode(inner, k)
    outer = cv2.dilate(face, k)
    return {
        "in": inner2.astype(bool),
        "band": (outer > 0) & (inner == 0),
        "out": outer == 0,
        "ring_in": (face > 0) & (inner == 0),
        "ring_out": (outer > 0) & (face == 0),
        "ring_in2": (inner > 0) & (inner2 == 0),
    }


def _masked_mean(x: F64, m: npt.NDArray[np.bool_]) -> F64:
    return np.asarray(x[m].mean(axis=0) if m.any() else np.zeros(x.shape[-1:] or (1,)), np.float64)


def boundary_features(crop: npt.NDArray[np.uint8], landmarks: F32) -> F64:
    """High-pass energies at three scales in/at/outside the face boundary (log, and their
    differences) and colour steps across it."""
    size = crop.shape[0]
    rings = _rings(landmarks, size)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    feats: list[float] = []
    for sigma in SCALES:
        hp = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), sigmaX=sigma)).astype(np.float64)
        e = {
            k: float(np.log(_masked_mean(hp[..., None], rings[k])[0] + 1e-3))
            for k in ("in", "band", "out")
        }
        feats += [e["in"], e["band"] - e["in"], e["band"] - e["out"], e["in"] - e["out"]]
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float64)
    step = np.abs(_masked_mean(lab, rings["ring_in"]) - _masked_mean(lab, rings["ring_out"]))
    ctrl = np.abs(_masked_mean(lab, rings["ring_in2"]) - _masked_mean(lab, rings["ring_in"]))
    return np.r_[feats, np.log1p(step), np.log1p(step) - np.log1p(ctrl)]


def ring_features(crop: npt.NDArray[np.uint8], landmarks: F32) -> F64:
    """Steps between concentric rings around the face hull (signed distance -8..+25 px, 3 px
    apart) of Lab colour and of log high-pass energy at two scales: a blend seam anywhere in
    that range shows as a step between neighbouring rings. Max, mean, second largest and all
    log steps."""
    size = crop.shape[0]
    hull = cv2.convexHull(landmarks[:468, :2].astype(np.float32)).reshape(-1, 1, 2)
    face = np.zeros((size, size), np.uint8)
    cv2.fillPoly(face, [np.round(hull).astype(np.int32)], (1,))
    signed = np.where(
        face > 0,
        cv2.distanceTransform(face, cv2.DIST_L2, 5),
        -cv2.distanceTransform(1 - face, cv2.DIST_L2, 5),
    )
    ring = np.digitize(signed, RING_EDGES).ravel()
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    hp = [np.log1p(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), sigmaX=s))) for s in (0.8, 2.0)]
    chans = np.dstack([lab, *hp]).reshape(-1, 5).astype(np.float64)
    nb = len(RING_EDGES) + 1
    count = np.maximum(np.bincount(ring, minlength=nb)[1:-1], 1)
    means = np.stack(
        [np.bincount(ring, weights=chans[:, c], minlength=nb)[1:-1] / count for c in range(5)],
        axis=1,
    )
    d = np.abs(np.diff(means, axis=0))
    return np.r_[d.max(axis=0), d.mean(axis=0), np.sort(d, axis=0)[-2], np.log1p(d).ravel()]


def features(crops: npt.NDArray[np.uint8], landmarks: F32) -> F64:
    """The frequency feature vector of each crop. Shape ``(N, S, S, 3)``, ``(N, 478, 2)`` ->
    ``(N, N_FEATURES)``."""
    rows = []
    for crop, lm in zip(crops, landmarks, strict=True):
        grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
        c = crop.shape[0] // 4
        rows.append(
            np.r_[
                azimuthal_spectrum(grey),
                azimuthal_spectrum(grey[c:-c, c:-c]),
                boundary_features(crop, lm),
                ring_features(crop, lm),
            ]
        )
    if not rows:
        return np.zeros((0, N_FEATURES))
    return np.asarray(rows, np.float64).reshape(len(rows), -1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Logistic:
    """Standardised logistic regression: ``logit = ((x - mean) / std) @ w + b``."""

    mean: F64
    std: F64
    w: F64
    b: float

    def logits(self, x: F64) -> F64:
        return np.asarray(((x - self.mean) / self.std) @ self.w + self.b, np.float64)

    def to_arrays(self) -> dict[str, F64]:
        return {"mean": self.mean, "std": self.std, "w": self.w, "b": np.array([self.b])}

    @classmethod
    def from_arrays(cls, z: dict[str, F64]) -> Logistic:
        return cls(mean=z["mean"], std=z["std"], w=z["w"], b=float(np.ravel(z["b"])[0]))


def fit_logistic(x: F64, y: npt.ArrayLike, l2: float = 1e-2) -> Logistic:
    """L-BFGS fit of an L2-regularised logistic regression on standardised features."""
    yy = np.asarray(y, np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / std
    n, d = z.shape

    def loss(theta: F64) -> tuple[float, F64]:
        w, b = theta[:d], theta[d]
        t = z @ w + b
        p = 1.0 / (1.0 + np.exp(-t))
        nll = np.logaddexp(0.0, t) - yy * t
        g = (p - yy) / n
        return float(nll.mean() + 0.5 * l2 * w @ w), np.r_[z.T @ g + l2 * w, g.sum()]

    res = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B")
    return Logistic(mean=mean, std=std, w=res.x[:d], b=float(res.x[d]))


@dataclass(frozen=True, slots=True, kw_only=True)
class SmallMLP:
    """Standardised one-hidden-layer MLP (SiLU): ``logit = silu(z @ w1 + b1) @ w2 + b2`` with
    ``z = (x - mean) / std``; numpy inference (trained by :func:`fit_mlp`).

    Shape: ``w1`` (D, H), ``b1`` (H,), ``w2`` (H,), ``b2`` scalar."""

    mean: F64
    std: F64
    w1: F64
    b1: F64
    w2: F64
    b2: float

    def logits(self, x: F64) -> F64:
        h = ((x - self.mean) / self.std) @ self.w1 + self.b1
        h = h / (1.0 + np.exp(-np.clip(h, -60.0, 60.0)))  # SiLU
        return np.asarray(h @ self.w2 + self.b2, np.float64)

    def to_arrays(self) -> dict[str, F64]:
        return {
            "mean": self.mean,
            "std": self.std,
            "w1": self.w1,
            "b1": self.b1,
            "w2": self.w2,
            "b2": np.array([self.b2]),
        }

    @classmethod
    def from_arrays(cls, z: dict[str, F64]) -> SmallMLP:
        """The inverse of :meth:`to_arrays` (no feature check: see :func:`load_classifier`)."""
        return cls(
            mean=z["mean"],
            std=z["std"],
            w1=z["w1"],
            b1=z["b1"],
            w2=z["w2"],
            b2=float(np.ravel(z["b2"])[0]),
        )


def load_classifier(z: dict[str, npt.NDArray[Any]], source: str | Path) -> Logistic | SmallMLP:
    """The classifier stored in ``frequency.npz`` (an MLP when it has ``w1``, else logistic),
    checked against the features this doppelab computes. ``source``: the file's name, for the
    message.

    Raises:
        UsageError: the file records another :data:`FEATURES_VERSION` (a file without one is
            version 1) or holds another number of features than :data:`N_FEATURES`.
    """
    clf = SmallMLP.from_arrays(z) if "w1" in z else Logistic.from_arrays(z)
    version = int(np.ravel(z.get("version", [1]))[0])
    if version != FEATURES_VERSION or len(clf.mean) != N_FEATURES:
        raise UsageError(
            f"frequency classifier {source} was fitted on feature version {version} "
            f"({len(clf.mean)} features); this doppelab computes version {FEATURES_VERSION} "
            f"({N_FEATURES}): refit it with `doppelab detect-train`"
        )
    return clf


def fit_mlp(
    x: F64,
    y: npt.ArrayLike,
    *,
    hidden: int = 64,
    weight_decay: float = 1e-2,
    epochs: int = 40,
    seed: int = 0,
) -> SmallMLP:
    """Fit :class:`SmallMLP` (AdamW, lr 1e-3, batches of 256, dropout 0.2, fixed seed; torch on
    one CPU thread, a few seconds for ~10k rows). Chosen over the logistic regression on held-out
    train identities (docs/detect.md): the feature interactions carry the seam."""
    import torch

    torch.manual_seed(seed)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    xt = torch.tensor((x - mean) / std, dtype=torch.float32)
    yt = torch.tensor(np.asarray(y, np.float32))
    lin1, lin2 = torch.nn.Linear(x.shape[1], hidden), torch.nn.Linear(hidden, 1)
    net = torch.nn.Sequential(lin1, torch.nn.SiLU(), torch.nn.Dropout(0.2), lin2)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for s in range(0, len(xt), 256):
            i = perm[s : s + 256]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                net(xt[i]).squeeze(1), yt[i]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    return SmallMLP(
        mean=mean,
        std=std,
        w1=lin1.weight.detach().numpy().T.astype(np.float64),
        b1=lin1.bias.detach().numpy().astype(np.float64),
        w2=lin2.weight.detach().numpy()[0].astype(np.float64),
        b2=float(lin2.bias.detach().numpy()[0]),
    )
