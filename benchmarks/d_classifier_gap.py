"""Does G satisfy D's classifier without drawing the target domain?

    python -m benchmarks.d_classifier_gap --run-dir RUN [--classifier JUDGE] [--num 200] [--out gap.json]

G learns a domain only through D's auxiliary classifier D_cls (Eq. 3). When
the translations that D_cls accepts are not the ones a separately trained
judge accepts, G has found features that fool D_cls instead of drawing the
domain, and more training of the same kind will not close the gap. For every
target domain this prints how often D_cls (restored from the run's latest
checkpoint) and the judge (`python -m stargan_tf.evaluate train-classifier`)
see the requested domain in the translations of held-out images, decided and
counted exactly as `python -m stargan_tf.evaluate` counts target accuracy,
together with both classifiers' accuracy on the real held-out images. The
translations are those of the run's generator.keras (the weight average when
train.g_ema_decay is set), the generator that is evaluated and exported.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from benchmarks.common import open_run, run_dir_args, usage_error, write_json


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return run_dir_args(argv, __doc__, "a trained run directory (with checkpoints/)",
                        lambda parser: parser.add_argument(
                            "--classifier", help="the judge (default: RUN/eval/classifier.keras)"))


def gap_table(rows: dict[str, dict[str, float]]) -> str:
    """Markdown: one row per target, then the means (over the targets that have real images)."""
    keys = ("d_cls_accepts", "judge_accepts", "d_cls_on_real", "judge_on_real")
    lines = ["| target | D_cls accepts | judge accepts | D_cls on real | judge on real |", "|---|---|---|---|---|"]
    for domain, row in rows.items():
        lines.append(f"| {domain} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |")
    means = [float(np.nanmean([row[k] for row in rows.values()])) for k in keys]
    lines.append("| mean | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from stargan_tf.checkpoints import TrainingCheckpoint, load_generator
    from stargan_tf.data.pipeline import DataError, from_uint8
    from stargan_tf.evaluate import CLASSIFIER_FILE
    from stargan_tf.metrics.classifier import decide, domain_accuracy, load_classifier, predict_logits
    from stargan_tf.metrics.ground_truth import eval_set
    from stargan_tf.metrics.translation import generator_translate, target_hits
    from stargan_tf.trainer import build_stargan

    run_dir, config, layout = open_run(args.run_dir)
    judge_path = Path(args.classifier) if args.classifier else run_dir / "eval" / CLASSIFIER_FILE
    if not judge_path.is_file():
        usage_error(f"no judge at {judge_path}: pass --classifier PATH "
                    "(python -m stargan_tf.evaluate train-classifier --run-dir RUN)")
    try:
        judge = load_classifier(judge_path)
        data = eval_set(config, args.num)
    except (DataError, OSError, ValueError) as err:
        usage_error(str(err))
    if judge.layout.to_dict() != layout.to_dict() or judge.image_size != config.model.image_size:
        usage_error(f"the judge {judge_path} was trained for other labels or another image size")

    model = build_stargan(config, layout)
    step = TrainingCheckpoint(model, run_dir / "checkpoints").restore_latest()
    if not step:
        usage_error(f"{run_dir}/checkpoints has no checkpoint to restore D from")
    discriminator = model.discriminator

    def d_cls(images, training=False):
        # D_cls does not depend on the label a projection critic is given; zeros stand in for it.
        inputs = (images, np.zeros((len(images), layout.label_dim), np.float32)) if discriminator.label_dim \
            else images
        return discriminator(inputs, training=False)[1]

    x = from_uint8(data.images)
    sources = np.asarray(data.labels, np.float32)
    real = {name: domain_accuracy(layout, decide(layout, predict_logits(fn, x)), sources)
            for name, fn in (("d_cls", d_cls), ("judge", judge))}
    translate = generator_translate(load_generator(run_dir))
    rows: dict[str, dict[str, float]] = {}
    for domain, targets in layout.grid_targets(sources):
        defined = layout.target_defined(sources, domain)  # as the evaluation counts them
        targets = targets[defined]
        y = translate(x[defined], targets)
        row = {}
        for name, fn in (("d_cls", d_cls), ("judge", judge)):
            hits = target_hits(layout, decide(layout, predict_logits(fn, y)), targets, domain)
            row[f"{name}_accepts"] = float(hits.mean())
            row[f"{name}_on_real"] = float(real[name].get(domain, float("nan")))
        rows[domain] = row
    print(f"{run_dir} at step {step}, {len(x)} held-out images, judge {judge_path}")
    print(gap_table(rows))
    write_json(args.out, {"run_dir": str(run_dir), "step": step, "judge": str(judge_path), "num_images": len(x),
                          "targets": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
