"""The judging classifier: a small ResNet that predicts a dataset's labels from real images.

It plays the role of the paper's ResNet-18 expression classifier (Sec. 5.5,
Table 3): trained on real images only, it then judges whether translated
images show their target attributes. It predicts the full label layout of a
run (every dataset's labels, mask excluded) and, like StarGAN's own
classifier, learns only from the labels each image's dataset provides. The
layout is stored in the saved model, so one `.keras` file is all a judge needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from stargan_tf.labels import LabelLayout
from stargan_tf.losses import classification_loss


@keras.saving.register_keras_serializable(package="stargan_tf")
class AttributeClassifier(keras.Model):
    """Images [N, H, W, 3] in [-1, 1] -> label logits [N, n_d] of `layout`."""

    def __init__(self, layout: dict[str, Any], image_size: int, width: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layout_dict = dict(layout)
        self.layout = LabelLayout.from_dict(layout)
        self.image_size = image_size
        self.width = width
        self.stem = [layers.Conv2D(width, 3, padding="same", use_bias=False), layers.BatchNormalization(),
                     layers.ReLU()]
        # A full-resolution stage first: expressions differ by lines a pixel or two wide
        # (a mouth's curvature, a raised brow) that a stride-2 start would blur away.
        # Then one strided residual stage per halving down to 8x8; widths double up to 8x.
        self.stages = [self._block(width, 1)]
        filters, size = width, image_size
        while size > 8:
            filters = min(filters * 2, width * 8)
            self.stages.append(self._block(filters, 2))
            size //= 2
        # Flattening (not global pooling) keeps where a feature is: a mouth shape means
        # an expression only at the mouth.
        self.pool = layers.Flatten()
        # Held-out people differ from the training ones: without dropout the dense head memorises faces.
        self.dropout = layers.Dropout(0.5)
        self.head = layers.Dense(self.layout.num_domains)

    @staticmethod
    def _block(filters: int, stride: int) -> dict[str, list]:
        return {
            "main": [layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False),
                     layers.BatchNormalization(), layers.ReLU(),
                     layers.Conv2D(filters, 3, padding="same", use_bias=False), layers.BatchNormalization()],
            "skip": [layers.Conv2D(filters, 1, strides=stride, use_bias=False), layers.BatchNormalization()],
        }

    def build(self, input_shape: Any) -> None:
        self.call(keras.KerasTensor(tuple(input_shape)))
        self.built = True

    def call(self, images: Any, training: bool | None = None) -> Any:
        x = images
        for layer in self.stem:
            x = layer(x, training=training)
        for block in self.stages:
            main, skip = x, x
            for layer in block["main"]:
                main = layer(main, training=training)
            for layer in block["skip"]:
                skip = layer(skip, training=training)
            x = keras.ops.relu(main + skip)
        return self.head(self.dropout(self.pool(x), training=training))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "layout": self.layout_dict, "image_size": self.image_size,
                "width": self.width}


def build_classifier(layout: LabelLayout, image_size: int, width: int = 32) -> AttributeClassifier:
    model = AttributeClassifier(layout.to_dict(), image_size, width, name="attribute_classifier")
    model.build((None, image_size, image_size, 3))
    return model


def load_classifier(path: str | Path) -> AttributeClassifier:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"classifier file not found: {path}")
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # Keras raises assorted errors for foreign files
        raise ValueError(f"{path} is not a judging classifier: {str(err).splitlines()[0]}") from None
    if not isinstance(model, AttributeClassifier):
        raise ValueError(f"{path} is not a judging classifier (made by `python -m stargan_tf.evaluate "
                         "train-classifier`)")
    return model


# -- decisions ---------------------------------------------------------------

def decide(layout: LabelLayout, logits: np.ndarray) -> np.ndarray:
    """Logits [N, n_d] -> 0/1 decisions: binary attributes above 0, one member per group (argmax)."""
    logits = np.asarray(logits, np.float32)
    decisions = np.zeros_like(logits)
    for group in layout.group_slices():
        part = logits[:, group.start: group.stop]
        if group.kind == "binary":
            decisions[:, group.start: group.stop] = part > 0
        else:
            decisions[np.arange(len(part)), group.start + part.argmax(axis=1)] = 1.0
    return decisions


def predict_logits(model: Callable, images: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Runs a classifier (anything mapping [N, H, W, 3] in [-1, 1] to [N, n_d]) in batches."""
    outputs = [np.asarray(model(np.asarray(images[i: i + batch_size], np.float32), training=False))
               for i in range(0, len(images), batch_size)]
    return np.concatenate(outputs)


def domain_accuracy(layout: LabelLayout, decisions: np.ndarray, labels: np.ndarray,
                    domains: list[str] | None = None) -> dict[str, float]:
    """Accuracy per domain against full label vectors [N, n_c], over the images it applies to.

    A binary attribute counts every image of its dataset. A group member
    counts the images whose true member it is (its recall), so "happy" is
    the share of happy faces recognised as happy. Domains without images are left out.
    """
    labels = np.asarray(labels, np.float32)
    own = layout.dataset_mask(labels).argmax(axis=1)
    result = {}
    for group in layout.group_slices():
        for position in range(group.start, group.stop):
            name = layout.domain_names[position]
            if domains is not None and name not in domains:
                continue
            rows = own == group.dataset
            if group.kind != "binary":
                rows &= labels[:, position] > 0.5
                hit = decisions[:, group.start: group.stop].argmax(axis=1) == position - group.start
            else:
                hit = decisions[:, position] == (labels[:, position] > 0.5)
            if rows.any():
                result[name] = float(hit[rows].mean())
    return result


# -- training ----------------------------------------------------------------

def train_classifier(layout: LabelLayout, batches: tf.data.Dataset, image_size: int, steps: int,
                     width: int = 32, learning_rate: float = 1e-3,
                     validation: tuple[np.ndarray, np.ndarray] | None = None,
                     log: Callable[[str], None] = print, log_every: int = 100) -> AttributeClassifier:
    """Trains a judge on batches of (images [B, H, W, 3] in [-1, 1], full label vectors [B, n_c])."""
    model = build_classifier(layout, image_size, width)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(steps, 1), alpha=0.01)
    optimizer = keras.optimizers.Adam(schedule)
    groups = layout.group_slices()
    n_d = layout.num_domains

    @tf.function
    def step(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        mask = labels[:, n_d:] if layout.has_mask else None
        with tf.GradientTape() as tape:
            loss = classification_loss(model(images, training=True), labels[:, :n_d], groups, mask)
        variables = model.trainable_variables
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    begin = time.perf_counter()
    for index, (images, labels) in enumerate(batches.take(steps)):
        loss = step(images, labels)
        if (index + 1) % log_every == 0 or index + 1 == steps:
            line = f"classifier step {index + 1}/{steps}: loss {float(loss):.4f}"
            if validation is not None:
                accuracy = domain_accuracy(layout, decide(layout, predict_logits(model, validation[0])),
                                           validation[1])
                line += f", held-out accuracy {np.mean(list(accuracy.values())):.4f}"
            log(line + f" ({time.perf_counter() - begin:.0f} s)")
    return model
