"""Translation grids: rows = input faces, columns = the input and one translation per target."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from stargan_tf.data.pipeline import to_uint8
from stargan_tf.labels import LabelLayout

HEADER_HEIGHT = 14


def domain_grid(
    translate: Callable[[np.ndarray, np.ndarray], np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    layout: LabelLayout,
) -> np.ndarray:
    """The standard sample grid: each input translated to every domain of the layout.

    A tile stays blank where the target is not a complete request for that
    face (`LabelLayout.target_defined`, e.g. an RaFD face and a CelebA attribute).
    """
    images = np.asarray(images, np.float32)
    columns = [("input", images)]
    for domain, targets in layout.grid_targets(labels):
        asked = layout.target_defined(labels, domain)
        out = np.ones_like(images)  # white, as the canvas
        if asked.any():
            out[asked] = np.asarray(translate(images[asked], targets[asked]))
        columns.append((domain, out))
    return compose_grid(columns)


def compose_grid(columns: Sequence[tuple[str, np.ndarray]], titles: bool = True) -> np.ndarray:
    """Tiles columns of images ([-1, 1] floats or uint8, [N, H, W, 3]) into one uint8 picture."""
    tiles = [to_uint8(c) if c.dtype != np.uint8 else c for _, c in columns]
    n, h, w, _ = tiles[0].shape
    header = HEADER_HEIGHT if titles else 0
    canvas = np.full((header + n * h, len(tiles) * w, 3), 255, np.uint8)
    for j, tile in enumerate(tiles):
        for i in range(n):
            canvas[header + i * h: header + (i + 1) * h, j * w: (j + 1) * w] = tile[i]
    if not titles:
        return canvas
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    for j, (title, _) in enumerate(columns):
        # Short names fit the default bitmap font's ~6 px per character.
        text = title.replace("_Hair", "").replace("_", " ")[: max(w // 6, 3)]
        draw.text((j * w + 2, 1), text, fill=(0, 0, 0))
    return np.asarray(picture)


def save_png(image: np.ndarray, path: str) -> None:
    Image.fromarray(image).save(path)
