"""Per-image distances: L1 and PSNR, optionally restricted to a pixel mask.

All images are [N, H, W, C] floats in [-1, 1]. L1 is the mean absolute
difference in that range (the unit of the training's reconstruction loss);
PSNR uses the range's peak-to-peak value 2, which equals PSNR computed on
[0, 255] pixels.
"""

from __future__ import annotations

import numpy as np

# Identical images have infinite PSNR; per-image values are capped here so that
# means over a set stay finite and comparable (100 dB is far above any real error).
PSNR_CAP_DB = 100.0
DATA_RANGE = 2.0


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if a.ndim != 4:
        raise ValueError(f"expected images [N, H, W, C], got shape {a.shape}")
    return a, b


def _masked_mean(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Per-image mean of `values` [N, H, W, C] over the pixels where mask [N, H, W] is true (NaN if none)."""
    if mask is None:
        return values.reshape(len(values), -1).mean(axis=1)
    weight = np.broadcast_to(np.asarray(mask, np.float64)[..., None], values.shape)
    total = (values * weight).reshape(len(values), -1).sum(axis=1)
    count = weight.reshape(len(values), -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1e-12), np.nan)


def l1_per_image(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean |a - b| of each image pair -> [N] (over the masked pixels when a mask [N, H, W] is given)."""
    a, b = _pair(a, b)
    return _masked_mean(np.abs(a - b), mask)


def psnr_per_image(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None,
                   cap: float = PSNR_CAP_DB) -> np.ndarray:
    """PSNR in dB of each image pair -> [N], capped at `cap` (identical images give exactly `cap`)."""
    a, b = _pair(a, b)
    mse = _masked_mean(np.square(a - b), mask)
    with np.errstate(divide="ignore", invalid="ignore"):
        psnr = 10.0 * np.log10(DATA_RANGE**2 / mse)
    return np.where(np.isnan(mse), np.nan, np.minimum(psnr, cap))


def mean_l1(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean over images of the per-image L1 (images without masked pixels are skipped)."""
    return float(np.nanmean(l1_per_image(a, b, mask)))


def mean_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, cap: float = PSNR_CAP_DB) -> float:
    """Mean over images of the per-image (capped) PSNR in dB."""
    return float(np.nanmean(psnr_per_image(a, b, mask, cap)))
