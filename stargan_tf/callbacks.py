"""fit() callbacks: TensorBoard scalars, sample grids, checkpoints, G's weight average and the NaN guard.

All of them key on the model's step (completed generator updates), which
survives a resume, rather than on Keras' per-fit batch counter.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from stargan_tf.checkpoints import TrainingCheckpoint, save_generator
from stargan_tf.data.pipeline import from_uint8
from stargan_tf.grid import domain_grid, save_png


def _step(model: keras.Model) -> int:
    return int(model.step.numpy())


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss; later callbacks then skip saving."""

    def __init__(self) -> None:
        super().__init__()
        self.failure: str | None = None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        bad = {k: float(v) for k, v in (logs or {}).items() if not math.isfinite(float(v))}
        if bad:
            name, value = next(iter(bad.items()))
            self.failure = f"non-finite loss {name}={value} at step {_step(self.model)}"
            self.model.stop_training = True


class GeneratorAverage(keras.callbacks.Callback):
    """After every good step, moves the average of G's weights towards G (train.g_ema_decay)."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not self.model.stop_training:
            self.model.update_generator_average()


class ScalarLogger(keras.callbacks.Callback):
    """Writes each loss term (mean over the last `every` steps) and both learning rates.

    The loss trackers are reset after each write, so the progress bar and
    TensorBoard both show recent values rather than a mean since the start.
    """

    def __init__(self, writer: tf.summary.SummaryWriter, every: int, print_lines: bool = False) -> None:
        super().__init__()
        self.writer = writer
        self.every = every
        self.print_lines = print_lines
        self.step_times: list[float] = []
        self._last = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        self.step_times.append(now - self._last)
        self._last = now
        step = _step(self.model)
        if step % self.every or self.model.stop_training:
            return
        values = {k: float(v) for k, v in (logs or {}).items()}
        lrs = {"lr/generator": float(self.model.g_optimizer.learning_rate),
               "lr/discriminator": float(self.model.d_optimizer.learning_rate)}
        per_dataset = getattr(self.model, "dataset_trackers", {})
        with self.writer.as_default(step=step):
            for name, value in values.items():
                if name in per_dataset:
                    # "celeba/d_cls": one TensorBoard section per dataset; skipped when the
                    # window held no step of that dataset (its mean would read 0).
                    if float(per_dataset[name].count) > 0:
                        tf.summary.scalar(name, value)
                    continue
                tf.summary.scalar(f"{name[0].upper()}/{name}", value)
            for name, value in lrs.items():
                tf.summary.scalar(name, value)
        for tracker in self.model.metrics:
            tracker.reset_state()
        if self.print_lines:
            recent = np.median(self.step_times[-self.every:])
            text = "  ".join(f"{k} {v:.4f}" for k, v in values.items() if k not in per_dataset)
            print(f"step {step}  {text}  ({recent:.3f} s/step)", flush=True)


class SampleGrid(keras.callbacks.Callback):
    """Every `every` steps: fixed held-out faces translated to every domain, as PNG and TensorBoard image."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, layout, directory: str | Path,
                 writer: tf.summary.SummaryWriter, every: int) -> None:
        super().__init__()
        self.images = from_uint8(images) if images.dtype == np.uint8 else images
        self.labels = labels
        self.layout = layout
        self.directory = Path(directory)
        self.writer = writer
        self.every = every

    def write(self) -> Path:
        step = _step(self.model)
        generator = self.model.inference_generator
        grid = domain_grid(lambda x, c: generator((x, c), training=False), self.images, self.labels, self.layout)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"step_{step:06d}.png"
        save_png(grid, str(path))
        with self.writer.as_default(step=step):
            tf.summary.image("samples", grid[None], max_outputs=1)
        return path

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if _step(self.model) % self.every == 0 and not self.model.stop_training:
            self.write()


class Checkpointer(keras.callbacks.Callback):
    """Every `every` steps: a training checkpoint and `generator.keras`."""

    def __init__(self, checkpoint: TrainingCheckpoint, run_dir: str | Path, every: int) -> None:
        super().__init__()
        self.checkpoint = checkpoint
        self.run_dir = Path(run_dir)
        self.every = every

    def save(self) -> None:
        self.checkpoint.save()
        save_generator(self.model.inference_generator, self.run_dir)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if _step(self.model) % self.every == 0 and not self.model.stop_training:
            self.save()
