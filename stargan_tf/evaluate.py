"""Measure a trained StarGAN: target-attribute accuracy, reconstruction, identity, ground truth, FID/KID.

    python -m stargan_tf.evaluate train-classifier --run-dir RUN            # the judge, on real images
    python -m stargan_tf.evaluate --run-dir RUN                             # uses RUN/eval/classifier.keras
    python -m stargan_tf.evaluate --run-dir RUN --num 500 --classifier judge.keras \\
        --inception-weights inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5

Writes RUN/eval/metrics.json, RUN/eval/metrics.md (the table, also
printed), RUN/eval/grid.png and TensorBoard scalars under RUN/logs/eval.
Metric definitions: docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_NUM = 300
CLASSIFIER_FILE = "classifier.keras"


class EvalError(ValueError):
    """A problem with the command line or the run directory (reported in one line)."""


# -- configuration -------------------------------------------------------------

def resolve_config(run_dir: str | None, config_path: str | None, dataset: str | None, overrides: list[str]):
    """The data/model config: the run's own config.yaml (or --config), with --dataset/--set applied."""
    from stargan_tf.checkpoints import CONFIG_FILE
    from stargan_tf.config import load_config

    if run_dir is not None and config_path is None:
        config_path = str(Path(run_dir) / CONFIG_FILE)
        if not Path(config_path).is_file():
            raise EvalError(f"{run_dir} is not a run directory (no {CONFIG_FILE})")
    extra = [f"data.dataset={dataset}"] if dataset else []
    return load_config(config_path, extra + list(overrides))


def step_of(run_dir: Path) -> int:
    """The generator's training step, from the newest checkpoint's name (0 when unknown)."""
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    return int(latest.rsplit("-", 1)[1]) if latest and latest.rsplit("-", 1)[1].isdigit() else 0


# -- train-classifier ----------------------------------------------------------

