"""How many steps does a configuration's D need to learn the domains from real faces alone?

    python -m benchmarks.d_classifier_speed --config configs/quality.yaml \
        --set data.dataset=synthetic-rafd --steps 800 [--eval-every 100] [--num 400] [--out results.json]

In a StarGAN, G is only told what a domain looks like once D's auxiliary
classifier D_cls has learned it. Here D is trained with its classification
term alone (Eq. 2, real images only): the config's network, batch size,
precision, Adam at a constant train.d_lr with its betas, and the random
translation of everything D sees (train.d_translation), but no G, no
adversarial term and no gradient penalty. Every `--eval-every` steps it prints
D_cls's mean accuracy over the domains on real faces of held-out identities
and its worst domain (decided and counted exactly as `python -m
stargan_tf.evaluate` judges translations; `--out` also keeps each domain's).
A full StarGAN's D_cls cannot be expected to learn sooner. D's initial
weights and the translations come from train.seed and the faces from
data.synthetic.seed; with train.deterministic the run replays bit-exactly on
the same machine and software.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from benchmarks.common import machine, synthetic_config, usage_error, write_json


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/quality.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--num", type=int, default=400, help="held-out faces to evaluate on")
    parser.add_argument("--out", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.eval_every < 1 or args.num < 2:
        usage_error("--steps and --eval-every must be >= 1 and --num >= 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import keras
    import tensorflow as tf

    from stargan_tf.augment import random_translation
    from stargan_tf.data import synthetic
    from stargan_tf.data.pipeline import from_uint8
    from stargan_tf.data.sources import (
        layout_for,
        synthetic_faces,
        synthetic_identities,
        synthetic_labels,
    )
    from stargan_tf.distribute import precision_policy, seed_everything
    from stargan_tf.losses import classification_loss
    from stargan_tf.metrics import ground_truth
    from stargan_tf.metrics.classifier import decide, domain_accuracy, predict_logits
    from stargan_tf.models import build_networks

    config, (dataset,) = synthetic_config(args.config, args.overrides, "the D-classifier benchmark")
    seed_everything(config.train.seed, config.train.deterministic)
    layout, size, seed = layout_for(config), config.model.image_size, config.data.synthetic.seed
    train_ids, _ = synthetic_identities(config)
    rng = np.random.default_rng(seed)
    t, n_d = config.train, layout.num_domains
    groups = layout.group_slices()

    def batch() -> tuple[np.ndarray, np.ndarray]:
        """Real training faces of random training identities and their label vectors."""
        people = rng.choice(np.asarray(train_ids), t.batch_size)
        faces = synthetic_faces(config, range(t.batch_size), rng, dataset, per_identity=1)
        return from_uint8(synthetic.render_batch(people, faces, size, seed)), synthetic_labels(layout, faces)

    with precision_policy(t.precision):
        _, discriminator = build_networks(config.model, layout.label_dim, n_d)
    optimizer = keras.optimizers.Adam(t.d_lr, beta_1=t.beta1, beta_2=t.beta2)

    def logits(images: tf.Tensor, labels: tf.Tensor, training: bool) -> tf.Tensor:
        # A projection D also takes labels; they only enter D_src, never D_cls.
        inputs = (images, labels) if discriminator.label_dim else images
        return discriminator(inputs, training=training)[1]

    @tf.function
    def step(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        images = random_translation(images, t.d_translation)
        with tf.GradientTape() as tape:
            mask = labels[:, n_d:] if layout.has_mask else None
            loss = classification_loss(logits(images, labels, True), labels[:, :n_d], groups, mask)
        variables = discriminator.trainable_variables
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    held_out = ground_truth.eval_set(config, args.num)
    held_images, held_labels = from_uint8(held_out.images), held_out.labels.astype(np.float32)
    curve, begin = [], time.perf_counter()
    for i in range(1, args.steps + 1):
        loss = float(step(*batch()))
        if i % args.eval_every == 0 or i == args.steps:
            scores = predict_logits(
                lambda x, training: logits(x, tf.zeros((len(x), layout.label_dim)), training), held_images)
            accuracy = domain_accuracy(layout, decide(layout, scores), held_labels)
            mean = float(np.mean(list(accuracy.values())))
            worst = min(accuracy, key=accuracy.get)
            curve.append({"step": i, "train_loss": round(loss, 4), "accuracy_mean": round(mean, 4),
                          "accuracy_min": round(accuracy[worst], 4),
                          "accuracy": {name: round(float(value), 4) for name, value in accuracy.items()},
                          "seconds": round(time.perf_counter() - begin, 1)})
            print(f"step {i}: D_cls held-out accuracy {mean:.3f} (worst {worst} {accuracy[worst]:.3f}), "
                  f"loss {loss:.3f}", flush=True)
    write_json(args.out, {"config": args.config, "overrides": args.overrides, "machine": machine(),
                          "curve": curve})
    return 0


if __name__ == "__main__":
    sys.exit(main())
