"""Post-processing of a swapped face in crop space: colour transfer, mask shaping, blending,
sharpening and grain matching.

Convention: images ``(S, S, 3)`` uint8 RGB; masks ``(S, S)`` float32 in [0, 1]; every function is
pure (returns new arrays).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from doppelab.core.types import ImageU8, MaskF32

COLOUR_MODES = ("reinhard", "histogram", "none")
F32 = npt.NDArray[np.float32]


def _weights(mask: MaskF32) -> npt.NDArray[np.bool_]:
    return np.asarray(mask > 0.5)


def reinhard(source: ImageU8, target: ImageU8, mask: MaskF32) -> ImageU8:
    """Match the mean and standard deviation of ``source`` to ``target`` in CIE Lab, measured
    inside ``mask`` (Reinhard et al. 2001)."""
    sel = _weights(mask).astype(np.uint8)
    if int(sel.sum()) < 16:
        return source.copy()
    s = cv2.cvtColor(source, cv2.COLOR_RGB2LAB)
    t = cv2.cvtColor(target, cv2.COLOR_RGB2LAB)
    s_mu, s_sd = (np.asarray(v, np.float32).ravel() for v in cv2.meanStdDev(s, mask=sel))
    t_mu, t_sd = (np.asarray(v, np.float32).ravel() for v in cv2.meanStdDev(t, mask=sel))
    gain = np.clip((t_sd + 1e-3) / (s_sd + 1e-3), 0.3, 3.0)
    affine = np.hstack([np.diag(gain), (t_mu - s_mu * gain)[:, None]]).astype(np.float64)
    lab = cv2.transform(s, affine)  # per-channel gain + offset, saturated to uint8
    return np.asarray(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), np.uint8)


def histogram_match(source: ImageU8, target: ImageU8, mask: MaskF32) -> ImageU8:
    """Per-channel histogram matching of ``source`` to ``target`` inside ``mask``."""
    sel = _weights(mask)
    if sel.sum() < 16:
        return source.copy()
    out = np.empty_like(source)
    levels = np.arange(256)
    for ch in range(3):
        s_hist = np.bincount(source[..., ch][sel], minlength=256).astype(np.float64)
        t_hist = np.bincount(target[..., ch][sel], minlength=256).astype(np.float64)
        s_cdf, t_cdf = np.cumsum(s_hist) / s_hist.sum(), np.cumsum(t_hist) / t_hist.sum()
        lut = np.interp(s_cdf, t_cdf, levels)
        out[..., ch] = np.clip(lut, 0, 255).astype(np.uint8)[source[..., ch]]
    return out


def transfer_colour(source: ImageU8, target: ImageU8, mask: MaskF32, mode: str) -> ImageU8:
    """Colour transfer by name: ``reinhard``, ``histogram`` or ``none``."""
    if mode == "reinhard":
        return reinhard(source, target, mask)
    if mode == "histogram":
        return histogram_match(source, target, mask)
    if mode == "none":
        return source.copy()
    raise ValueError(f"unknown colour mode {mode!r}; use one of {COLOUR_MODES}")


def shape_mask(mask: MaskF32, erode: float, feather: float) -> MaskF32:
    """Erode the mask by ``erode`` and soften its edge over ``feather`` (shares of the side)."""
    size = mask.shape[0]
    hard = (mask > 0.5).astype(np.uint8)
    e = round(erode * size)
    if e > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * e + 1, 2 * e + 1))
        hard = np.asarray(cv2.erode(hard, kernel), np.uint8)
    f = feather * size
    if f < 1:
        return hard.astype(np.float32)
    dist = cv2.distanceTransform(hard, cv2.DIST_L2, 5)
    soft = np.clip(dist / f, 0.0, 1.0)
    return np.asarray(soft * soft * (3.0 - 2.0 * soft), np.float32)


def poisson_blend(source: ImageU8, target: ImageU8, mask: MaskF32) -> ImageU8:
    """Seamless (Poisson) cloning of ``source`` into ``target`` inside ``mask`` (OpenCV's
    ``seamlessClone``, mixed with the alpha mask at the soft edge)."""
    hard = (mask > 0.05).astype(np.uint8) * 255
    ys, xs = np.nonzero(hard)
    if len(xs) < 16:
        return target.copy()
    # seamlessClone needs the mask's box strictly inside the image
    hard[0, :], hard[-1, :], hard[:, 0], hard[:, -1] = 0, 0, 0, 0
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    centre = (int((x0 + x1 + 1) // 2), int((y0 + y1 + 1) // 2))
    cloned = cv2.seamlessClone(source, target, hard, centre, cv2.NORMAL_CLONE)
    return np.asarray(cloned, np.uint8)


def sharpen(image: ImageU8, amount: float, radius: float = 1.0) -> ImageU8:
    """Unsharp mask: ``image + amount * (image - blur(image))``."""
    if amount <= 0:
        return image.copy()
    img = image.astype(np.float32)
    blur = cv2.GaussianBlur(img, (0, 0), radius)
    return np.asarray(np.clip(img + amount * (img - blur), 0, 255), np.uint8)


_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_sigma(image: ImageU8, mask: MaskF32) -> float:
    """Sensor noise / grain level inside ``mask`` as a Gaussian sigma, by Immerkaer's fast
    estimator (1996): the mean absolute response of a Laplacian-difference kernel that cancels
    smooth image structure, times sqrt(pi / 2) / 6."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    resp = np.abs(cv2.filter2D(grey, -1, _IMMERKAER, borderType=cv2.BORDER_REFLECT))
    sel = _weights(mask).astype(np.uint8)
    if int(sel.sum()) < 16:
        return 0.0
    return float(cv2.mean(resp, mask=sel)[0] * np.sqrt(np.pi / 2) / 6.0)


def match_grain(swapped: ImageU8, target: ImageU8, mask: MaskF32, seed: int) -> ImageU8:
    """Add Gaussian grain so the swapped face's noise level matches the target's."""
    need = noise_sigma(target, mask) ** 2 - noise_sigma(swapped, mask) ** 2
    if need <= 0.25:
        return swapped.copy()
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, np.sqrt(need), swapped.shape[:2]).astype(np.float32)[..., None]
    return np.asarray(np.clip(swapped.astype(np.float32) + noise, 0, 255), np.uint8)


def alpha_blend(source: ImageU8, target: ImageU8, mask: MaskF32) -> ImageU8:
    """``source * mask + target * (1 - mask)``."""
    a = mask[..., None]
    out = source.astype(np.float32) * a + target.astype(np.float32) * (1.0 - a)
    return np.asarray(np.clip(out + 0.5, 0, 255), np.uint8)
