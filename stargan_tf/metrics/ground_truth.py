"""Held-out evaluation images, and on synthetic faces the exact ground truth of every translation.

The synthetic renderer draws any identity with any attributes, so the true
result of "make this held-out person blond" is simply the same identity
rendered blond. Pixels where that truth differs from the input are the
changed region; everything else must stay as it was.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from stargan_tf.config import Config
from stargan_tf.data import synthetic
from stargan_tf.data.pipeline import DataError
from stargan_tf.data.sources import (
    dataset_names,
    layout_for,
    load_source,
    synthetic_faces,
    synthetic_identities,
    synthetic_labels,
)
from stargan_tf.labels import LabelLayout

# Rendered faces are antialiased: differences of a couple of grey levels are resampling noise.
CHANGE_THRESHOLD = 3  # uint8 levels
# A stream of random attributes distinct from the one that drew the training set.
_EVAL_STREAM = 20_180_001


@dataclasses.dataclass
class EvalSet:
    """Held-out real images and their full label vectors; synthetic sets also know who and what is drawn."""

    images: np.ndarray  # uint8 [N, H, W, 3]
    labels: np.ndarray  # float32 [N, n_c]
    identity_ids: np.ndarray | None = None
    faces: list[synthetic.FaceAttributes] | None = None
    render_seed: int = 0

    @property
    def synthetic(self) -> bool:
        return self.faces is not None


def is_synthetic(config: Config) -> bool:
    return all(name.startswith("synthetic") for name in dataset_names(config))


def synthetic_eval_set(config: Config, num: int) -> EvalSet:
    """`num` faces per dataset of held-out identities (never trained on), with random attributes."""
    layout = layout_for(config)
    s = config.data.synthetic
    images, labels, ids, faces = [], [], [], []
    for index, name in enumerate(dataset_names(config)):
        _, held_out = synthetic_identities(config, index)
        per_identity = math.ceil(num / len(held_out))
        rng = np.random.default_rng([s.seed, index, _EVAL_STREAM])
        drawn = synthetic_faces(config, held_out, rng, name, per_identity)
        # Every identity appears before any appears twice, so a small `num` still spans many people.
        order = np.arange(len(drawn)).reshape(len(held_out), per_identity).T.ravel()[:num]
        people = np.repeat(np.asarray(held_out), per_identity)[order]
        chosen = [drawn[i] for i in order]
        images.append(synthetic.render_batch(people, chosen, size=config.model.image_size, seed=s.seed))
        labels.append(synthetic_labels(layout, chosen, index))
        ids.append(people)
        faces.extend(chosen)
    return EvalSet(np.concatenate(images), np.concatenate(labels), np.concatenate(ids), faces, s.seed)


def real_eval_set(config: Config, num: int) -> EvalSet:
    """Up to `num` held-out images per dataset from the loaders' test split."""
    datasets = len(dataset_names(config))
    train = dataclasses.replace(config.train, num_sample_faces=num * datasets)
    source = load_source(dataclasses.replace(config, train=train), log=lambda *_: None)
    return EvalSet(source.sample_images, source.sample_labels)


def eval_set(config: Config, num: int) -> EvalSet:
    """The held-out evaluation images of the configured dataset(s)."""
    if num < 2:
        raise DataError("the number of evaluation images must be >= 2")
    names = dataset_names(config)
    if is_synthetic(config):
        return synthetic_eval_set(config, num)
    if any(name.startswith("synthetic") for name in names):
        raise DataError("evaluating a joint run of synthetic and real datasets is not supported; "
                        "evaluate with one of them via --dataset")
    return real_eval_set(config, num)


def attributes_for(layout: LabelLayout, target: np.ndarray,
                   base: synthetic.FaceAttributes) -> synthetic.FaceAttributes:
    """The face a target label vector asks for: `base` with the target dataset's labels applied.

    Labels of the other dataset are unspecified (zero) in the target and so
    keep their source values, e.g. a CelebA-like face made happy keeps its hair.
    """
    dataset = int(layout.dataset_mask(target[None])[0].argmax())
    values = dict(zip(layout.domain_names, target[: layout.num_domains], strict=True))
    own = layout.datasets[dataset].names
    changes: dict[str, object] = {}
    hair = [h for h in synthetic.HAIR_COLORS if f"{h.capitalize()}_Hair" in own
            and values[f"{h.capitalize()}_Hair"] > 0.5]
    if hair:
        changes["hair"] = hair[0]
    if "Male" in own:
        changes["male"] = bool(values["Male"] > 0.5)
    if "Young" in own:
        changes["young"] = bool(values["Young"] > 0.5)
    expressions = [e for e in synthetic.EXPRESSIONS if e in own and values[e] > 0.5]
    if expressions:
        changes["expression"] = expressions[0]
    return dataclasses.replace(base, **changes)


def target_faces(layout: LabelLayout, data: EvalSet, targets: np.ndarray) -> list[synthetic.FaceAttributes]:
    if data.faces is None:
        raise ValueError("ground truth exists only for synthetic evaluation sets")
    return [attributes_for(layout, t, f) for t, f in zip(targets, data.faces, strict=True)]


def render_truth(data: EvalSet, faces: list[synthetic.FaceAttributes]) -> np.ndarray:
    """Each held-out identity rendered with its target attributes: uint8 [N, H, W, 3]."""
    size = data.images.shape[1]
    return synthetic.render_batch(data.identity_ids, faces, size=size, seed=data.render_seed)


def changed_pixels(source: np.ndarray, truth: np.ndarray, grow: int = 1) -> np.ndarray:
    """Where the true translation differs from the input (bool [N, H, W]), grown by `grow` pixels.

    Growing the region keeps the antialiased fringe of every changed shape
    out of the "unchanged" pixels used for identity preservation.
    """
    diff = np.abs(source.astype(np.int16) - truth.astype(np.int16)).max(axis=-1) > CHANGE_THRESHOLD
    return grow_region(diff, grow)


def grow_region(region: np.ndarray, pixels: int) -> np.ndarray:
    """A bool region [N, H, W] grown by `pixels` steps to the 4 neighbours of each of its pixels."""
    grown = region.copy()
    for _ in range(pixels):
        padded = np.pad(grown, ((0, 0), (1, 1), (1, 1)))
        grown = (padded[:, 1:-1, 1:-1] | padded[:, :-2, 1:-1] | padded[:, 2:, 1:-1]
                 | padded[:, 1:-1, :-2] | padded[:, 1:-1, 2:])
    return grown
