"""Procedural cartoon faces with exactly controllable attributes.

The same identity can be rendered with any combination of attributes, which
gives exact ground truth for every StarGAN translation.  Only numpy and PIL
are used so the dataset works without downloads and without TensorFlow.
Coordinates below are fractions of the image side, so one drawing routine
serves every output size.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

HAIR_COLORS: tuple[str, ...] = ("black", "blond", "brown")
EXPRESSIONS: tuple[str, ...] = (  # RaFD's eight, alphabetical
    "angry",
    "contemptuous",
    "disgusted",
    "fearful",
    "happy",
    "neutral",
    "sad",
    "surprised",
)

RGB = tuple[int, int, int]
Pts = Sequence[tuple[float, float]]

_HAIR_RGB: dict[str, RGB] = {
    "black": (30, 25, 25),
    "blond": (230, 200, 100),
    "brown": (120, 68, 30),
}
_GRAY_HAIR: RGB = (225, 225, 228)
_AGED_GRAY_MIX = 0.55
# Drawing at 4x and downsampling is PIL's only practical form of antialiasing.
_SUPERSAMPLE = 4
_MOUTH_DARK: RGB = (70, 20, 25)
_TEETH: RGB = (248, 248, 240)
_INK: RGB = (40, 20, 15)  # skin shading is a mix toward this warm dark brown

# eye openness, inner-brow and outer-brow offsets (image fractions, + = down)
_EYE_HEIGHT = 0.62  # eye half-height at eye_open 1, as a fraction of eye_size
_EXPR_FACE: dict[str, tuple[float, float, float]] = {
    "angry": (0.5, 0.035, -0.012),
    "contemptuous": (0.9, 0.0, 0.0),
    "disgusted": (0.7, 0.022, 0.012),
    "fearful": (1.4, -0.035, -0.01),
    "happy": (0.8, -0.008, -0.008),
    "neutral": (1.0, 0.0, 0.0),
    "sad": (0.95, -0.03, 0.012),
    "surprised": (1.45, -0.04, -0.04),
}


@dataclass(frozen=True)
class Identity:
    """Everything that must stay fixed when attributes change."""

    face_w: float  # half-axes of the face ellipse
    face_h: float
    skin: RGB
    eye_spacing: float  # eye centre offset, as a fraction of face_w
    eye_size: float  # eye half-width
    iris: RGB
    nose_len: float
    nose_w: float
    mouth_w: float  # mouth half-width, as a fraction of face_w
    bg_top: RGB  # equal to bg_bottom for a flat background
    bg_bottom: RGB
    clothes: RGB
    dx: float  # face position jitter
    dy: float
    fringe: float  # fringe edge height above face centre, fraction of face_h
    part: float  # slope of the fringe edge: which side the hair is parted
    hair_volume: float  # how far hair sticks out beyond the face outline


@dataclass(frozen=True)
class FaceAttributes:
    """The translatable attributes (CelebA hair/gender/age, RaFD expression)."""

    hair: str = "black"
    male: bool = False
    young: bool = True
    expression: str = "neutral"

    def __post_init__(self) -> None:
        if self.hair not in HAIR_COLORS:
            raise ValueError(f"unknown hair color {self.hair!r}; valid: {', '.join(HAIR_COLORS)}")
        if self.expression not in EXPRESSIONS:
            raise ValueError(f"unknown expression {self.expression!r}; valid: {', '.join(EXPRESSIONS)}")


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (round(r * 255), round(g * 255), round(b * 255))


def _mix(a: Sequence[float], b: Sequence[float], t: float) -> RGB:
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return (r, g, bl)


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw a random identity; all randomness comes from ``rng``."""
    # Background hues skip the orange/yellow band where blond and brown hair
    # live, and stay bright enough not to be mistaken for black hair.
    hue = rng.uniform(80, 340) / 360
    top = _hsv(hue, rng.uniform(0.3, 0.6), rng.uniform(0.6, 0.92))
    if rng.random() < 0.5:
        bottom = top
    else:
        bottom = _hsv(hue + rng.uniform(-0.06, 0.06), rng.uniform(0.3, 0.6), rng.uniform(0.45, 0.8))
    # The dark end stays lighter than brown hair so hair remains readable.
    tone = np.array(_mix((246, 212, 188), (142, 96, 70), rng.uniform()))
    r, g, b = (int(c) for c in np.clip(tone + rng.integers(-8, 9, size=3), 0, 255))
    irises = ((60, 40, 25), (40, 80, 140), (60, 110, 70), (30, 25, 25))
    return Identity(
        face_w=rng.uniform(0.19, 0.235),
        face_h=rng.uniform(0.255, 0.3),
        skin=(r, g, b),
        eye_spacing=rng.uniform(0.38, 0.48),
        eye_size=rng.uniform(0.045, 0.06),
        iris=irises[rng.integers(len(irises))],
        nose_len=rng.uniform(0.07, 0.1),
        nose_w=rng.uniform(0.022, 0.035),
        mouth_w=rng.uniform(0.5, 0.6),
        bg_top=top,
        bg_bottom=bottom,
        clothes=_hsv(rng.uniform(80, 340) / 360, rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.8)),
        dx=rng.uniform(-0.06, 0.06),
        dy=rng.uniform(-0.05, 0.05),
        fringe=rng.uniform(0.58, 0.75),
        part=rng.uniform(-0.5, 0.5),
        hair_volume=rng.uniform(1.06, 1.18),
    )


