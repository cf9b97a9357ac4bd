"""Measures a generator's translations of held-out images: every metric of `python -m stargan_tf.evaluate`.

Each held-out image x with labels c is translated to every domain of the
label layout with the sample grids' rule (`LabelLayout.grid_targets`: a
binary attribute is flipped, a group member is switched on, everything else
kept), then translated back to c for the reconstruction error. Pairs whose
target is not a complete request (`LabelLayout.target_defined`: an RaFD face
given CelebA attributes) are left out of every metric.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from stargan_tf.data.pipeline import from_uint8, to_uint8
from stargan_tf.labels import LabelLayout
from stargan_tf.metrics import fid, ground_truth
from stargan_tf.metrics.classifier import decide, domain_accuracy, predict_logits
from stargan_tf.metrics.image_metrics import l1_per_image, psnr_per_image

Translate = Callable[[np.ndarray, np.ndarray], np.ndarray]


def generator_translate(generator: Any, batch_size: int = 32) -> Translate:
    """A batched numpy function (images [-1, 1], labels) -> images [-1, 1] around a Keras generator."""

    def run(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        out = [np.asarray(generator((np.asarray(images[i: i + batch_size], np.float32),
                                     np.asarray(labels[i: i + batch_size], np.float32)), training=False))
               for i in range(0, len(images), batch_size)]
        return np.concatenate(out)

    return run


def target_hits(layout: LabelLayout, decisions: np.ndarray, targets: np.ndarray, domain: str) -> np.ndarray:
    """Per image: does the judge see `domain` as the target asks (on/off for binary, chosen member for groups)?"""
    position = layout.domain_names.index(domain)
    for group in layout.group_slices():
        if group.start <= position < group.stop:
            if group.kind == "binary":
                return decisions[:, position] == (targets[:, position] > 0.5)
            return decisions[:, group.start: group.stop].argmax(axis=1) == position - group.start
    raise KeyError(domain)


def kept_hits(layout: LabelLayout, decisions: np.ndarray, sources: np.ndarray, targets: np.ndarray,
              domain: str) -> np.ndarray:
    """Per image: are the target dataset's other attributes (not `domain`'s group) still judged as before?

    Only images of the target's own dataset count (elsewhere those labels are unknown); NaN marks the rest.
    """
    position = layout.domain_names.index(domain)
    own = layout.dataset_mask(sources).argmax(axis=1)
    target_dataset = layout.dataset_mask(targets).argmax(axis=1)
    ok = np.ones(len(sources), bool)
    for group in layout.group_slices():
        if group.start <= position < group.stop:
            continue
        part = slice(group.start, group.stop)
        if group.kind == "binary":
            same = (decisions[:, part] == (sources[:, part] > 0.5)).all(axis=1)
        else:
            has_member = sources[:, part].max(axis=1) > 0.5  # CelebA faces may have no listed hair color
            same = ~has_member | (decisions[:, part].argmax(axis=1) == sources[:, part].argmax(axis=1))
        ok &= same | (own != group.dataset)
    return np.where(own == target_dataset, ok.astype(float), np.nan)


def _mean(values: list[np.ndarray] | np.ndarray) -> float | None:
    flat = np.concatenate([np.ravel(v) for v in values]) if isinstance(values, list) else np.ravel(values)
    flat = flat[~np.isnan(flat)]
    return float(flat.mean()) if flat.size else None


def evaluate_translations(
    translate: Translate,
    layout: LabelLayout,
    data: ground_truth.EvalSet,
    classifier: Any | None = None,
    extractor: fid.FeatureExtractor | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """All metrics of one generator on one evaluation set, as a JSON-ready dict (see docs/evaluation.md)."""
    all_x, all_sources = from_uint8(data.images), np.asarray(data.labels, np.float32)
    per: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    fid_name, kid_name = fid.distance_names(extractor) if extractor is not None else (None, None)
    fake_features: dict[str, np.ndarray] = {}
    result: dict[str, Any] = {"num_images": len(all_x), "domains": list(layout.domain_names)}

    if classifier is not None:
        real_decisions = decide(layout, predict_logits(classifier, all_x))
        real = domain_accuracy(layout, real_decisions, all_sources)
        result["classifier_real_accuracy"] = real
        result["classifier_real_accuracy_mean"] = _mean(np.array(list(real.values())))

    for domain, all_targets in layout.grid_targets(all_sources):
        defined = layout.target_defined(all_sources, domain)
        if not defined.any():
            continue
        pair = subset(data, defined)
        x, sources, targets = all_x[defined], pair.labels, all_targets[defined]
        y = translate(x, targets)
        rec = translate(y, sources)
        stats = per[domain]
        stats["reconstruction_l1"].append(l1_per_image(x, rec))
        stats["input_output_l1"].append(l1_per_image(x, y))
        if classifier is not None:
            decisions = decide(layout, predict_logits(classifier, y))
            stats["target_accuracy"].append(target_hits(layout, decisions, targets, domain).astype(float))
            stats["kept_accuracy"].append(kept_hits(layout, decisions, sources, targets, domain))
        if pair.synthetic:
            wanted = ground_truth.target_faces(layout, pair, targets)
            changed = np.array([w != f for w, f in zip(wanted, pair.faces, strict=True)])
            truth_u8 = ground_truth.render_truth(pair, wanted)
            truth = from_uint8(truth_u8)
            # Only translations that really change the face: "Black_Hair" on a black-haired face is a no-op.
            nan = np.full(len(x), np.nan)
            stats["gt_l1"].append(np.where(changed, l1_per_image(y, truth), nan))
            stats["gt_psnr"].append(np.where(changed, psnr_per_image(y, truth), nan))
            stats["baseline_l1"].append(np.where(changed, l1_per_image(x, truth), nan))
            stats["baseline_psnr"].append(np.where(changed, psnr_per_image(x, truth), nan))
            keep = ~ground_truth.changed_pixels(pair.images, truth_u8)
            stats["identity_l1"].append(l1_per_image(x, y, keep))
            stats["identity_psnr"].append(psnr_per_image(x, y, keep))
        if extractor is not None:
            position = layout.domain_names.index(domain)
            shows = targets[:, position] > 0.5  # translations that should now show this domain
            if shows.sum() >= 2:
                fake_features[domain] = extractor(y[shows])
        log(f"  evaluated target {domain}")

    by_domain: dict[str, dict[str, float | None]] = {
        domain: {name: _mean(values) for name, values in stats.items()} for domain, stats in per.items()}
    result["per_domain"] = by_domain
    for name in next(iter(per.values())):
        result[name] = _mean([v for stats in per.values() for v in stats[name]])
    if classifier is not None:
        accuracies = [d["target_accuracy"] for d in by_domain.values() if d["target_accuracy"] is not None]
        result["target_accuracy_mean"] = float(np.mean(accuracies))  # over domains, each counted once
        result["target_accuracy_min"] = float(np.min(accuracies))
        result.pop("target_accuracy")
    if data.synthetic:
        result["gt_l1_ratio"] = result["gt_l1"] / result["baseline_l1"] if result["baseline_l1"] else None
    if extractor is not None:
        result.update(_feature_distances(layout, all_x, all_sources, fake_features, extractor, fid_name,
                                         kid_name))
    return result


def subset(data: ground_truth.EvalSet, keep: np.ndarray) -> ground_truth.EvalSet:
    """The images (and synthetic identities) where `keep` is true."""
    index = np.flatnonzero(keep)
    return dataclasses.replace(
        data, images=data.images[index], labels=np.asarray(data.labels, np.float32)[index],
        identity_ids=None if data.identity_ids is None else data.identity_ids[index],
        faces=None if data.faces is None else [data.faces[i] for i in index])


def _feature_distances(layout: LabelLayout, x: np.ndarray, sources: np.ndarray, fakes: dict[str, np.ndarray],
                       extractor: fid.FeatureExtractor, fid_name: str, kid_name: str) -> dict[str, Any]:
    """Translated images that should show a domain vs real held-out images that do, per domain and pooled."""
    real = extractor(x)
    own = layout.dataset_mask(sources).argmax(axis=1)
    per_domain: dict[str, dict[str, float]] = {}
    for domain, fake in fakes.items():
        position = layout.domain_names.index(domain)
        reference = real[(sources[:, position] > 0.5) & (own == layout.dataset_of(domain))]
        if len(reference) >= 2:
            kid_mean, _ = fid.kernel_distance(reference, fake)
            per_domain[domain] = {fid_name: fid.frechet_distance_of(reference, fake), kid_name: kid_mean}
    pooled = np.concatenate(list(fakes.values()))
    kid_mean, kid_std = fid.kernel_distance(real, pooled)
    return {
        fid_name: fid.frechet_distance_of(real, pooled),
        kid_name: kid_mean,
        f"{kid_name}_std": kid_std,
        f"{fid_name}_per_domain": per_domain,
        "feature_extractor": extractor.name,
    }


def sample_grid(translate: Translate, layout: LabelLayout, data: ground_truth.EvalSet, rows: int) -> np.ndarray:
    """A grid of the first held-out faces of each dataset: input, then every target domain."""
    from stargan_tf.grid import domain_grid

    own = layout.dataset_mask(data.labels).argmax(axis=1)
    per_dataset = max(rows // len(layout.datasets), 1)
    pick = np.concatenate([np.flatnonzero(own == d)[:per_dataset] for d in range(len(layout.datasets))])
    images = from_uint8(data.images[pick])
    grid = domain_grid(translate, images, data.labels[pick], layout)
    return grid if grid.dtype == np.uint8 else to_uint8(grid)
