"""Datasets by name: the label layout each one implies, and its training examples."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from stargan_tf.config import Config
from stargan_tf.data import synthetic
from stargan_tf.data.pipeline import DataError, DataSource
from stargan_tf.labels import LabelLayout, categorical_labels, celeba_style_labels

DATASETS = ("synthetic", "synthetic-rafd", "celeba", "rafd")
RAFD_EXPRESSIONS = synthetic.EXPRESSIONS  # RaFD's eight expressions in alphabetical (folder) order
SYNTHETIC_ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")


def layout_for(config: Config) -> LabelLayout:
    """The label layout of the configured dataset, known without reading any data."""
    name = config.data.dataset
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
            return LabelLayout((celeba_style_labels("celeba" if name == "celeba" else "synthetic", attributes),))
        except ValueError as err:
            raise DataError(str(err)) from None
    if name in ("synthetic-rafd", "rafd"):
        return LabelLayout((categorical_labels("rafd", RAFD_EXPRESSIONS),))
    raise DataError(f"unknown dataset {name!r} (valid: {', '.join(DATASETS)})")


def _synthetic_labels(layout: LabelLayout, faces: list[synthetic.FaceAttributes]) -> np.ndarray:
    (dataset,) = layout.datasets
    truth = {
        "Black_Hair": lambda f: f.hair == "black",
        "Blond_Hair": lambda f: f.hair == "blond",
        "Brown_Hair": lambda f: f.hair == "brown",
        "Male": lambda f: f.male,
        "Young": lambda f: f.young,
        **{e: (lambda f, e=e: f.expression == e) for e in synthetic.EXPRESSIONS},
    }
    own = np.array([[float(truth[name](face)) for name in dataset.names] for face in faces], np.float32)
    return layout.unify(own)


def synthetic_faces(config: Config, identity_ids: range, rng: np.random.Generator) -> list[synthetic.FaceAttributes]:
    """Attributes for each identity's images: CelebA-like sets vary hair/gender/age on a neutral face;
    RaFD-like sets keep each person's look and vary the expression."""
    per_identity = config.data.synthetic.images_per_identity
    faces = []
    for _ in identity_ids:
        if config.data.dataset == "synthetic-rafd":
            look = synthetic.random_attributes(rng)
            for _ in range(per_identity):
                expression = synthetic.EXPRESSIONS[rng.integers(len(synthetic.EXPRESSIONS))]
                faces.append(synthetic.FaceAttributes(look.hair, look.male, look.young, expression))
        else:
            for _ in range(per_identity):
                face = synthetic.random_attributes(rng)
                faces.append(synthetic.FaceAttributes(face.hair, face.male, face.young, "neutral"))
    return faces


def _synthetic_source(config: Config, layout: LabelLayout) -> DataSource:
    s = config.data.synthetic
    size = config.model.image_size
    rng = np.random.default_rng(s.seed)
    train_ids = range(s.num_identities)
    # Held-out people: identity numbers after the training ones.
    test_ids = range(s.num_identities, s.num_identities + max(s.test_identities, 1))
    train_faces = synthetic_faces(config, train_ids, rng)
    train_people = np.repeat(np.asarray(train_ids), s.images_per_identity)
    images = synthetic.render_batch(train_people, train_faces, size=size, seed=s.seed)
    labels = _synthetic_labels(layout, train_faces)

    n = config.train.num_sample_faces
    test_faces = synthetic_faces(config, test_ids, rng)
    test_people = np.repeat(np.asarray(test_ids), s.images_per_identity)
    # One face per held-out person, as many as the grid needs.
    pick = np.arange(0, len(test_faces), s.images_per_identity)[:n]
    sample_images = synthetic.render_batch(test_people[pick], [test_faces[i] for i in pick], size=size, seed=s.seed)
    return DataSource(
        layout=layout,
        examples=tf.data.Dataset.from_tensor_slices((images, labels)),
        num_examples=len(images),
        sample_images=sample_images,
        sample_labels=_synthetic_labels(layout, [test_faces[i] for i in pick]),
    )


def load_source(config: Config) -> DataSource:
    """Reads (or renders) the configured dataset. Raises DataError with a one-line message."""
    layout = layout_for(config)
    if config.data.dataset.startswith("synthetic"):
        if config.data.synthetic.num_identities < 1 or config.data.synthetic.images_per_identity < 1:
            raise DataError("data.synthetic.num_identities and images_per_identity must be >= 1")
        return _synthetic_source(config, layout)
    raise DataError(f"dataset {config.data.dataset!r} has no loader in this version; "
                    "train on 'synthetic' or 'synthetic-rafd'")