def face_center(identity: Identity) -> tuple[float, float]:
    """Centre of the face ellipse (x, y), as fractions of the image side."""
    return 0.5 + identity.dx, 0.47 + identity.dy


def eye_line(identity: Identity) -> float:
    """Height of the eyes' centres, as a fraction of the image side."""
    return face_center(identity)[1] - identity.face_h * 0.05


def eye_band_bottom(identity: Identity) -> float:
    """The lowest point the eyes reach with any expression (the widest-open eye), image-side fraction."""
    widest = max(eye_open for eye_open, _, _ in _EXPR_FACE.values())
    return eye_line(identity) + identity.eye_size * _EYE_HEIGHT * widest


def identity_from_id(identity_id: int, seed: int = 0) -> Identity:
    """The identity with a given id: a pure function of ``(seed, identity_id)``."""
    return sample_identity(np.random.default_rng([seed, identity_id]))


def random_attributes(rng: np.random.Generator) -> FaceAttributes:
    """Uniformly random attributes."""
    return FaceAttributes(
        hair=HAIR_COLORS[rng.integers(len(HAIR_COLORS))],
        male=bool(rng.integers(2)),
        young=bool(rng.integers(2)),
        expression=EXPRESSIONS[rng.integers(len(EXPRESSIONS))],
    )


class _Pen:
    """ImageDraw in unit coordinates (fractions of the canvas side)."""

    def __init__(self, img: Image.Image) -> None:
        self.d, self.s = ImageDraw.Draw(img), img.size[0]

    def w(self, width: float) -> int:
        return max(1, round(width * self.s))

    def pts(self, points: Pts) -> list[tuple[float, float]]:
        return [(x * self.s, y * self.s) for x, y in points]

    def box(self, *b: float) -> list[float]:
        return [v * self.s for v in b]

    def line(self, points: Pts, fill: RGB, width: float) -> None:
        self.d.line(self.pts(points), fill=fill, width=self.w(width), joint="curve")

    def oval(self, x: float, y: float, rx: float, ry: float, fill: Any, *edge: Any) -> None:
        # edge: optional (outline colour, outline width)
        outline, width = edge or (None, 0.0)
        self.d.ellipse(self.box(x - rx, y - ry, x + rx, y + ry), fill, outline, self.w(width))

    def poly(self, points: Pts, fill: Any, *edge: Any) -> None:
        outline, width = edge or (None, 0.0)
        self.d.polygon(self.pts(points), fill, outline, self.w(width))

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: Any) -> None:
        self.d.rectangle(self.box(x0, y0, x1, y1), fill=fill)

    def dome(self, x: float, y: float, rx: float, ry: float, fill: RGB) -> None:
        # Upper half of an ellipse (PIL angles run clockwise from 3 o'clock).
        self.d.chord(self.box(x - rx, y - ry, x + rx, y + ry), 180, 360, fill=fill)


def _curve(mx: float, my: float, mw: float, f: Callable[[float], float], n: int = 11,
           lo: float = -1.0, hi: float = 1.0) -> list[tuple[float, float]]:  # fmt: skip
    # Samples y = my + mw * f(u) for x = mx + mw * u, u in [lo, hi].
    return [(mx + mw * u, my + mw * f(u)) for u in np.linspace(lo, hi, n)]


