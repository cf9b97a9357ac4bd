"""Training a run directory end to end: config -> data -> models -> fit -> artifacts."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf
import yaml

from stargan_tf.callbacks import Checkpointer, NonFiniteGuard, SampleGrid, ScalarLogger
from stargan_tf.checkpoints import CONFIG_FILE, TrainingCheckpoint, save_generator, write_layout
from stargan_tf.config import Config, ConfigError, save_config
from stargan_tf.data.pipeline import training_batches
from stargan_tf.data.sources import load_source
from stargan_tf.trainer import build_stargan

# Sections that fix the networks' shapes and the data's meaning: a resumed run must keep them.
FROZEN_SECTIONS = ("model", "data", "loss")


class TrainingFailed(RuntimeError):
    """Training stopped on a non-finite loss; the last good checkpoint is kept."""


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    start_step: int
    final_step: int
    seconds_per_step: float | None
    last_checkpoint: str | None


def check_resumable(config: Config, run_dir: Path) -> None:
    """A run directory can only be continued with the same model, data and loss settings."""
    stored_path = run_dir / CONFIG_FILE
    if not stored_path.exists():
        return
    stored = yaml.safe_load(stored_path.read_text()) or {}
    current = config.to_dict()
    for section in FROZEN_SECTIONS:
        if stored.get(section) != current[section]:
            changed = sorted(k for k in current[section] if stored.get(section, {}).get(k) != current[section][k])
            raise ConfigError(
                f"run directory {run_dir} was trained with different {section} settings "
                f"({', '.join(section + '.' + k for k in changed) or section}); use a new --run-dir"
            )


def train(config: Config, run_dir: str | Path, log=print, verbose: int | None = None) -> TrainResult:
    """Trains (or resumes) the run in `run_dir` up to `config.train.num_steps` steps."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_resumable(config, run_dir)
    t = config.train
    keras.utils.set_random_seed(t.seed)

    source = load_source(config)
    layout = source.layout
    model = build_stargan(config, layout)
    checkpoint = TrainingCheckpoint(model, run_dir / "checkpoints", keep=t.keep_checkpoints)
    start = checkpoint.restore_latest()
    if start:
        log(f"Resuming {run_dir} at step {start} from {checkpoint.latest}")
    save_config(config, run_dir / CONFIG_FILE)
    write_layout(layout, run_dir)
    if start >= t.num_steps:
        log(f"Nothing to do: step {start} >= train.num_steps {t.num_steps}")
        return TrainResult(run_dir, start, start, None, checkpoint.latest)

    # A different seed per resume point, so a resumed run doesn't replay the same batches.
    dataset = training_batches(source, t.batch_size, t.n_critic, seed=t.seed + start,
                               shuffle_buffer=config.data.shuffle_buffer)
    writer = tf.summary.create_file_writer(str(run_dir / "logs"))
    interactive = sys.stdout.isatty() if verbose is None else bool(verbose)
    guard = NonFiniteGuard()
    scalars = ScalarLogger(writer, t.log_every, print_lines=not interactive)
    samples = SampleGrid(source.sample_images, source.sample_labels, layout, run_dir / "samples", writer,
                         t.sample_every)
    checkpointer = Checkpointer(checkpoint, run_dir, t.checkpoint_every)
    log(f"Training {t.num_steps - start} steps ({start} -> {t.num_steps}) on {source.num_examples} images; "
        f"G {model.generator.count_params():,} params, D {model.discriminator.count_params():,} params")
    begin = time.perf_counter()
    # The guard runs first so that the callbacks after it never save after a bad step.
    model.fit(dataset, epochs=1, shuffle=False, steps_per_epoch=t.num_steps - start, verbose=1 if interactive else 0,
              callbacks=[guard, scalars, samples, checkpointer])
    elapsed = time.perf_counter() - begin
    writer.flush()
    if guard.failure:
        raise TrainingFailed(f"{guard.failure}; training stopped, last good checkpoint: "
                             f"{checkpoint.latest or 'none'}")
    final = int(model.step.numpy())
    if checkpoint.latest is None or not checkpoint.latest.endswith(f"-{final}"):
        checkpoint.save()
        save_generator(model.generator, run_dir)
    if final % t.sample_every:
        samples.write()
    times = scalars.step_times[1:]  # the first step includes tracing
    per_step = float(sorted(times)[len(times) // 2]) if times else None
    log(f"Done: step {final}, {elapsed:.1f} s" + (f", median {per_step:.3f} s/step" if per_step else "")
        + f"; checkpoint {checkpoint.latest}; samples in {run_dir / 'samples'}")
    return TrainResult(run_dir, start, final, per_step, checkpoint.latest)
