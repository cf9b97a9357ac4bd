"""AffectNet: images plus its CSV annotation file, cropped to the annotated face box.

The CSV has a header naming its columns; the ones read are
    subDirectory_filePath   image path relative to the image root
    face_x, face_y, face_width, face_height   face box in pixels (optional: center crop without it)
    expression              0..7 = neutral, happy, sad, surprise, fear, disgust, anger, contempt;
                            8..10 (none, uncertain, no face) are skipped
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from stargan_tf.config import Config
from stargan_tf.data.images import ImageRecord, records_to_source
from stargan_tf.data.pipeline import DataError, DataSource, dataset_root
from stargan_tf.labels import LabelLayout

EXPRESSIONS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
PATH_COLUMN = "subDirectory_filePath"
BOX_COLUMNS = ("face_x", "face_y", "face_width", "face_height")
LABEL_COLUMN = "expression"


def csv_path(config: Config) -> Path:
    c = config.data.affectnet
    return Path(c.csv).expanduser() if c.csv else Path(c.dir).expanduser() / "training.csv"


def affectnet_records(config: Config) -> list[ImageRecord]:
    c = config.data.affectnet
    root = dataset_root(c.dir, "AffectNet image directory", "--affectnet-dir", "data.affectnet.dir")
    path = csv_path(config)
    if not path.is_file():
        raise DataError(f"AffectNet annotation file not found: {path} (pass --affectnet-csv FILE)")
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        for column in (PATH_COLUMN, LABEL_COLUMN):
            if column not in header:
                raise DataError(f"{path}: no column {column!r} in the header (found: {', '.join(header)})")
        at = {name: header.index(name) for name in header}
        has_box = all(name in at for name in BOX_COLUMNS)
        eye = np.eye(len(EXPRESSIONS), dtype=np.float32)
        records, other = [], 0
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < len(header):
                raise DataError(f"{path} line {number}: {len(row)} fields, the header has {len(header)}")
            try:
                expression = int(row[at[LABEL_COLUMN]])
                box = tuple(int(float(row[at[n]])) for n in BOX_COLUMNS) if has_box else None
            except ValueError:
                raise DataError(f"{path} line {number}: expression and face box must be numbers") from None
            if not 0 <= expression < len(EXPRESSIONS):
                other += 1  # none / uncertain / no face: not a domain
                continue
            if box is not None and (box[2] <= 0 or box[3] <= 0):
                box = None
            records.append(ImageRecord(str(root / row[at[PATH_COLUMN]]), eye[expression], box))
    if other:
        print(f"AffectNet: left out {other} rows with expression >= 8 (none, uncertain, no face)", file=sys.stderr)
    if not records:
        raise DataError(f"{path}: no rows with an expression in 0..7")
    return records


def load_affectnet(config: Config, layout: LabelLayout, index: int) -> DataSource:
    c = config.data
    return records_to_source(
        affectnet_records(config), layout, index, "AffectNet", config.model.image_size,
        c.affectnet.crop_size, c.test_size, config.train.num_sample_faces, c.strict, config.train.seed,
        c.decode_threads,
    )
