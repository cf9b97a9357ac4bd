"""Training a run directory end to end: config -> data -> models -> fit -> artifacts."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import keras
import tensorflow as tf
import yaml

from stargan_tf.callbacks import Checkpointer, GeneratorAverage, NonFiniteGuard, SampleGrid, ScalarLogger
from stargan_tf.checkpoints import CONFIG_FILE, TrainingCheckpoint, save_generator, write_layout
from stargan_tf.config import Config, ConfigError, from_dict, save_config
from stargan_tf.data.pipeline import training_batches
from stargan_tf.data.sources import load_source
from stargan_tf.distribute import StrategyError, is_chief, make_strategy, seed_everything, with_step_randomness
from stargan_tf.trainer import build_stargan

# Sections that fix the networks' shapes and the data's meaning: a resumed run must keep them.
FROZEN_SECTIONS = ("model", "data", "loss")
TIMING_FILE = "timing.json"  # wall-clock training time, summed over resumed sessions


class TrainingFailed(RuntimeError):
    """Training stopped on a non-finite loss; the last good checkpoint is kept."""


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    start_step: int
    final_step: int
    seconds_per_step: float | None
    last_checkpoint: str | None
    model: keras.Model | None = None  # the trained StarGAN (G, D and both optimizers)


def check_resumable(config: Config, run_dir: Path) -> None:
    """A run directory can only be continued with the same model, data and loss settings."""
    stored_path = run_dir / CONFIG_FILE
    if not stored_path.exists():
        return
    stored = yaml.safe_load(stored_path.read_text()) or {}
    # A key the stored file lacks is an option added since: the run was trained with its default.
    try:
        trained = from_dict(stored).to_dict()
    except ConfigError as err:
        raise ConfigError(f"run directory {run_dir} has a config.yaml this version cannot read: {err}") from None
    current = config.to_dict()
    for section in FROZEN_SECTIONS:
        if trained[section] != current[section]:
            changed = sorted(k for k in current[section] if trained[section].get(k) != current[section][k])
            raise ConfigError(
                f"run directory {run_dir} was trained with different {section} settings "
                f"({', '.join(section + '.' + k for k in changed) or section}); use a new --run-dir"
            )
    # The average's weights are part of the checkpoint: it can change its decay but not appear or vanish.
    averaged = trained["train"]["g_ema_decay"] > 0
    if averaged != (config.train.g_ema_decay > 0):
        raise ConfigError(f"run directory {run_dir} was trained with train.g_ema_decay "
                          f"{'on' if averaged else 'off'}; it cannot be turned {'off' if averaged else 'on'} "
                          "when resuming; use a new --run-dir")


def record_training_time(run_dir: Path, steps: int, seconds: float, seconds_per_step: float | None) -> dict:
    """Adds one training session to RUN/timing.json (totals over every resume) and returns the totals."""
    path = run_dir / TIMING_FILE
    timing = json.loads(path.read_text()) if path.exists() else {"steps": 0, "seconds": 0.0, "sessions": []}
    timing["steps"] += steps
    timing["seconds"] += seconds
    timing["sessions"].append({"steps": steps, "seconds": round(seconds, 2), "median_seconds_per_step":
                               None if seconds_per_step is None else round(seconds_per_step, 4)})
    path.write_text(json.dumps(timing, indent=2) + "\n")
    return timing


def train(config: Config, run_dir: str | Path, log=print, verbose: int | None = None) -> TrainResult:
    """Trains (or resumes) the run in `run_dir` up to `config.train.num_steps` steps.

    Data, networks, optimizers and the checkpoint are created inside the
    strategy's scope. Under multiworker every worker trains in lockstep, but
    only the chief writes to `run_dir`; the others write their (identical)
    checkpoints, samples and logs to a temporary directory that is removed at the end.
    """
    t = config.train
    # Created first: MultiWorkerMirroredStrategy must exist before any other TensorFlow op runs.
    try:
        strategy = make_strategy(t.strategy)
    except StrategyError as err:
        raise ConfigError(str(err)) from None
    replicas = strategy.num_replicas_in_sync
    if t.batch_size % replicas:
        raise ConfigError(f"train.batch_size {t.batch_size} is the global batch and must be divisible by the "
                          f"{replicas} replicas of strategy {t.strategy}")
    jit_compile = t.jit_compile
    if jit_compile and replicas > 1:
        log(f"note: XLA (train.jit_compile) is turned off under {replicas} replicas")
        jit_compile = False
    run_dir = Path(run_dir)
    chief = is_chief(strategy)
    if chief:
        run_dir.mkdir(parents=True, exist_ok=True)
        check_resumable(config, run_dir)
    write_dir = run_dir if chief else Path(tempfile.mkdtemp(prefix="stargan-worker-"))
    try:
        return _train(config, strategy, run_dir, write_dir, jit_compile, log, verbose)
    finally:
        if not chief:
            shutil.rmtree(write_dir, ignore_errors=True)


def _train(config: Config, strategy: tf.distribute.Strategy, run_dir: Path, write_dir: Path, jit_compile: bool,
           log, verbose: int | None) -> TrainResult:
    t = config.train
    seed_everything(t.seed, t.deterministic)
    with strategy.scope():
        source = load_source(config)
        layout = source.layout
        model = build_stargan(config, layout, jit_compile=jit_compile)
        checkpoint = TrainingCheckpoint(model, write_dir / "checkpoints", keep=t.keep_checkpoints)
        # Every worker resumes from the chief's checkpoints (the shared run directory).
        source_checkpoint = checkpoint if write_dir == run_dir else TrainingCheckpoint(model, run_dir / "checkpoints")
        start = source_checkpoint.restore_latest()
        if start:
            log(f"Resuming {run_dir} at step {start} from {source_checkpoint.latest}")
        save_config(config, write_dir / CONFIG_FILE)
        write_layout(layout, write_dir)
        if start >= t.num_steps:
            log(f"Nothing to do: step {start} >= train.num_steps {t.num_steps}")
            return TrainResult(run_dir, start, start, None, source_checkpoint.latest, model)
        # A different seed per resume point, so a resumed run doesn't replay the same batches.
        dataset = training_batches(source, t.batch_size, t.n_critic, seed=t.seed + start,
                                   shuffle_buffer=config.data.shuffle_buffer,
                                   dataset_steps=config.data.dataset_steps)
        if t.replica_invariant:
            dataset = with_step_randomness(dataset, t.seed + start)
        if strategy.num_replicas_in_sync > 1:
            # Every worker builds the same seeded batches and keeps its share of each global batch.
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
            dataset = dataset.with_options(options)

    writer = tf.summary.create_file_writer(str(write_dir / "logs"))
    interactive = sys.stdout.isatty() if verbose is None else bool(verbose)
    guard = NonFiniteGuard()
    scalars = ScalarLogger(writer, t.log_every, print_lines=not interactive)
    samples = SampleGrid(source.sample_images, source.sample_labels, layout, write_dir / "samples", writer,
                         t.sample_every)
    checkpointer = Checkpointer(checkpoint, write_dir, t.checkpoint_every)
    log(f"Training {t.num_steps - start} steps ({start} -> {t.num_steps}) on {source.num_examples} images; "
        f"G {model.generator.count_params():,} params, D {model.discriminator.count_params():,} params; "
        f"{strategy.num_replicas_in_sync} replica(s), {t.precision}" + (", XLA" if jit_compile else ""))
    begin = time.perf_counter()
    # The guard runs first so that the callbacks after it never save after a bad step.
    model.fit(dataset, epochs=1, shuffle=False, steps_per_epoch=t.num_steps - start, verbose=1 if interactive else 0,
              callbacks=[guard, GeneratorAverage(), scalars, samples, checkpointer])
    elapsed = time.perf_counter() - begin
    writer.flush()
    if guard.failure:
        raise TrainingFailed(f"{guard.failure}; training stopped, last good checkpoint: "
                             f"{checkpoint.latest or 'none'}")
    final = int(model.step.numpy())
    if checkpoint.latest is None or not checkpoint.latest.endswith(f"-{final}"):
        checkpoint.save()
        save_generator(model.inference_generator, write_dir)
    if final % t.sample_every:
        samples.write()
    times = scalars.step_times[1:]  # the first step includes tracing
    per_step = float(sorted(times)[len(times) // 2]) if times else None
    if write_dir == run_dir:
        record_training_time(run_dir, final - start, elapsed, per_step)
    # A worker's own copies are deleted at the end: it reports the chief's run directory only.
    latest = checkpoint.latest if write_dir == run_dir else None
    log(f"Done: step {final}, {elapsed:.1f} s" + (f", median {per_step:.3f} s/step" if per_step else "")
        + (f"; checkpoint {latest}; samples in {write_dir / 'samples'}" if latest else "; artifacts by the chief"))
    return TrainResult(run_dir, start, final, per_step, latest, model)
