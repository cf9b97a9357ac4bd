"""Reading arbitrary photos for inference: formats, orientation, color modes, cropping, paste-back.

A photo becomes an RGB uint8 array in the orientation a viewer shows it.
Everything a user can get wrong (unreadable file, a tiny image, a pixel
count that would exhaust memory) raises `PhotoError` with a one-line reason.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 50_000_000
MIN_SIZE = 16
# Formats read; the rest of what Pillow can open is either not a photo or rarely safe to parse.
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


class PhotoError(ValueError):
    """A photo that cannot be used; the message is one line for the user."""


@dataclasses.dataclass(frozen=True)
class Box:
    """A region of a photo in pixels: left, top, width, height."""

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def parse(cls, text: str) -> Box:
        parts = [p.strip() for p in text.split(",")]
        try:
            x, y, w, h = (int(p) for p in parts)
        except ValueError:
            raise PhotoError(f"a box is x,y,width,height in whole pixels, got {text!r}") from None
        if w <= 0 or h <= 0 or x < 0 or y < 0:
            raise PhotoError(f"a box needs x, y >= 0 and a positive width and height, got {text!r}")
        return cls(x, y, w, h)

    def check_inside(self, width: int, height: int) -> None:
        if self.x + self.width > width or self.y + self.height > height:
            raise PhotoError(f"box {self.x},{self.y},{self.width},{self.height} lies outside the "
                             f"{width}x{height} image")

    def as_pil(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.x + self.width, self.y + self.height


def center_square(width: int, height: int) -> Box:
    """The largest centered square, the crop that resembles CelebA's centered faces best."""
    side = min(width, height)
    return Box((width - side) // 2, (height - side) // 2, side, side)


def load_photo(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An RGB uint8 [H, W, 3] array of the photo at `path`, upright per its EXIF orientation."""
    path = Path(path)
    if not path.is_file():
        raise PhotoError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            # The pixel limit below replaces Pillow's own warning for large images.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=FORMATS) as image:
                # Image.open reads only the header, so the size is known before any decoding.
                width, height = image.size
                if width * height > max_pixels:
                    raise PhotoError(f"{path}: {width}x{height} is {width * height:,} pixels, over the limit of "
                                     f"{int(max_pixels):,} (raise it with --max-pixels)")
                image.load()
                return to_rgb_array(ImageOps.exif_transpose(image))
    except PhotoError:
        raise
    except Image.DecompressionBombError:
        raise PhotoError(f"{path}: too many pixels for the image decoder's safety limit") from None
    except UnidentifiedImageError:
        raise PhotoError(f"{path}: not a readable image (supported: JPEG, PNG, WebP, BMP, TIFF)") from None
    except (OSError, SyntaxError, ValueError) as err:
        # Truncated or corrupt files surface as OSError/SyntaxError from the decoders.
        raise PhotoError(f"{path}: cannot decode image ({str(err).splitlines()[0] if str(err) else 'corrupt'})") \
            from None


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """RGB uint8 from any Pillow mode: grayscale, palette, RGBA, CMYK, 16-bit and float images."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, np.float64)
        # 16-bit files use 0..65535; 32-bit int/float files have no fixed range, so stretch them.
        if mode.startswith("I;16") or (mode == "I" and values.max(initial=0) > 255):
            values = values / 257.0
        elif mode == "F" and values.max(initial=0) <= 1.0:
            values = values * 255.0
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        array = np.repeat(gray[..., None], 3, axis=2)
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        # Transparent areas become white rather than whatever color the hidden pixels hold.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        array = np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    else:
        array = np.asarray(image.convert("RGB"))
    height, width = array.shape[:2]
    if min(height, width) < MIN_SIZE:
        raise PhotoError(f"image is {width}x{height}; both sides must be at least {MIN_SIZE} px")
    return np.ascontiguousarray(array, dtype=np.uint8)


def crop_and_resize(photo: np.ndarray, size: int, box: Box | None = None) -> tuple[np.ndarray, Box]:
    """The model input [size, size, 3] uint8 from `box` (default: the center square), and the box used.

    A non-square box is stretched to a square; paste-back stretches it back.
    """
    height, width = photo.shape[:2]
    box = box or center_square(width, height)
    box.check_inside(width, height)
    if min(box.width, box.height) < MIN_SIZE:
        raise PhotoError(f"box {box.width}x{box.height} is too small; both sides must be at least {MIN_SIZE} px")
    region = Image.fromarray(photo).crop(box.as_pil())
    return np.asarray(region.resize((size, size), Image.Resampling.LANCZOS)), box


def paste_back(photo: np.ndarray, translated: np.ndarray, box: Box, feather: int | None = None) -> np.ndarray:
    """The photo at its own resolution with `box` replaced by the translated square, resized to fit.

    A narrow linear blend at the box edges hides the seam between edited and original pixels.
    """
    region = np.asarray(
        Image.fromarray(translated).resize((box.width, box.height), Image.Resampling.LANCZOS), np.float32)
    feather = max(1, min(box.width, box.height) // 32) if feather is None else feather
    ramp_y = np.minimum(np.arange(box.height) + 1, np.arange(box.height)[::-1] + 1) / feather
    ramp_x = np.minimum(np.arange(box.width) + 1, np.arange(box.width)[::-1] + 1) / feather
    alpha = np.clip(np.minimum(ramp_y[:, None], ramp_x[None, :]), 0.0, 1.0)[..., None]
    out = photo.copy()
    y, x = box.y, box.x
    original = out[y: y + box.height, x: x + box.width].astype(np.float32)
    out[y: y + box.height, x: x + box.width] = np.clip(
        np.rint(alpha * region + (1.0 - alpha) * original), 0, 255).astype(np.uint8)
    return out


def list_photos(inputs: list[str | Path]) -> list[Path]:
    """Files as given, and a folder's photos (by suffix, sorted).

    A missing file is kept in the list so that a batch reports it with the other bad files;
    a folder without photos raises PhotoError.
    """
    paths: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
            if not found:
                raise PhotoError(f"{item}: no photos in this folder ({', '.join(PHOTO_SUFFIXES)})")
            paths.extend(found)
        else:
            paths.append(item)
    return paths
