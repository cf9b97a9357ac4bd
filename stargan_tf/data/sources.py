"""Datasets by name: the label layout each one implies, and its training examples."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from stargan_tf.config import DATASET_NAMES, Config
from stargan_tf.data import synthetic
from stargan_tf.data.pipeline import DataError, DataSource, joint_source
from stargan_tf.labels import DatasetLabels, LabelLayout, categorical_labels, celeba_style_labels

DATASETS = DATASET_NAMES
RAFD_EXPRESSIONS = synthetic.EXPRESSIONS  # RaFD's eight expressions in alphabetical (folder) order
SYNTHETIC_ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
# Synthetic datasets trained jointly draw their people from disjoint identity ranges.
_JOINT_IDENTITY_OFFSET = 1_000_000


def dataset_names(config: Config) -> list[str]:
    """The datasets a run trains on, in label order (two for "both")."""
    return list(config.data.datasets) if config.data.dataset == "both" else [config.data.dataset]


def dataset_labels(config: Config, name: str) -> DatasetLabels:
    """One dataset's part of the label layout (folder datasets read their folder names or header)."""
    if name in ("synthetic", "celeba"):
        attributes = list(config.data.attributes)
        if name == "synthetic":
            unknown = [a for a in attributes if a not in SYNTHETIC_ATTRIBUTES]
            if unknown:
                raise DataError(f"synthetic faces have no attribute {unknown[0]!r} "
                                f"(valid: {', '.join(SYNTHETIC_ATTRIBUTES)})")
        if not attributes:
            raise DataError("data.attributes is empty: select at least one attribute")
        try:
            return celeba_style_labels(name, attributes)
        except ValueError as err:
            raise DataError(str(err)) from None
    if name in ("synthetic-rafd", "rafd"):
        return categorical_labels("rafd", RAFD_EXPRESSIONS)
    if name == "affectnet":
        from stargan_tf.data.affectnet import EXPRESSIONS

        return categorical_labels("affectnet", EXPRESSIONS)
    if name == "folder":
        from stargan_tf.data.folder import folder_labels

        return folder_labels(config)
    raise DataError(f"unknown dataset {name!r} (valid: {', '.join(DATASETS)})")


def layout_for(config: Config) -> LabelLayout:
    """The label layout of the configured dataset(s), known without reading any images."""
    parts = [dataset_labels(config, name) for name in dataset_names(config)]
    try:
        return LabelLayout(tuple(parts))
    except ValueError as err:  # e.g. two datasets with a domain of the same name
        raise DataError(f"datasets {' and '.join(dataset_names(config))} cannot be trained jointly: {err}") from None


def synthetic_labels(layout: LabelLayout, faces: list[synthetic.FaceAttributes], index: int = 0) -> np.ndarray:
    """Full label vectors [N, n_c] of rendered faces, as members of dataset `index` of `layout`."""
    dataset = layout.datasets[index]
    truth = {
        "Black_Hair": lambda f: f.hair == "black",
        "Blond_Hair": lambda f: f.hair == "blond",
        "Brown_Hair": lambda f: f.hair == "brown",
        "Male": lambda f: f.male,
        "Young": lambda f: f.young,
        **{e: (lambda f, e=e: f.expression == e) for e in synthetic.EXPRESSIONS},
    }
    own = np.array([[float(truth[name](face)) for name in dataset.names] for face in faces], np.float32)
    return layout.unify(own, index)


def synthetic_faces(config: Config, identity_ids: range, rng: np.random.Generator,
                    kind: str | None = None, per_identity: int | None = None) -> list[synthetic.FaceAttributes]:
    """Attributes for each identity's images: CelebA-like sets vary hair/gender/age on a neutral face;
    RaFD-like sets keep each person's look and vary the expression."""
    kind = kind or config.data.dataset
    per_identity = per_identity or config.data.synthetic.images_per_identity
    faces = []
    for _ in identity_ids:
        if kind == "synthetic-rafd":
            look = synthetic.random_attributes(rng)
            for _ in range(per_identity):
                expression = synthetic.EXPRESSIONS[rng.integers(len(synthetic.EXPRESSIONS))]
                faces.append(synthetic.FaceAttributes(look.hair, look.male, look.young, expression))
        else:
            for _ in range(per_identity):
                face = synthetic.random_attributes(rng)
                faces.append(synthetic.FaceAttributes(face.hair, face.male, face.young, "neutral"))
    return faces


