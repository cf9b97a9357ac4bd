"""Write one checkpoint's G, or its weight average, as a run directory that the evaluation can judge.

    python -m benchmarks.checkpoint_generator --run-dir RUN --step N [--weights average|raw] --out-dir NEW
    python -m stargan_tf.evaluate --run-dir NEW --classifier JUDGE

A run's generator.keras is the last step's weight average (train.g_ema_decay)
or, without one, its G. To see when in training a target is learned, or what
the average adds, this restores checkpoint N of RUN (`checkpoints/ckpt-N`) and
saves the chosen generator, with RUN's config.yaml and labels.json, in NEW:
`--weights average` (the default when the run keeps one) is what the run
would have exported at step N, `--weights raw` is the G that was training.
NEW has no checkpoints, so its evaluation reports step 0 (unknown); where the
generator came from is in NEW/source.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from benchmarks.common import open_run, refuse_existing_run, usage_error


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="a trained run directory (with checkpoints/)")
    parser.add_argument("--step", type=int, required=True, help="the checkpoint's step (checkpoints/ckpt-STEP)")
    parser.add_argument("--weights", choices=("average", "raw"),
                        help="the weight average of G or G itself (default: the average when the run keeps one)")
    parser.add_argument("--out-dir", required=True, help="a new directory to write the run into")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from stargan_tf.checkpoints import (
        CONFIG_FILE,
        GENERATOR_FILE,
        LABELS_FILE,
        MissingCheckpointError,
        TrainingCheckpoint,
        save_generator,
    )
    from stargan_tf.trainer import build_stargan

    run_dir, config, layout = open_run(args.run_dir)
    averaged = config.train.g_ema_decay > 0
    weights = args.weights or ("average" if averaged else "raw")
    if weights == "average" and not averaged:
        usage_error(f"{run_dir} was trained without a weight average (train.g_ema_decay 0): use --weights raw")
    out = Path(args.out_dir)
    refuse_existing_run("--out-dir", out)  # RUN itself included

    model = build_stargan(config, layout)
    checkpoint = TrainingCheckpoint(model, run_dir / "checkpoints")
    # D and the optimizers are restored too (the checkpoint is read whole), but only a G is saved.
    try:
        checkpoint.restore(args.step)
    except MissingCheckpointError as err:  # names the steps that are saved
        usage_error(str(err))
    except Exception as err:  # a damaged file fails deep in TF's reader, e.g. with an IndexError
        usage_error(f"cannot restore step {args.step} of {run_dir}/checkpoints "
                    f"into the networks of {run_dir}/{CONFIG_FILE}: "
                    f"{str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in (CONFIG_FILE, LABELS_FILE):
            shutil.copyfile(run_dir / name, out / name)
        save_generator(model.generator_average if weights == "average" else model.generator, out)
        (out / "source.json").write_text(json.dumps({"run_dir": str(run_dir), "step": args.step, "weights": weights},
                                                    indent=1) + "\n")
    except OSError as err:
        usage_error(f"could not write the run directory {out}: {err}")
    print(f"wrote {out / GENERATOR_FILE}: {weights} weights of {run_dir} at step {int(model.step.numpy())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