def _draw_mouth(pen: _Pen, expr: str, mx: float, my: float, mw: float, lip: RGB) -> None:
    lw = 0.028

    def rel(points: Pts) -> list[tuple[float, float]]:
        return [(mx + mw * a, my + mw * b) for a, b in points]

    if expr == "happy":
        # Open grin: corners up, deep lower edge, a strip of upper teeth.
        upper = _curve(mx, my, mw, lambda u: -0.22 * u * u)
        lower = _curve(mx, my, mw, lambda u: 0.62 * (1 - u * u) - 0.22 * u * u)
        pen.poly(upper + lower[::-1], _MOUTH_DARK, lip, lw * 0.6)
        teeth = _curve(mx, my, mw, lambda u: 0.25 * (1 - u * u) - 0.22 * u * u, lo=-0.8, hi=0.8)
        pen.poly(upper[1:-1] + teeth[::-1], _TEETH)
    elif expr == "sad":
        pen.line(_curve(mx, my, mw * 0.85, lambda u: 0.42 * u * u - 0.12), lip, lw)
    elif expr == "angry":
        pen.line(_curve(mx, my, mw * 0.6, lambda u: 0.1 * u * u), lip, lw * 1.4)
    elif expr == "surprised":
        pen.oval(mx, my + 0.13 * mw, 0.45 * mw, 0.58 * mw, _MOUTH_DARK, lip, lw * 0.8)
    elif expr == "fearful":
        # Wide, flat, slightly open: distinguishable from the curved grin.
        pen.oval(mx, my, 0.9 * mw, 0.26 * mw, _MOUTH_DARK, lip, lw * 0.6)
        pen.rect(mx - 0.55 * mw, my - 0.2 * mw, mx + 0.55 * mw, my - 0.05 * mw, _TEETH)
    elif expr == "disgusted":
        # Upper lip raised on one side only, baring a few teeth.
        pts = [(-0.85, 0.1), (0.0, -0.1), (0.4, -0.6), (0.85, -0.1), (0.4, 0.2), (0.0, 0.16)]
        pen.poly(rel(pts), _MOUTH_DARK, lip, lw * 0.7)
        pen.poly(rel([(0.05, -0.1), (0.4, -0.52), (0.66, -0.14), (0.3, -0.02)]), _TEETH)
    elif expr == "contemptuous":
        flat = rel([(-0.75, 0.05), (-0.35, 0.05), (0.0, 0.05)])
        pen.line(flat + _curve(mx, my, mw, lambda u: 0.05 - 0.75 * u * u, 6, 0.15, 0.85), lip, lw)
    else:  # neutral
        pen.line(rel([(-0.8, 0.0), (0.8, 0.0)]), lip, lw)