def synthetic_identities(config: Config, index: int = 0) -> tuple[range, range]:
    """Identity ids of synthetic dataset `index`: (training people, held-out people)."""
    s = config.data.synthetic
    first = index * _JOINT_IDENTITY_OFFSET
    train_ids = range(first, first + s.num_identities)
    # Held-out people: identity numbers after the training ones.
    return train_ids, range(train_ids.stop, train_ids.stop + max(s.test_identities, 1))


def _synthetic_source(config: Config, layout: LabelLayout, index: int = 0, kind: str | None = None) -> DataSource:
    s = config.data.synthetic
    if s.num_identities < 1 or s.images_per_identity < 1:
        raise DataError("data.synthetic.num_identities and images_per_identity must be >= 1")
    size = config.model.image_size
    rng = np.random.default_rng([s.seed, index] if index else s.seed)
    train_ids, test_ids = synthetic_identities(config, index)
    train_faces = synthetic_faces(config, train_ids, rng, kind)
    train_people = np.repeat(np.asarray(train_ids), s.images_per_identity)
    images = synthetic.render_batch(train_people, train_faces, size=size, seed=s.seed)
    labels = synthetic_labels(layout, train_faces, index)

    n = config.train.num_sample_faces
    test_faces = synthetic_faces(config, test_ids, rng, kind)
    test_people = np.repeat(np.asarray(test_ids), s.images_per_identity)
    # One face per held-out person, as many as the grid needs.
    pick = np.arange(0, len(test_faces), s.images_per_identity)[:n]
    sample_images = synthetic.render_batch(test_people[pick], [test_faces[i] for i in pick], size=size, seed=s.seed)
    return DataSource(
        layout=layout,
        examples=tf.data.Dataset.from_tensor_slices((images, labels)),
        num_examples=len(images),
        sample_images=sample_images,
        sample_labels=synthetic_labels(layout, [test_faces[i] for i in pick], index),
    )


def _load_one(config: Config, layout: LabelLayout, index: int, name: str) -> DataSource:
    if name.startswith("synthetic"):
        return _synthetic_source(config, layout, index, name)
    if name == "celeba":
        from stargan_tf.data.celeba import load_celeba as loader
    elif name == "rafd":
        from stargan_tf.data.rafd import load_rafd as loader
    elif name == "affectnet":
        from stargan_tf.data.affectnet import load_affectnet as loader
    else:
        from stargan_tf.data.folder import load_folder as loader
    return loader(config, layout, index)


def _cache_key(config: Config, layout: LabelLayout, index: int, name: str) -> dict:
    """What a dataset's preprocessed shards depend on; any change rewrites them."""
    d = config.data
    settings = dataclasses.asdict(getattr(d, name.replace("synthetic-rafd", "synthetic")))
    for key in ("dir", "csv", "labels_file", "tfds_dir"):
        if settings.get(key):
            settings[key] = str(Path(settings[key]).expanduser().resolve())
    return {"dataset": name, "index": index, "image_size": config.model.image_size, "layout": layout.to_dict(),
            "attributes": list(d.attributes), "settings": settings, "test_size": d.test_size,
            "seed": config.train.seed}


def load_source(config: Config, log=print) -> DataSource:
    """Reads (or renders) the configured dataset(s). Raises DataError with a one-line message."""
    layout = layout_for(config)
    names = dataset_names(config)
    parts = []
    for index, name in enumerate(names):
        part = _load_one(config, layout, index, name)
        if config.data.tfrecord_dir:
            from stargan_tf.data.tfrecords import cached

            directory = Path(config.data.tfrecord_dir).expanduser() / name
            part = cached(part, directory, _cache_key(config, layout, index, name), log=log)
        parts.append(part)
    if len(parts) == 1:
        return parts[0]
    return joint_source(parts, config.train.num_sample_faces)