def judge_batches(source: Any, batch_size: int, seed: int, shuffle_buffer: int) -> Any:
    """Endless shuffled (images [B, H, W, 3] in [-1, 1], labels [B, n_c]) batches for the judge.

    Unlike StarGAN's training, which alternates datasets batch by batch, a
    batch here mixes the datasets of a joint source: the judge uses batch
    normalization, whose statistics should not jump between datasets.
    """
    import tensorflow as tf

    from stargan_tf.data.pipeline import to_model_range

    parts = source.parts or (source,)
    streams = [part.examples.shuffle(min(shuffle_buffer, max(part.num_examples, 1)), seed=seed + i).repeat()
               for i, part in enumerate(parts)]
    # Each dataset is drawn in proportion to its number of domains, so that e.g. eight expressions
    # get as many examples per domain as five attributes.
    sizes = [len(dataset.names) for dataset in source.layout.datasets]
    weights = [n / sum(sizes) for n in sizes]
    examples = streams[0] if len(streams) == 1 else tf.data.Dataset.sample_from_datasets(streams, weights, seed=seed)

    def augment(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        # Flips and shifts of a few pixels: the judge must not rely on where exactly a face sits.
        size = tf.shape(image)[0]
        shift = tf.maximum(size // 16, 1)
        padded = tf.pad(to_model_range(image), [[shift, shift], [shift, shift], [0, 0]], mode="SYMMETRIC")
        image = tf.image.random_crop(padded, tf.stack([size, size, 3]))
        return tf.image.random_flip_left_right(image), label

    examples = examples.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return examples.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def train_judge(config: Any, out: Path, steps: int, batch_size: int = 32, width: int = 16, num: int = DEFAULT_NUM,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Trains the judging classifier on the training images of `config`'s data; returns its held-out accuracy."""
    from stargan_tf.data.pipeline import from_uint8
    from stargan_tf.data.sources import load_source
    from stargan_tf.distribute import seed_everything
    from stargan_tf.metrics.classifier import train_classifier
    from stargan_tf.metrics.ground_truth import eval_set

    # With train.deterministic the judge replays too: the worst target's borderline translations
    # are judged by the same weights in every invocation on the same machine and software.
    seed_everything(config.train.seed, config.train.deterministic)
    source = load_source(config, log=log)
    held_out = eval_set(config, num)
    batches = judge_batches(source, batch_size, config.train.seed, config.data.shuffle_buffer)
    validation = (from_uint8(held_out.images), held_out.labels)
    log(f"Training the judging classifier for {steps} steps on {source.num_examples} images")
    model = train_classifier(source.layout, batches, config.model.image_size, steps, width,
                             validation=validation, log=log)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return judge_accuracy(config, out, num, model=model, held_out=held_out, layout=source.layout)


def judge_accuracy(config: Any, path: Path, num: int = DEFAULT_NUM, model: Any = None, held_out: Any = None,
                   layout: Any = None) -> dict[str, Any]:
    """A judging classifier's accuracy per domain on `num` held-out real images per dataset."""
    import numpy as np

    from stargan_tf.data.pipeline import from_uint8
    from stargan_tf.data.sources import layout_for
    from stargan_tf.metrics.classifier import decide, domain_accuracy, load_classifier, predict_logits
    from stargan_tf.metrics.ground_truth import eval_set

    model = load_classifier(path) if model is None else model
    held_out = eval_set(config, num) if held_out is None else held_out
    layout = layout_for(config) if layout is None else layout
    accuracy = domain_accuracy(layout, decide(layout, predict_logits(model, from_uint8(held_out.images))),
                               held_out.labels)
    return {"path": str(path), "held_out_images": len(held_out.images), "accuracy": accuracy,
            "accuracy_mean": float(np.mean(list(accuracy.values()))),
            "accuracy_min": float(np.min(list(accuracy.values())))}


# -- evaluate ------------------------------------------------------------------

def evaluate_run(run_dir: str | Path, config: Any, num: int = DEFAULT_NUM, classifier_path: str | Path | None = None,
                 inception_weights: str | None = None, extractor: Any = None, batch_size: int = 32,
                 grid_rows: int = 6, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Evaluates the run's generator.keras and writes eval/metrics.json, metrics.md, grid.png and TensorBoard."""
    from stargan_tf.checkpoints import GENERATOR_FILE, load_generator, read_layout
    from stargan_tf.data.sources import dataset_names, layout_for
    from stargan_tf.grid import save_png
    from stargan_tf.metrics.classifier import load_classifier
    from stargan_tf.metrics.fid import InceptionFeatures
    from stargan_tf.metrics.ground_truth import eval_set
    from stargan_tf.metrics.translation import evaluate_translations, generator_translate, sample_grid

    run_dir = Path(run_dir)
    if not (run_dir / GENERATOR_FILE).is_file():
        raise EvalError(f"{run_dir} has no {GENERATOR_FILE}: train the run first")
    layout = read_layout(run_dir)
    if layout_for(config).to_dict() != layout.to_dict():
        raise EvalError(f"the data to evaluate on ({', '.join(dataset_names(config))}) has other labels "
                        f"than the run ({', '.join(layout.domain_names)})")
    notes: list[str] = []
    classifier = None
    if classifier_path is None and (run_dir / "eval" / CLASSIFIER_FILE).is_file():
        classifier_path = run_dir / "eval" / CLASSIFIER_FILE
    if classifier_path is not None:
        classifier = load_classifier(classifier_path)
        if classifier.layout.to_dict() != layout.to_dict() or classifier.image_size != config.model.image_size:
            raise EvalError(f"classifier {classifier_path} was trained for other labels or another image size")
    else:
        notes.append("no classifier: target-attribute accuracy not measured (train one with "
                     "`python -m stargan_tf.evaluate train-classifier --run-dir RUN`)")
    if extractor is None and inception_weights:
        extractor = InceptionFeatures(inception_weights)
    if extractor is None:
        notes.append("FID/KID not measured: pass --inception-weights PATH (see docs/evaluation.md)")

    data = eval_set(config, num)
    generator = load_generator(run_dir)
    translate = generator_translate(generator, batch_size)
    log(f"Evaluating {run_dir} on {len(data.images)} held-out images x {layout.num_domains} targets")
    begin = time.perf_counter()
    metrics = evaluate_translations(translate, layout, data, classifier, extractor, log=log)
    metrics = {"run_dir": str(run_dir), "step": step_of(run_dir), "datasets": dataset_names(config),
               "image_size": config.model.image_size, "classifier": str(classifier_path) if classifier_path else None,
               **metrics, "seconds": round(time.perf_counter() - begin, 1), "notes": notes}
    out = run_dir / "eval"
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    table = format_table(metrics)
    (out / "metrics.md").write_text(table + "\n")
    save_png(sample_grid(translate, layout, data, grid_rows), str(out / "grid.png"))
    write_scalars(metrics, run_dir / "logs" / "eval")
    log(table)
    return metrics


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_table(metrics: dict[str, Any]) -> str:
    """The human-readable report: one row per target domain, then the summary."""
    synthetic = metrics.get("gt_l1") is not None
    header = ["target", "accuracy", "judge on real", "kept", "rec L1"]
    header += ["GT L1", "do-nothing L1", "GT PSNR", "do-nothing PSNR", "identity PSNR"] if synthetic else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    real = metrics.get("classifier_real_accuracy") or {}
    for domain, d in metrics["per_domain"].items():
        row = [domain, _fmt(d.get("target_accuracy")), _fmt(real.get(domain)), _fmt(d.get("kept_accuracy")),
               _fmt(d["reconstruction_l1"], 4)]
        if synthetic:
            row += [_fmt(d["gt_l1"], 4), _fmt(d["baseline_l1"], 4), _fmt(d["gt_psnr"], 1),
                    _fmt(d["baseline_psnr"], 1), _fmt(d["identity_psnr"], 1)]
        lines.append("| " + " | ".join(row) + " |")
    summary = [
        ("images", metrics["num_images"]),
        ("target-attribute accuracy, mean over targets", metrics.get("target_accuracy_mean")),
        ("target-attribute accuracy, worst target", metrics.get("target_accuracy_min")),
        ("judge accuracy on real held-out images", metrics.get("classifier_real_accuracy_mean")),
        ("other attributes kept", metrics.get("kept_accuracy")),
        ("reconstruction L1  x vs G(G(x, c), c')", metrics.get("reconstruction_l1")),
    ]
    if synthetic:
        m = metrics
        summary += [
            ("ground-truth L1 (do-nothing baseline)", f"{_fmt(m['gt_l1'], 4)} ({_fmt(m['baseline_l1'], 4)})"),
            ("ground-truth L1 / do-nothing L1", metrics.get("gt_l1_ratio")),
            ("ground-truth PSNR dB (do-nothing)", f"{_fmt(m['gt_psnr'], 2)} ({_fmt(m['baseline_psnr'], 2)})"),
            ("identity: L1 / PSNR dB outside the changed region",
             f"{_fmt(metrics['identity_l1'], 4)} / {_fmt(metrics['identity_psnr'], 2)}"),
        ]
    for key, value in metrics.items():
        if key.startswith(("fid", "kid", "frechet_distance", "kernel_distance")) and not isinstance(value, dict):
            summary.append((key, value))
    lines += ["", "| summary | value |", "|---|---|"]
    lines += [f"| {name} | {_fmt(value, 4)} |" for name, value in summary]
    lines += [f"\nnote: {note}" for note in metrics.get("notes", [])]
    return "\n".join(lines)


def write_scalars(metrics: dict[str, Any], log_dir: Path) -> None:
    """Every numeric metric as a TensorBoard scalar at the run's step (nested dicts as name/key)."""
    import tensorflow as tf

    def walk(prefix: str, value: Any):
        if isinstance(value, dict):
            for key, inner in value.items():
                yield from walk(f"{prefix}/{key}", inner)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
            yield prefix, float(value)

    skip = {"step", "image_size", "num_images", "seconds"}
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        for key, value in metrics.items():
            if key not in skip:
                for name, number in walk(f"eval/{key}", value):
                    tf.summary.scalar(name, number, step=metrics["step"])
    writer.flush()


# -- command line --------------------------------------------------------------

def _parser(train: bool) -> argparse.ArgumentParser:
    if train:
        parser = argparse.ArgumentParser(prog="python -m stargan_tf.evaluate train-classifier",
                                         description="Train the judging classifier on real images.")
        parser.add_argument("--out", help=f"output .keras file (default: RUN/eval/{CLASSIFIER_FILE})")
        parser.add_argument("--steps", type=int, default=4000, help="training steps (default 4000)")
        parser.add_argument("--width", type=int, default=16, help="base width of the ResNet (default 16)")
    else:
        parser = argparse.ArgumentParser(prog="python -m stargan_tf.evaluate", description=__doc__.splitlines()[0])
        parser.add_argument("--classifier", help=f"judging classifier (default: RUN/eval/{CLASSIFIER_FILE} if present)")
        parser.add_argument("--inception-weights", help="Keras InceptionV3 ImageNet 'notop' weights file, for FID/KID")
    parser.add_argument("--run-dir", help="run directory (its config.yaml gives data and image size)")
    parser.add_argument("--config", help="YAML config instead of the run's config.yaml")
    parser.add_argument("--dataset", help="evaluate on this dataset (overrides data.dataset)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--num", type=int, default=DEFAULT_NUM,
                        help=f"held-out images per dataset (default {DEFAULT_NUM})")
    parser.add_argument("--batch-size", type=int, default=32)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    train = bool(argv) and argv[0] == "train-classifier"
    args = _parser(train).parse_args(argv[1:] if train else argv)
    from stargan_tf.config import ConfigError
    from stargan_tf.data.pipeline import DataError

    try:
        if args.num < 2 or args.batch_size < 1:
            raise EvalError("--num must be >= 2 and --batch-size >= 1")
        if train:
            if args.steps < 1 or args.width < 1:
                raise EvalError("--steps and --width must be >= 1")
            if not args.out and not args.run_dir:
                raise EvalError("give --out PATH (or --run-dir RUN to write RUN/eval/classifier.keras)")
            if not args.run_dir and not (args.dataset or args.config):
                raise EvalError("give --run-dir RUN, or --dataset/--config for the data to train on")
            config = resolve_config(args.run_dir, args.config, args.dataset, args.set)
            out = Path(args.out) if args.out else Path(args.run_dir) / "eval" / CLASSIFIER_FILE
            if out.suffix != ".keras":
                raise EvalError(f"--out must end in .keras, got {out}")
            report = train_judge(config, out, args.steps, args.batch_size, args.width, args.num)
            print(json.dumps(report, indent=2))
            return 0
        if not args.run_dir:
            raise EvalError("--run-dir RUN is required")
        config = resolve_config(args.run_dir, args.config, args.dataset, args.set)
        evaluate_run(args.run_dir, config, args.num, args.classifier, args.inception_weights,
                     batch_size=args.batch_size)
        return 0
    except (EvalError, ConfigError, DataError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
