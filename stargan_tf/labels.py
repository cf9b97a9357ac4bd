"""The label layout: domain names, attribute groups and the mask vector.

This is the one place that knows how a domain label vector is laid out. Data
loaders build label vectors with it, the trainer takes the classification
loss's structure from it, sample grids and inference build targets by name
with it, and it is stored as JSON in every run directory and exported model.

Layout of the generator's label vector (paper Eq. 7):
    [labels of dataset 1, ..., labels of dataset n, mask (n, one-hot)]
The mask is present only with more than one dataset, so a single-dataset
model has exactly n_c = n_d inputs as in the paper's tables. The
discriminator's classifier predicts the first n_d entries (no mask).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# How a group of labels behaves:
#   binary      independent on/off attributes (Male, Young); sigmoid BCE.
#   exclusive   at most one on (CelebA hair colors: some faces have none);
#               sigmoid BCE, but targets always pick exactly one.
#   categorical exactly one on (RaFD expressions); softmax cross-entropy.
GROUP_KINDS = ("binary", "exclusive", "categorical")

HAIR_COLOR_ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")


@dataclasses.dataclass(frozen=True)
class AttributeGroup:
    kind: str
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.kind not in GROUP_KINDS:
            raise ValueError(f"unknown group kind {self.kind!r} (valid: {', '.join(GROUP_KINDS)})")
        if not self.names:
            raise ValueError("an attribute group needs at least one name")
        object.__setattr__(self, "names", tuple(self.names))


@dataclasses.dataclass(frozen=True)
class DatasetLabels:
    name: str
    groups: tuple[AttributeGroup, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(self.groups))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for g in self.groups for n in g.names)


@dataclasses.dataclass(frozen=True)
class GroupSlice:
    """Where a group sits in the label vector, for the loss functions."""

    kind: str
    start: int
    stop: int
    dataset: int


def celeba_style_labels(name: str, attributes: Sequence[str]) -> DatasetLabels:
    """Binary attributes; the hair colors among them form one exclusive group (kept in order)."""
    hair = tuple(a for a in attributes if a in HAIR_COLOR_ATTRIBUTES)
    groups: list[AttributeGroup] = []
    for attribute in attributes:
        if attribute in hair:
            if attribute == hair[0]:
                groups.append(AttributeGroup("exclusive" if len(hair) > 1 else "binary", hair))
            continue
        groups.append(AttributeGroup("binary", (attribute,)))
    positions = [list(attributes).index(a) for a in hair]
    if positions and positions != list(range(positions[0], positions[0] + len(hair))):
        # A group occupies one contiguous slice, and the vector keeps the user's order.
        raise ValueError("hair color attributes must be listed next to each other")
    return DatasetLabels(name, tuple(groups))


def categorical_labels(name: str, categories: Sequence[str]) -> DatasetLabels:
    return DatasetLabels(name, (AttributeGroup("categorical", tuple(categories)),))


@dataclasses.dataclass(frozen=True)
class LabelLayout:
    datasets: tuple[DatasetLabels, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "datasets", tuple(self.datasets))
        if not self.datasets:
            raise ValueError("a label layout needs at least one dataset")
        seen: set[str] = set()
        for dataset in self.datasets:
            for name in dataset.names:
                if name in seen:
                    raise ValueError(f"domain name {name!r} appears twice in the label layout")
                seen.add(name)

    # -- sizes and positions -------------------------------------------------
    @property
    def domain_names(self) -> tuple[str, ...]:
        return tuple(n for d in self.datasets for n in d.names)

    @property
    def num_domains(self) -> int:
        """n_d: the discriminator classifier's outputs."""
        return len(self.domain_names)

    @property
    def has_mask(self) -> bool:
        return len(self.datasets) > 1

    @property
    def label_dim(self) -> int:
        """n_c: the generator's label inputs (n_d plus the mask with several datasets)."""
        return self.num_domains + (len(self.datasets) if self.has_mask else 0)

    def dataset_offsets(self) -> list[int]:
        offsets, start = [], 0
        for dataset in self.datasets:
            offsets.append(start)
            start += len(dataset.names)
        return offsets

    def group_slices(self) -> tuple[GroupSlice, ...]:
        slices, start = [], 0
        for index, dataset in enumerate(self.datasets):
            for group in dataset.groups:
                slices.append(GroupSlice(group.kind, start, start + len(group.names), index))
                start += len(group.names)
        return tuple(slices)

    def dataset_of(self, domain: str) -> int:
        for index, dataset in enumerate(self.datasets):
            if domain in dataset.names:
                return index
        raise KeyError(domain)

    # -- building label vectors ---------------------------------------------
    def unify(self, labels: np.ndarray, dataset: int = 0) -> np.ndarray:
        """Places one dataset's labels [N, len] into full label vectors [N, n_c] (zeros + mask)."""
        labels = np.asarray(labels, np.float32)
        expected = len(self.datasets[dataset].names)
        if labels.ndim != 2 or labels.shape[1] != expected:
            raise ValueError(f"expected labels of shape [N, {expected}] for dataset "
                             f"{self.datasets[dataset].name!r}, got {labels.shape}")
        out = np.zeros((labels.shape[0], self.label_dim), np.float32)
        offset = self.dataset_offsets()[dataset]
        out[:, offset: offset + expected] = labels
        if self.has_mask:
            out[:, self.num_domains + dataset] = 1.0
        return out

    def dataset_mask(self, labels: np.ndarray) -> np.ndarray:
        """Which dataset each full label vector belongs to, one-hot [N, n_datasets]."""
        labels = np.asarray(labels, np.float32)
        if not self.has_mask:
            return np.ones((labels.shape[0], 1), np.float32)
        return labels[:, self.num_domains:]

    def sample_targets(self, rng: np.random.Generator, n: int, dataset: int = 0) -> np.ndarray:
        """Random valid target labels: binary attributes flip a coin, groups pick one member."""
        own = []
        for group in self.datasets[dataset].groups:
            if group.kind == "binary":
                own.append(rng.integers(0, 2, size=(n, len(group.names))).astype(np.float32))
            else:
                own.append(np.eye(len(group.names), dtype=np.float32)[rng.integers(0, len(group.names), size=n)])
        return self.unify(np.concatenate(own, axis=1), dataset)

    def grid_targets(self, source: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """One column per domain for sample grids: (column title, target labels [N, n_c]).

        For a source face, a binary attribute is flipped, a group member is
        switched on (others off), and everything else is kept - the rule of
        the paper's figures. Domains of another dataset get that dataset's
        mask and its other labels at zero (e.g. a CelebA face made happy);
        `target_defined` says for which faces that is the whole request.
        """
        source = np.asarray(source, np.float32)
        source_dataset = self.dataset_mask(source).argmax(axis=1) if self.has_mask else np.zeros(len(source), int)
        columns = []
        offsets = self.dataset_offsets()
        for index, dataset in enumerate(self.datasets):
            group_start = offsets[index]
            for group in dataset.groups:
                for j, name in enumerate(group.names):
                    target = source.copy()
                    foreign = source_dataset != index
                    if self.has_mask:
                        target[foreign, :self.num_domains] = 0.0
                        target[:, self.num_domains:] = 0.0
                        target[:, self.num_domains + index] = 1.0
                    position = group_start + j
                    if group.kind == "binary":
                        target[:, position] = np.where(foreign, 1.0, 1.0 - (source[:, position] > 0.5))
                    else:
                        target[:, group_start: group_start + len(group.names)] = 0.0
                        target[:, position] = 1.0
                    columns.append((name, target))
                group_start += len(group.names)
        return columns

    def target_defined(self, source: np.ndarray, domain: str) -> np.ndarray:
        """Per source label vector [N, n_c]: is the `grid_targets` column for `domain` a complete request?

        It is for faces of the domain's own dataset. A face of another dataset
        has no labels in the domain's dataset, so its target is complete only
        when choosing the domain fixes every label there: the dataset is one
        categorical or exclusive group, or one binary attribute. A CelebA face
        can be made happy, but an RaFD face cannot be made "Male": the zeros
        its target would carry for hair color and age ask for "no hair color,
        old", which is not part of the request, and training never pairs an
        RaFD face with CelebA labels. Metrics and grids leave such pairs out.
        """
        index = self.dataset_of(domain)
        own = self.dataset_mask(source).argmax(axis=1) == index
        groups = self.datasets[index].groups
        complete = len(groups) == 1 and (groups[0].kind != "binary" or len(groups[0].names) == 1)
        return own | complete

    def encode(self, values: Mapping[str, float], base: np.ndarray | None = None) -> np.ndarray:
        """A label vector [n_c] from {domain name: value}, starting from `base` (zeros by default).

        Setting a member of an exclusive/categorical group to a positive value
        clears the other members, so groups stay one-hot.
        """
        vector = np.zeros(self.label_dim, np.float32) if base is None else np.array(base, np.float32)
        names = self.domain_names
        touched: set[int] = set()
        for name in values:
            if name not in names:
                raise KeyError(name)
            touched.add(self.dataset_of(name))
        if self.has_mask and len(touched) > 1:
            raise ValueError("targets name domains of several datasets; a label can use one dataset at a time")
        offsets = self.dataset_offsets()
        for name, value in values.items():
            index = self.dataset_of(name)
            start = offsets[index]
            for group in self.datasets[index].groups:
                if name in group.names:
                    if group.kind != "binary" and value > 0:
                        vector[start: start + len(group.names)] = 0.0
                    vector[start + group.names.index(name)] = float(value)
                start += len(group.names)
        if self.has_mask and touched:
            (index,) = touched
            vector[self.num_domains:] = 0.0
            vector[self.num_domains + index] = 1.0
        return vector

    # -- persistence ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "datasets": [
                {"name": d.name, "groups": [{"kind": g.kind, "names": list(g.names)} for g in d.groups]}
                for d in self.datasets
            ],
            "domain_names": list(self.domain_names),
            "num_domains": self.num_domains,
            "label_dim": self.label_dim,
            "mask": [d.name for d in self.datasets] if self.has_mask else [],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelLayout:
        return cls(tuple(
            DatasetLabels(d["name"], tuple(AttributeGroup(g["kind"], tuple(g["names"])) for g in d["groups"]))
            for d in data["datasets"]
        ))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> LabelLayout:
        return cls.from_dict(json.loads(text))
