"""How close can a configuration's generator get to the exact ground truth when it is shown the answer?

    python -m benchmarks.paired_bound --config configs/quality.yaml [--set data.dataset=synthetic-rafd] \
        --steps 1500 [--eval-every 500] [--num 200] [--constant-lr] [--relative] [--out results.json] \
        [--save-dir DIR]

StarGAN never sees the true translation of an image; here G does. On synthetic
faces the renderer draws each training identity before and after a random
target, and G is trained with plain L1 to the true rendering: the same network,
batch size and precision as the config, Adam with its betas and train.g_lr,
no D. As in training, the learning rate decays linearly to 0 over the config's
last train.decay_steps (scaled to --steps) and, when train.g_ema_decay > 0, the
weight average of G is what gets evaluated; --constant-lr trains at a constant
train.g_lr and evaluates the raw G instead. --relative divides each batch's
L1 by that batch's do-nothing L1 (input against truth), the quantity the
benchmark's ratio measures: without it, a joint config's expressions, whose
changes are a few pixels around the eyes and mouth, weigh about a ninth of
the hair, gender and age changes in the loss. A joint config (both synthetic datasets, mask
vector) alternates the datasets step by step as training does, each with
targets of its own dataset, and is evaluated on both. The
ground-truth L1 ratio it reaches in N steps (measured exactly as
`python -m stargan_tf.evaluate` measures it, on the same held-out identities) is
what that G can learn in N steps with a perfect training signal, so a StarGAN
trained N steps with the same G should not be expected to do better. It tells
whether a missed ground-truth target is the adversarial signal's fault or the
network's. G's initial weights come from train.seed and the faces from
data.synthetic.seed; with train.deterministic the run replays bit-exactly on
the same machine and software, so two runs that differ in one option compare
that option alone. --save-dir writes the evaluated G as a run directory
(config.yaml, labels.json, generator.keras), which `python -m stargan_tf.evaluate`
and `python -m benchmarks.gt_regions` read like a trained run's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import machine, refuse_existing_run, synthetic_config, usage_error, write_json


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/quality.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--num", type=int, default=200, help="held-out faces to evaluate on")
    parser.add_argument("--out", help="also write the results to this JSON file")
    parser.add_argument("--constant-lr", action="store_true",
                        help="constant train.g_lr and the raw G (no decay, no weight average)")
    parser.add_argument("--relative", action="store_true",
                        help="each batch's L1 divided by its do-nothing L1 (every dataset weighs alike)")
    parser.add_argument("--save-dir", help="write the evaluated G here as a run directory (must not hold one)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.eval_every < 1 or args.num < 2:
        usage_error("--steps and --eval-every must be >= 1 and --num >= 2")
    if args.save_dir:
        # Checked before training, so an hour's run never ends on it; an existing run is never overwritten.
        refuse_existing_run("--save-dir", Path(args.save_dir))
    return args


def save_run(save_dir: Path, config: Any, layout: Any, generator: Any, steps: int, decay: int) -> None:
    """The trained G as a run directory, its config recording the steps and decay it was trained with."""
    from stargan_tf.checkpoints import CONFIG_FILE, save_generator, write_layout
    from stargan_tf.config import save_config

    save_dir.mkdir(parents=True, exist_ok=True)
    config.train.num_steps, config.train.decay_steps = steps, decay
    save_config(config, save_dir / CONFIG_FILE)
    write_layout(layout, save_dir)
    save_generator(generator, save_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import keras
    import tensorflow as tf

    from stargan_tf.data import synthetic
    from stargan_tf.data.pipeline import from_uint8
    from stargan_tf.data.sources import layout_for, synthetic_faces, synthetic_identities
    from stargan_tf.distribute import precision_policy, seed_everything
    from stargan_tf.metrics import ground_truth
    from stargan_tf.metrics.translation import evaluate_translations, generator_translate
    from stargan_tf.models import generator_for
    from stargan_tf.trainer import LinearDecay, update_weight_average

    config, names = synthetic_config(args.config, args.overrides, "the paired bound", joint=True)
    seed_everything(config.train.seed, config.train.deterministic)
    layout, size, seed = layout_for(config), config.model.image_size, config.data.synthetic.seed
    train_ids = [np.asarray(synthetic_identities(config, index)[0]) for index in range(len(names))]
    rng = np.random.default_rng(seed)
    t = config.train

    def pairs(index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A training batch of dataset `index`: images, target labels and the true renderings of the targets."""
        people = rng.choice(train_ids[index], t.batch_size)
        faces = synthetic_faces(config, range(t.batch_size), rng, names[index], per_identity=1)
        targets = layout.sample_targets(rng, t.batch_size, dataset=index)
        wanted = [ground_truth.attributes_for(layout, c, f) for c, f in zip(targets, faces, strict=True)]
        return (from_uint8(synthetic.render_batch(people, faces, size, seed)), targets,
                from_uint8(synthetic.render_batch(people, wanted, size, seed)))

    averaged = t.g_ema_decay > 0 and not args.constant_lr
    with precision_policy(t.precision):
        generator = generator_for(config.model, layout.label_dim)
        average = generator_for(config.model, layout.label_dim) if averaged else None
    if average is not None:
        average.set_weights(generator.get_weights())
    evaluated = generator if average is None else average
    # The config's decay, as a fraction of its steps, over the same fraction of --steps.
    decay = 0 if args.constant_lr else round(t.decay_steps * args.steps / t.num_steps)
    optimizer = keras.optimizers.Adam(LinearDecay(t.g_lr, args.steps, decay), beta_1=t.beta1, beta_2=t.beta2)

    @tf.function
    def step(images: tf.Tensor, targets: tf.Tensor, truth: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(generator((images, targets), training=True) - truth))
            if args.relative:
                # A batch whose targets all equal its sources has nothing to draw: the floor keeps it finite.
                loss = loss / tf.maximum(tf.reduce_mean(tf.abs(images - truth)), 1e-3)
        variables = generator.trainable_variables
        optimizer.apply(tape.gradient(loss, variables), variables)
        if average is not None:
            update_weight_average(average, generator, t.g_ema_decay)
        return loss

    held_out = ground_truth.eval_set(config, args.num)
    curve, begin = [], time.perf_counter()
    for i in range(1, args.steps + 1):
        loss = float(step(*pairs((i - 1) % len(names))))
        if i % args.eval_every == 0 or i == args.steps:
            metrics = evaluate_translations(generator_translate(evaluated), layout, held_out, log=lambda *_: None)
            curve.append({"step": i, "train_loss": round(loss, 5), "gt_l1_ratio": round(metrics["gt_l1_ratio"], 4),
                          "reconstruction_l1": round(metrics["reconstruction_l1"], 4),
                          "seconds": round(time.perf_counter() - begin, 1)})
            print(f"step {i}: ground-truth L1 / do-nothing L1 {metrics['gt_l1_ratio']:.3f}", flush=True)
    schedule = "constant" if args.constant_lr else f"linear decay to 0 over the last {decay} steps"
    write_json(args.out, {"config": args.config, "overrides": args.overrides, "machine": machine(),
                          "learning_rate": schedule, "loss": "L1 / do-nothing L1" if args.relative else "L1",
                          "evaluated": "weight average" if average is not None else "raw G", "curve": curve})
    if args.save_dir:
        try:
            save_run(Path(args.save_dir), config, layout, evaluated, args.steps, decay)
        except OSError as err:  # the curve is already written; say why the run directory is not
            usage_error(f"could not write the run directory {args.save_dir}: {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
