"""Resumable training state and the inference artifact of a run directory.

Run directory layout:
    config.yaml        the resolved configuration
    labels.json        the label layout (domain names, groups, mask)
    checkpoints/       tf.train checkpoints of G, D, both optimizers (and so the step)
    generator.keras    G alone, for inference
    samples/           sample grids, step_000200.png ...
    logs/              TensorBoard event files
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from stargan_tf.labels import LabelLayout

GENERATOR_FILE = "generator.keras"
LABELS_FILE = "labels.json"
CONFIG_FILE = "config.yaml"


class MissingCheckpointError(ValueError):
    """`TrainingCheckpoint.restore` was asked for a step its index does not list."""


class TrainingCheckpoint:
    """Writes and restores G, D, both optimizers and the step (the G optimizer's counter).

    Each save goes to a new file prefix and the `checkpoint` index is replaced
    atomically only after the files are complete, so a kill during a write
    leaves the previous checkpoint as the latest valid one.
    """

    def __init__(self, model: keras.Model, directory: str | Path, keep: int = 3) -> None:
        parts = {"generator": model.generator, "discriminator": model.discriminator,
                 "g_optimizer": model.g_optimizer, "d_optimizer": model.d_optimizer}
        if getattr(model, "generator_average", None) is not None:
            # G's and D's variables are reached through their optimizers; the average has no
            # optimizer, so its variables are listed explicitly.
            parts["generator_average"] = list(model.generator_average.weights)
        self.checkpoint = tf.train.Checkpoint(**parts)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(directory), max_to_keep=keep,
                                                  checkpoint_name="ckpt")
        self.model = model

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint

    def save(self) -> str:
        return self.manager.save(checkpoint_number=int(self.model.step.numpy()))

    def _indexed(self) -> dict[int, str]:
        """Step -> file prefix of every checkpoint the index lists (the manager names them `ckpt-STEP`)."""
        return {int(path.rsplit("-", 1)[1]): path for path in self.manager.checkpoints}

    def saved_steps(self) -> list[int]:
        """The steps of the checkpoints the index lists, oldest first."""
        return sorted(self._indexed())

    def restore(self, step: int) -> None:
        """Restores the checkpoint saved at `step`; a step the index does not list is a MissingCheckpointError."""
        indexed = self._indexed()
        if step not in indexed:
            raise MissingCheckpointError(f"{self.manager.directory} has no checkpoint at step {step} "
                                         f"(saved: {', '.join(map(str, sorted(indexed))) or 'none'})")
        self.checkpoint.restore(indexed[step]).assert_existing_objects_matched()

    def restore_latest(self) -> int:
        """Restores the newest complete checkpoint; returns its step (0 when there is none)."""
        if self.latest is None:
            return 0
        self.checkpoint.restore(self.latest).assert_existing_objects_matched()
        return int(self.model.step.numpy())


def save_generator(generator: keras.Model, run_dir: str | Path) -> Path:
    """Saves G as `generator.keras`, replacing the old file only once the new one is complete."""
    target = Path(run_dir) / GENERATOR_FILE
    fd, tmp = tempfile.mkstemp(suffix=".keras", dir=run_dir)
    os.close(fd)
    try:
        generator.save(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def write_layout(layout: LabelLayout, run_dir: str | Path) -> None:
    path = Path(run_dir) / LABELS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(layout.to_json())
    os.replace(tmp, path)


def read_layout(run_dir: str | Path) -> LabelLayout:
    return LabelLayout.from_json((Path(run_dir) / LABELS_FILE).read_text())


def load_generator(run_dir: str | Path) -> keras.Model:
    """G for inference (never D, whose classifier head depends on the training resolution)."""
    import stargan_tf.models  # noqa: F401  (registers the serializable classes)

    return keras.models.load_model(Path(run_dir) / GENERATOR_FILE, safe_mode=True, compile=False)
