"""Custom data: one folder per domain (one-hot), or a label file (multi-label).

    ImageFolder   DIR/<domain>/*.jpg           domains = sub-folder names, sorted; one categorical group
    label file    LABELS: header "filename,attr1,attr2,..." (commas or whitespace), then one row
                  per image with 0/1 or -1/1 values; image paths are relative to DIR
The domain names are stored with the run (labels.json), so inference can address them by name.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from stargan_tf.config import Config
from stargan_tf.data.images import IMAGE_SUFFIXES, ImageRecord, records_to_source
from stargan_tf.data.pipeline import DataError, DataSource, dataset_root
from stargan_tf.labels import AttributeGroup, DatasetLabels, LabelLayout, categorical_labels

NAME = "folder"


def _root(config: Config) -> Path:
    return dataset_root(config.data.folder.dir, "image directory", "--folder-dir", "data.folder.dir")


def _split(line: str) -> list[str]:
    return [f.strip() for f in re.split(r"[,\s]+", line.strip()) if f.strip()]


def _read_label_file(path: Path) -> tuple[list[str], list[tuple[str, list[float]]]]:
    if not path.is_file():
        raise DataError(f"label file not found: {path}")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise DataError(f"label file {path} is empty")
    header = _split(lines[0])
    if len(header) < 2:
        raise DataError(f"{path} line 1: expected a header 'filename,attr1,attr2,...'")
    names = header[1:]
    if len(set(names)) != len(names):
        raise DataError(f"{path} line 1: repeated attribute names")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        fields = _split(line)
        if len(fields) != len(header):
            raise DataError(f"{path} line {number}: {len(fields) - 1} values for {len(names)} attributes")
        try:
            values = [float(v) for v in fields[1:]]
        except ValueError:
            raise DataError(f"{path} line {number}: values must be 0/1 or -1/1") from None
        if any(v not in (-1.0, 0.0, 1.0) for v in values):
            raise DataError(f"{path} line {number}: values must be 0/1 or -1/1")
        rows.append((fields[0], [1.0 if v > 0 else 0.0 for v in values]))
    if not rows:
        raise DataError(f"label file {path} lists no images")
    return names, rows


def _domains(root: Path) -> list[Path]:
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if len(folders) < 2:
        raise DataError(f"{root}: expected one sub-folder per domain (at least 2), found {len(folders)}; "
                        "or pass a label file with --labels-file")
    return folders


def folder_labels(config: Config) -> DatasetLabels:
    """The label layout part: read from the folder names or the label file's header."""
    root = _root(config)
    if config.data.folder.labels_file:
        names, _ = _read_label_file(Path(config.data.folder.labels_file).expanduser())
        return DatasetLabels(NAME, tuple(AttributeGroup("binary", (n,)) for n in names))
    return categorical_labels(NAME, [p.name for p in _domains(root)])


def folder_records(config: Config) -> list[ImageRecord]:
    root = _root(config)
    if config.data.folder.labels_file:
        path = Path(config.data.folder.labels_file).expanduser()
        _, rows = _read_label_file(path)
        if not any((root / name).exists() for name, _ in rows):
            raise DataError(f"none of the images listed in {path} is in {root}")
        return [ImageRecord(str(root / name), np.asarray(values, np.float32)) for name, values in rows]
    folders = _domains(root)
    eye = np.eye(len(folders), dtype=np.float32)
    records = [ImageRecord(str(f), eye[i]) for i, folder in enumerate(folders) for f in sorted(folder.iterdir())
               if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    empty = [f.name for f in folders if not any(f.iterdir())]
    if empty:
        raise DataError(f"domain folder {root / empty[0]} has no images")
    return records


def load_folder(config: Config, layout: LabelLayout, index: int) -> DataSource:
    c = config.data
    return records_to_source(
        folder_records(config), layout, index, f"images in {c.folder.dir}", config.model.image_size,
        c.folder.crop_size, c.test_size, config.train.num_sample_faces, c.strict, config.train.seed,
        c.decode_threads,
    )
