"""Fréchet Inception Distance (FID) and Kernel Inception Distance (KID).

Both compare two sets of images through the 2048-d average-pool features of
an ImageNet-trained InceptionV3. The distances themselves work on any
features: `frechet_distance` and `kernel_distance` take feature arrays, and
`FeatureExtractor` is the interface for anything that maps images to
features. Only `InceptionFeatures` with real ImageNet weights produces
numbers that may be called FID/KID; `distance_names` gives the labels to use
for any other extractor, so a test's small random network is never reported
as FID.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

INCEPTION_SIZE = 299
KID_SUBSET_SIZE = 1000
KID_SUBSETS = 100


class FeatureExtractor:
    """Maps images [N, H, W, 3] in [-1, 1] to features [N, D]."""

    name: str = "features"

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray] | None = None, name: str = "features") -> None:
        self.fn, self.name = fn, name

    def __call__(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        if self.fn is None:
            raise NotImplementedError
        parts = [np.asarray(self.fn(images[i: i + batch_size]), np.float64)
                 for i in range(0, len(images), batch_size)]
        return np.concatenate(parts).reshape(len(images), -1)


class InceptionFeatures(FeatureExtractor):
    """Keras InceptionV3 (include_top=False, pooling="avg") with ImageNet weights read from a file.

    The weights cannot be downloaded here: the user fetches Keras' file
    `inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5` on a machine
    with internet and passes its path. There is deliberately no fallback to
    random weights, which would give meaningless scores under the FID name.
    """

    name = "inception_v3"

    def __init__(self, weights_path: str | Path | None) -> None:
        if not weights_path:
            raise ValueError("FID/KID need InceptionV3 ImageNet weights: pass --inception-weights PATH "
                             "(see docs/evaluation.md)")
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise ValueError(f"InceptionV3 weights file not found: {path}")
        import keras

        try:
            self.model = keras.applications.InceptionV3(
                weights=str(path), include_top=False, pooling="avg",
                input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3))
        except Exception as err:  # a wrong file: Keras raises assorted errors
            raise ValueError(f"{path} is not InceptionV3 'notop' weights: {str(err).splitlines()[0]}") from None
        super().__init__(self._features, self.name)

    def _features(self, images: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        # InceptionV3's own preprocessing maps [0, 255] to [-1, 1]: our images already are.
        resized = tf.image.resize(np.asarray(images, np.float32), (INCEPTION_SIZE, INCEPTION_SIZE),
                                  method="bilinear")
        return self.model(resized, training=False).numpy()


def distance_names(extractor: FeatureExtractor) -> tuple[str, str]:
    """Output labels: ("fid", "kid") only for InceptionV3 features, descriptive names otherwise."""
    if isinstance(extractor, InceptionFeatures):
        return "fid", "kid"
    return f"frechet_distance[{extractor.name}]", f"kernel_distance[{extractor.name}]"


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians.

    Tr((S1 S2)^(1/2)) is computed as Tr((S1^(1/2) S2 S1^(1/2))^(1/2)): the
    same eigenvalues, but of a symmetric PSD matrix, so no complex square
    roots appear from round-off.
    """
    root1 = _sqrt_psd(np.asarray(sigma1, np.float64))
    inner = root1 @ np.asarray(sigma2, np.float64) @ root1
    trace_sqrt = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0.0, None))))
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)
    return max(value, 0.0)


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, np.float64)
    if len(features) < 2:
        raise ValueError("a covariance needs at least 2 feature vectors")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance_of(features1: np.ndarray, features2: np.ndarray) -> float:
    """Fréchet distance between two feature sets [N, D] and [M, D]."""
    return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))


def _polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    # Unbiased MMD^2 with the cubic kernel k(a, b) = (a.b / d + 1)^3 (Binkowski et al. 2018).
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2.0 * kxy.mean())


def kernel_distance(features1: np.ndarray, features2: np.ndarray, subset_size: int = KID_SUBSET_SIZE,
                    subsets: int = KID_SUBSETS, seed: int = 0) -> tuple[float, float]:
    """KID: (mean, std) of the unbiased cubic-kernel MMD^2 over random subsets of both sets.

    Unbiased, so small sets give noisy but not systematically inflated values
    (unlike FID); it can be slightly negative when the sets match.
    """
    x, y = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError("KID needs at least 2 images in each set")
    rng = np.random.default_rng(seed)
    values = [_polynomial_mmd2(x[rng.choice(len(x), size, replace=False)],
                               y[rng.choice(len(y), size, replace=False)]) for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))
