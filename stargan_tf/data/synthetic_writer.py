"""Write the synthetic faces to disk in the real dataset file layouts.

Writing real-format files (rather than a private format) means the ordinary
CelebA, RaFD, AffectNet and custom-data loaders are exercised end to end on
synthetic data.  Run as
``python -m stargan_tf.data.synthetic --format celeba|rafd|affectnet|folder|csv --out DIR --num N``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from stargan_tf.data.synthetic import (
    EXPRESSIONS,
    HAIR_COLORS,
    FaceAttributes,
    identity_from_id,
    random_attributes,
    render_face,
)

CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
)
IMAGES_PER_CELEBA_IDENTITY = 4
_JPEG_QUALITY = 95


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    # argparse would print usage plus a message and exit; we want one line.
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


def parse_size(text: str) -> tuple[int, int]:
    """``"178x218"`` -> (width, height); ``"256"`` -> (256, 256)."""
    parts = text.lower().split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        raise _UsageError(f"bad --size {text!r}; expected WIDTHxHEIGHT or SIZE") from None
    if len(dims) == 1:
        dims *= 2
    if len(dims) != 2 or min(dims) < 16 or max(dims) > 1024:
        raise _UsageError(f"bad --size {text!r}; sides must be in [16, 1024]")
    return dims[0], dims[1]


def _render_rect(identity_id: int, att: FaceAttributes, width: int, height: int, seed: int) -> Image.Image:
    # Render a square face and extend the background by edge replication, so a
    # centred square crop (as CelebA pipelines do) contains the whole face.
    side = min(width, height)
    face = render_face(identity_from_id(identity_id, seed), att, side)
    pad_y, pad_x = height - side, width - side
    face = np.pad(
        face,
        ((pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2), (0, 0)),
        mode="edge",
    )
    return Image.fromarray(face)


def _celeba_row(att: FaceAttributes) -> list[int]:
    truth = {
        "Black_Hair": att.hair == "black",
        "Blond_Hair": att.hair == "blond",
        "Brown_Hair": att.hair == "brown",
        "Male": att.male,
        "Young": att.young,
        "Smiling": att.expression == "happy",
        "No_Beard": not att.male,
        "Gray_Hair": not att.young,
    }
    return [1 if truth.get(name, False) else -1 for name in CELEBA_ATTRIBUTES]


def write_celeba(out: Path, num: int, width: int = 178, height: int = 218, seed: int = 0) -> None:
    """CelebA layout; identity ``i // 4`` is used for image ``i`` (0-based)."""
    img_dir = out / "img_align_celeba"
    img_dir.mkdir(parents=True, exist_ok=True)
    n_ids = math.ceil(num / IMAGES_PER_CELEBA_IDENTITY)
    # Split by identity so no test identity is ever seen during training.
    order = np.random.default_rng([seed, 11]).permutation(n_ids)
    split = np.empty(n_ids, np.int64)
    n_train, n_val = round(n_ids * 0.8), round(n_ids * 0.1)
    split[order[:n_train]] = 0
    split[order[n_train : n_train + n_val]] = 1
    split[order[n_train + n_val :]] = 2
    rng = np.random.default_rng([seed, 7])
    attr_lines = [str(num), " ".join(CELEBA_ATTRIBUTES)]
    part_lines, id_lines = [], []
    for i in range(num):
        name = f"{i + 1:06d}.jpg"
        iid = i // IMAGES_PER_CELEBA_IDENTITY
        att = random_attributes(rng)
        _render_rect(iid, att, width, height, seed).save(img_dir / name, quality=_JPEG_QUALITY)
        # The real file right-aligns values in two columns: "-1" and " 1".
        attr_lines.append(name + "".join(f" {v:2d}" for v in _celeba_row(att)))
        part_lines.append(f"{name} {split[iid]}")
        id_lines.append(f"{name} {iid}")
    for fname, lines in (
        ("list_attr_celeba.txt", attr_lines),
        ("list_eval_partition.txt", part_lines),
        ("identities.txt", id_lines),
    ):
        (out / fname).write_text("\n".join(lines) + "\n")


def rafd_filename(identity_id: int, male: bool, expression: str) -> str:
    """Official RaFD naming; the expression is field 4 of ``name.split('_')``."""
    gender = "male" if male else "female"
    return f"Rafd090_{identity_id:02d}_Caucasian_{gender}_{expression}_frontal.jpg"


def write_rafd(out: Path, num: int, width: int = 256, height: int = 256, seed: int = 0, layout: str = "flat") -> None:
    """RaFD layout: identities 1..ceil(num/8), all 8 expressions each, ``num`` files total.

    The number in the file name is the identity id passed to ``identity_from_id``.
    """
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for iid in range(1, math.ceil(num / len(EXPRESSIONS)) + 1):
        # RaFD models are adults photographed once: fixed gender/hair, young.
        rng = np.random.default_rng([seed, 2, iid])
        male = bool(rng.integers(2))
        hair = HAIR_COLORS[rng.integers(len(HAIR_COLORS))]
        for expr in EXPRESSIONS:
            if written == num:
                return
            att = FaceAttributes(hair=hair, male=male, young=True, expression=expr)
            target = out / expr if layout == "folders" else out
            target.mkdir(exist_ok=True)
            img = _render_rect(iid, att, width, height, seed)
            img.save(target / rafd_filename(iid, male, expr), quality=_JPEG_QUALITY)
            written += 1