def render_face(identity: Identity, attributes: FaceAttributes, size: int = 64) -> np.ndarray:
    """Render one face as a ``(size, size, 3)`` uint8 array; fully deterministic."""
    if not 8 <= size <= 1024:
        raise ValueError(f"size must be in [8, 1024], got {size}")
    s = size * _SUPERSAMPLE
    idn, att = identity, attributes
    ramp = np.linspace(0.0, 1.0, s, dtype=np.float32)[:, None, None]
    top, bottom = np.asarray(idn.bg_top, np.float32), np.asarray(idn.bg_bottom, np.float32)
    bg = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (s, s, 3))
    img = Image.fromarray(bg.astype(np.uint8), "RGB")
    pen = _Pen(img)

    (cx, cy), fw, fh = face_center(idn), idn.face_w, idn.face_h
    hair, skin = _HAIR_RGB[att.hair], idn.skin
    if not att.young:
        hair = _mix(hair, _GRAY_HAIR, _AGED_GRAY_MIX)
        lum = 0.3 * skin[0] + 0.59 * skin[1] + 0.11 * skin[2]
        skin = _mix(skin, (lum, lum, lum), 0.3)

    pen.oval(cx, cy + fh * 1.25 + 0.2, 0.42, 0.2, idn.clothes)
    hv = idn.hair_volume
    if att.male:
        # Short hair: only a cap slightly larger than the top of the head.
        pen.dome(cx, cy - fh * 0.1, fw * hv, fh * (1.02 * hv), hair)
    else:
        # Long hair falls behind the face down to the bottom of the image.
        rx = fw * hv * 1.15
        pen.dome(cx, cy, rx, fh * 1.15 * hv, hair)
        pen.rect(cx - rx, cy - 0.001, cx + rx, 1.0, hair)
    pen.rect(cx - fw * 0.42, cy + fh * 0.5, cx + fw * 0.42, cy + fh * 1.4, _mix(skin, _INK, 0.25))
    pen.oval(cx, cy, fw, fh, skin)

    if att.male:
        # Stubble: a translucent hair-tinted layer over jaw and chin.
        mask = Image.new("L", (s, s), 0)
        mpen = _Pen(mask)
        mpen.oval(cx, cy, fw, fh, 120)
        mpen.rect(0.0, 0.0, 1.0, cy + fh * 0.3, 0)
        img.paste(_mix(_mix(skin, hair, 0.5), (0, 0, 0), 0.3), mask=mask)

    # Fringe: the part of the face ellipse above a tilted line.
    mask = Image.new("L", (s, s), 0)
    mpen = _Pen(mask)
    mpen.oval(cx, cy, fw * 1.01, fh * 1.01, 255)
    yf, slope = cy - fh * idn.fringe, idn.part * 0.35
    mpen.poly([(0.0, yf - slope * cx), (1.0, yf + slope * (1 - cx)), (1.0, 1.0), (0.0, 1.0)], 0)
    img.paste(hair, mask=mask)

    ey, ex, er = eye_line(idn), fw * idn.eye_spacing, idn.eye_size
    eye_open, brow_in, brow_out = _EXPR_FACE[att.expression]
    if not att.young:
        wr, ww = _mix(skin, _INK, 0.45), 0.011
        for k in (0.0, 1.0):  # forehead lines
            yw = cy - fh * (0.38 + 0.1 * k)
            pen.d.arc(
                pen.box(cx - fw * 0.5, yw, cx + fw * 0.5, yw + 0.08),
                200,
                340,
                fill=wr,
                width=pen.w(ww),
            )
        for sgn in (-1, 1):
            ox = cx + sgn * (ex + er * 1.15)
            for a in (-0.02, 0.0, 0.02):  # crow's feet
                pen.line([(ox, ey + a * 0.5), (ox + sgn * 0.03, ey + a * 1.3)], wr, ww)
            nasolabial = [
                (cx + sgn * idn.nose_w * 1.6, ey + idn.nose_len),
                (cx + sgn * fw * idn.mouth_w * 1.1, cy + fh * 0.55),
            ]
            pen.line(nasolabial, wr, ww)

    brow_c = _mix(hair, (0, 0, 0), 0.3) if att.young else _mix(hair, (60, 60, 60), 0.4)
    for sgn in (-1, 1):
        x0, ry, ir = cx + sgn * ex, er * _EYE_HEIGHT * eye_open, er * 0.5
        pen.oval(x0, ey, er, ry, (250, 250, 250), (50, 35, 30), 0.006)
        pen.oval(x0, ey, ir, min(ir, ry * 0.95), idn.iris)
        pen.oval(x0, ey, ir * 0.45, min(ir, ry) * 0.45, (10, 10, 10))
        by, bi, bo = ey - er * _EYE_HEIGHT - 0.035, brow_in, brow_out
        if att.expression == "contemptuous" and sgn > 0:
            bi = bo = -0.02  # one raised brow goes with the one-sided smirk
        brow = [(x0 - sgn * er * 0.9, by + bi), (x0 + sgn * er * 1.15, by + bo)]
        pen.line(brow, brow_c, 0.03 if att.male else 0.019)

    tip = ey + idn.nose_len - (0.012 if att.expression == "disgusted" else 0.0)
    nose_c = _mix(skin, _INK, 0.35)
    nw = idn.nose_w
    pen.line([(cx + 0.004, ey + 0.02), (cx - nw * 0.7, tip), (cx + nw * 0.6, tip + 0.008)], nose_c, 0.011)
    for sgn in (-1, 1):
        pen.oval(cx + sgn * nw * 0.55, tip + 0.001, 0.007, 0.005, nose_c)
    if att.expression == "disgusted":
        for k in (0.0, 1.0):  # wrinkled nose bridge
            yk = ey + 0.015 + 0.014 * k
            pen.line([(cx - 0.02, yk), (cx + 0.02, yk)], nose_c, 0.008)

    lip = _mix(skin, (150, 45, 50), 0.55)
    _draw_mouth(pen, att.expression, cx, cy + fh * 0.52, fw * idn.mouth_w, lip)
    return np.asarray(img.resize((size, size), Image.LANCZOS), dtype=np.uint8)


def render_batch(
    identity_ids: Sequence[int], attributes: Sequence[FaceAttributes], size: int = 64, seed: int = 0
) -> np.ndarray:
    """Render ``identity_from_id(ids[i], seed)`` with ``attributes[i]`` -> (N, size, size, 3)."""
    if len(identity_ids) != len(attributes):
        raise ValueError(f"{len(identity_ids)} identity ids but {len(attributes)} attributes")
    out = np.empty((len(identity_ids), size, size, 3), np.uint8)
    cache: dict[int, Identity] = {}
    for i, (iid, att) in enumerate(zip(identity_ids, attributes, strict=True)):
        key = int(iid)
        if key not in cache:
            cache[key] = identity_from_id(key, seed)
        out[i] = render_face(cache[key], att, size)
    return out


if __name__ == "__main__":
    import sys

    from stargan_tf.data.synthetic_writer import main

    sys.exit(main())
