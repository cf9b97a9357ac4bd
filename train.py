"""Train StarGAN.

    python train.py --dataset synthetic                         # built-in synthetic faces, CPU-friendly
    python train.py --dataset synthetic --config configs/tiny.yaml --steps 20 --run-dir runs/tiny
    python train.py --dataset celeba --summary                  # parameter counts of the paper's model
    python train.py --dataset celeba --celeba-dir data/celeba   # CelebA as in the paper
    python train.py --dataset both --celeba-dir data/celeba --rafd-dir data/rafd   # joint, mask vector
    python train.py --config configs/synthetic.yaml --set train.g_lr=2e-4 --set model.g_conv_dim=48
    python train.py --dataset synthetic --deterministic         # a seed replays bit-exactly on this machine
    python train.py --dataset celeba --celeba-dir data/celeba --precision bf16 --xla   # one GPU, fastest
    python train.py --dataset celeba --celeba-dir data/celeba --strategy mirrored      # all local GPUs

Re-running into an existing run directory resumes at its last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_CONFIGS = {
    "synthetic": "configs/synthetic.yaml",
    "synthetic-rafd": "configs/synthetic.yaml",
    "celeba": "configs/celeba.yaml",
    "rafd": "configs/rafd.yaml",
    "affectnet": "configs/affectnet.yaml",
    "folder": "configs/folder.yaml",
    "both": "configs/both.yaml",
}
# Data flags and the config keys they set (see docs/datasets.md).
PATH_FLAGS = {
    "celeba_dir": "data.celeba.dir",
    "rafd_dir": "data.rafd.dir",
    "affectnet_dir": "data.affectnet.dir",
    "affectnet_csv": "data.affectnet.csv",
    "folder_dir": "data.folder.dir",
    "labels_file": "data.folder.labels_file",
    "tfrecord_dir": "data.tfrecord_dir",
}
HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train StarGAN (Choi et al., CVPR 2018) with TensorFlow/Keras.")
    parser.add_argument("--dataset", help="synthetic | synthetic-rafd | celeba | rafd | affectnet | folder | both "
                                          "(overrides data.dataset)")
    data = parser.add_argument_group("data (docs/datasets.md)")
    data.add_argument("--celeba-dir", help="CelebA folder: img_align_celeba/, list_attr_celeba.txt, "
                                           "optional list_eval_partition.txt")
    data.add_argument("--celeba-source", choices=("raw", "tfds"), help="CelebA from --celeba-dir (raw) or "
                                                                       "tensorflow_datasets (tfds)")
    data.add_argument("--rafd-dir", help="RaFD folder: official file names, or one sub-folder per expression")
    data.add_argument("--affectnet-dir", help="AffectNet image root (the CSV's paths are relative to it)")
    data.add_argument("--affectnet-csv", help="AffectNet annotation CSV (default: <affectnet-dir>/training.csv)")
    data.add_argument("--folder-dir", help="custom data: one sub-folder per domain, or the images of --labels-file")
    data.add_argument("--labels-file", help="custom data: CSV/TXT 'filename,attr1,...' with 0/1 or -1/1 values")
    data.add_argument("--datasets", help="with --dataset both: the two datasets, e.g. celeba,rafd or celeba,affectnet")
    data.add_argument("--attributes", help="CelebA attributes, e.g. Black_Hair,Blond_Hair,Brown_Hair,Male,Young")
    data.add_argument("--strict", action="store_true", help="stop at the first unreadable image instead of "
                                                            "skipping it")
    data.add_argument("--tfrecord-dir", help="decode the data once into TFRecord shards here and train from them")
    parser.add_argument("--config", help="YAML config (default: configs/<dataset>.yaml)")
    parser.add_argument("--run-dir", help="output directory (default: runs/<dataset>)")
    parser.add_argument("--steps", type=int, help="train until this step (overrides train.num_steps)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set model.g_conv_dim=32 (repeatable)")
    parser.add_argument("--resume", action="store_true",
                        help="require an existing checkpoint in --run-dir (resuming is otherwise automatic)")
    parser.add_argument("--deterministic", action="store_true",
                        help="deterministic kernels: the same seed replays the run bit-exactly on the same machine "
                             "(sets train.deterministic)")
    parser.add_argument("--summary", action="store_true", help="print the networks' parameter counts and exit")
    speed = parser.add_argument_group("devices and speed (docs/benchmarks.md)")
    speed.add_argument("--strategy", help="auto | default | mirrored (all local GPUs; auto picks it when more than "
                                          "one is visible) | multiworker (TF_CONFIG); sets train.strategy")
    speed.add_argument("--precision", help="float32 | bf16 (recommended on GPUs) | float16 (loss-scaled, unstable "
                                           "with the gradient penalty); sets train.precision")
    speed.add_argument("--xla", action="store_true", help="compile the train step with XLA (one device only); "
                                                          "sets train.jit_compile")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from stargan_tf.config import ConfigError, load_config
    from stargan_tf.data.pipeline import DataError

    try:
        config_path = args.config or DEFAULT_CONFIGS.get(args.dataset or "synthetic")
        if config_path and not Path(config_path).is_absolute() and not Path(config_path).exists():
            config_path = str(HERE / config_path)
        overrides = data_overrides(args) + list(args.set)
        if args.steps is not None:
            overrides.append(f"train.num_steps={args.steps}")
            base = load_config(config_path, [o for o in overrides if not o.startswith("train.")])
            if base.train.decay_steps > args.steps and not any(o.startswith("train.decay_steps=") for o in overrides):
                # A short run keeps the config's shape: constant, then decay over the last half.
                overrides.append(f"train.decay_steps={args.steps // 2}")
                print(f"note: --steps {args.steps} < train.decay_steps {base.train.decay_steps}; "
                      f"decaying over the last {args.steps // 2} steps")
        config = load_config(config_path, overrides)
        if args.summary:
            return print_summary(config)
        run_dir = Path(args.run_dir or f"runs/{config.data.dataset}")
        if args.resume and not (run_dir / "checkpoints" / "checkpoint").exists():
            raise ConfigError(f"--resume: no checkpoint in {run_dir / 'checkpoints'}")
        from stargan_tf.run import TrainingFailed, train

        try:
            train(config, run_dir)
        except TrainingFailed as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    except (ConfigError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept; re-run the same command to resume", file=sys.stderr)
        return 130
    return 0


def data_overrides(args: argparse.Namespace) -> list[str]:
    """The data flags as config overrides; paths are JSON-quoted so YAML keeps them strings."""
    overrides = []
    if args.dataset:
        overrides.append(f"data.dataset={args.dataset}")
    for flag, key in PATH_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    if args.celeba_source:
        overrides.append(f"data.celeba.source={args.celeba_source}")
    if args.datasets:
        overrides.append(f"data.datasets={json.dumps([d.strip() for d in args.datasets.split(',') if d.strip()])}")
    if args.attributes:
        overrides.append(f"data.attributes={json.dumps([a.strip() for a in args.attributes.split(',') if a.strip()])}")
    if args.strict:
        overrides.append("data.strict=true")
    if args.strategy:
        overrides.append(f"train.strategy={json.dumps(args.strategy)}")
    if args.precision:
        overrides.append(f"train.precision={json.dumps(args.precision)}")
    if args.xla:
        overrides.append("train.jit_compile=true")
    if args.deterministic:
        overrides.append("train.deterministic=true")
    return overrides


def print_summary(config) -> int:
    from stargan_tf.data.sources import layout_for
    from stargan_tf.models import build_networks

    layout = layout_for(config)
    m = config.model
    generator, discriminator = build_networks(m, layout.label_dim, layout.num_domains)
    print(f"dataset {config.data.dataset}: image {m.image_size}x{m.image_size}, "
          f"n_d = {layout.num_domains} domains ({', '.join(layout.domain_names)}), n_c = {layout.label_dim}")
    print(f"G = {generator.count_params():,} parameters")
    print(f"D = {discriminator.count_params():,} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
