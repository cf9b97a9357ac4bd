"""RaFD (Radboud Faces Database): eight expressions, one categorical label.

Two layouts are read:
    flat      DIR/Rafd090_01_Caucasian_female_angry_frontal.jpg ... (the official names:
              field 0 is "Rafd" + camera angle, field 4 the expression)
    folders   DIR/angry/*.jpg, DIR/happy/*.jpg, ... (one folder per expression)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from stargan_tf.config import Config
from stargan_tf.data import synthetic
from stargan_tf.data.images import IMAGE_SUFFIXES, ImageRecord, records_to_source
from stargan_tf.data.pipeline import DataError, DataSource, dataset_root
from stargan_tf.labels import LabelLayout

EXPRESSIONS = synthetic.EXPRESSIONS  # alphabetical, as the folder names sort


def parse_name(name: str) -> tuple[str, int | None] | None:
    """(expression, camera angle) from an official RaFD file name; None if it is not one."""
    fields = Path(name).stem.split("_")
    if len(fields) < 5:
        return None
    angle = fields[0][4:] if fields[0].lower().startswith("rafd") else ""
    return fields[4].lower(), int(angle) if angle.isdigit() else None


def rafd_records(config: Config) -> list[ImageRecord]:
    c = config.data.rafd
    root = dataset_root(c.dir, "RaFD directory", "--rafd-dir", "data.rafd.dir")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if folders:
        unknown = [p.name for p in folders if p.name.lower() not in EXPRESSIONS]
        if unknown:
            raise DataError(f"RaFD folder {root / unknown[0]} is not an expression "
                            f"(valid folder names: {', '.join(EXPRESSIONS)})")
        files = [(f, p.name.lower()) for p in folders for f in sorted(p.iterdir()) if _is_image(f)]
    else:
        files, unnamed = [], []
        for f in sorted(root.iterdir()):
            if not _is_image(f):
                continue
            parsed = parse_name(f.name)
            if parsed is None or parsed[0] not in EXPRESSIONS:
                unnamed.append(f.name)
            else:
                files.append((f, parsed[0]))
        if unnamed:
            print(f"warning: RaFD: skipped {len(unnamed)} files without an expression in the official "
                  f"naming (Rafd090_01_Caucasian_female_angry_frontal.jpg): {', '.join(unnamed[:10])}",
                  file=sys.stderr)
    if c.angles:
        # Folder-layout files not in the official naming have no angle and are kept.
        files = [(f, e) for f, e in files if (parse_name(f.name) or ("", None))[1] in (None, *c.angles)]
    if not files:
        raise DataError(f"no RaFD images found in {root}"
                        + (f" for camera angles {c.angles}" if c.angles else ""))
    eye = np.eye(len(EXPRESSIONS), dtype=np.float32)
    return [ImageRecord(str(f), eye[EXPRESSIONS.index(e)]) for f, e in files]


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def load_rafd(config: Config, layout: LabelLayout, index: int) -> DataSource:
    c = config.data
    return records_to_source(
        rafd_records(config), layout, index, "RaFD", config.model.image_size, c.rafd.crop_size,
        c.test_size, config.train.num_sample_faces, c.strict, config.train.seed, c.decode_threads,
    )