# AffectNet's expression indices (0..7) for the synthetic expressions.
AFFECTNET_INDEX = {"neutral": 0, "happy": 1, "sad": 2, "surprised": 3, "fearful": 4, "disgusted": 5,
                   "angry": 6, "contemptuous": 7}
AFFECTNET_HEADER = ("subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
                    "expression,valence,arousal")


def write_affectnet(out: Path, num: int, width: int = 256, height: int = 256, seed: int = 0) -> None:
    """AffectNet layout: Manually_Annotated_Images/<sub>/<id>.jpg and training.csv with face boxes.

    Each face is pasted at a random place on a larger canvas, so only the
    annotated box crops it correctly; every 10th row has expression 8..10
    (none / uncertain / no face), which loaders must skip.
    """
    rng = np.random.default_rng([seed, 5])
    rows = [AFFECTNET_HEADER]
    for i in range(num):
        sub = f"{i // 50 + 1}"
        (out / "Manually_Annotated_Images" / sub).mkdir(parents=True, exist_ok=True)
        att = random_attributes(rng)
        side = int(min(width, height) * rng.uniform(0.5, 0.8))
        face = np.asarray(_render_rect(i, att, side, side, seed))
        canvas = np.full((height, width, 3), rng.integers(0, 256, size=3), np.uint8)
        x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        canvas[y: y + side, x: x + side] = face
        name = f"{sub}/{i:05d}.jpg"
        Image.fromarray(canvas).save(out / "Manually_Annotated_Images" / name, quality=_JPEG_QUALITY)
        expression = 8 + i % 3 if i % 10 == 9 else AFFECTNET_INDEX[att.expression]
        rows.append(f"{name},{x},{y},{side},{side},\"\",{expression},0.0,0.0")
    (out / "training.csv").write_text("\n".join(rows) + "\n")


def write_folder(out: Path, num: int, width: int = 64, height: int = 64, seed: int = 0) -> None:
    """ImageFolder layout: one folder per hair color (black/, blond/, brown/)."""
    rng = np.random.default_rng([seed, 3])
    for i in range(num):
        att = random_attributes(rng)
        (out / att.hair).mkdir(parents=True, exist_ok=True)
        _render_rect(i, att, width, height, seed).save(out / att.hair / f"{i:05d}.jpg", quality=_JPEG_QUALITY)


def write_csv(out: Path, num: int, width: int = 64, height: int = 64, seed: int = 0) -> None:
    """Multi-label layout: images/ and labels.csv "filename,Black_Hair,Blond_Hair,Brown_Hair,Male,Young" (0/1)."""
    rng = np.random.default_rng([seed, 4])
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = ["filename,Black_Hair,Blond_Hair,Brown_Hair,Male,Young"]
    for i in range(num):
        att = random_attributes(rng)
        name = f"images/{i:05d}.png"
        _render_rect(i, att, width, height, seed).save(out / name)
        values = [att.hair == h for h in HAIR_COLORS] + [att.male, att.young]
        rows.append(name + "," + ",".join(str(int(v)) for v in values))
    (out / "labels.csv").write_text("\n".join(rows) + "\n")


WRITERS = {"celeba": write_celeba, "affectnet": write_affectnet, "folder": write_folder, "csv": write_csv}
DEFAULT_SIZES = {"celeba": "178x218", "rafd": "256x256", "affectnet": "256x256", "folder": "64", "csv": "64"}


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the process exit status."""
    parser = _Parser(
        prog="python -m stargan_tf.data.synthetic",
        description="Write a synthetic face dataset in CelebA, RaFD, AffectNet or custom-data format.",
    )
    parser.add_argument("--format", required=True, help=", ".join(DEFAULT_SIZES))
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--num", required=True, type=int, help="number of images")
    parser.add_argument("--size", help="WIDTHxHEIGHT (default 178x218 celeba, 256x256 rafd and affectnet, "
                                       "64 folder and csv)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layout", default="flat", help="rafd only: flat or folders")
    try:
        args = parser.parse_args(argv)
        if args.format not in DEFAULT_SIZES:
            raise _UsageError(f"unknown --format {args.format!r}; valid: {', '.join(DEFAULT_SIZES)}")
        if args.num < 1:
            raise _UsageError(f"--num must be at least 1, got {args.num}")
        if args.layout not in ("flat", "folders"):
            raise _UsageError(f"unknown --layout {args.layout!r}; valid: flat, folders")
        if args.layout == "folders" and args.format != "rafd":
            raise _UsageError("--layout folders is only supported for --format rafd")
        width, height = parse_size(args.size or DEFAULT_SIZES[args.format])
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.format == "rafd":
            write_rafd(args.out, args.num, width, height, args.seed, args.layout)
        else:
            WRITERS[args.format](args.out, args.num, width, height, args.seed)
    except OSError as exc:
        print(f"error: cannot write to {args.out}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.num} {args.format} images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
