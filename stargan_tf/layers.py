"""Layers shared by the StarGAN networks. All are serializable (`get_config`)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="stargan_tf")
class InstanceNormalization(keras.layers.Layer):
    """Per-sample, per-channel normalization over H and W, with affine gamma/beta.

    Moments are taken on the 4-D tensor directly (no reshape to 5-D as in
    `GroupNormalization`), so the layer converts to builtin TFLite ops that
    GPU delegates accept. Statistics are computed in float32 even under mixed
    precision. epsilon 1e-5 matches PyTorch's InstanceNorm2d.
    """

    def __init__(self, epsilon: float = 1e-5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, "float32")
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=(1, 2), keepdims=True)
        x = (x - mean) * ops.rsqrt(variance + self.epsilon)
        x = x * ops.cast(self.gamma, "float32") + ops.cast(self.beta, "float32")
        return ops.cast(x, self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="stargan_tf")
class LabelModulation(keras.layers.Layer):
    """Scales and shifts normalized features by the label: x * (1 + W_g c) + W_b c.

    Instance normalization removes the constant label planes that the paper
    concatenates to the input (only their border effects through zero padding
    survive), so the generator learns to read the label slowly. Modulating
    after each normalization (conditional instance norm) hands the label to
    every layer. The projections start at zero, so a fresh layer is the identity.
    """

    def __init__(self, channels: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channels = channels
        self.scale = keras.layers.Dense(channels, kernel_initializer="zeros", name="scale")
        self.shift = keras.layers.Dense(channels, kernel_initializer="zeros", name="shift")

    def build(self, inputs_shape: Any, labels_shape: Any) -> None:
        self.scale.build((None, labels_shape[-1]))
        self.shift.build((None, labels_shape[-1]))

    def call(self, inputs: Any, labels: Any) -> Any:
        labels = ops.cast(labels, inputs.dtype)
        scale = ops.expand_dims(ops.expand_dims(self.scale(labels), 1), 1)
        shift = ops.expand_dims(ops.expand_dims(self.shift(labels), 1), 1)
        return inputs * (1.0 + scale) + shift

    def compute_output_shape(self, inputs_shape: Any, labels_shape: Any) -> Any:
        return inputs_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="stargan_tf")
class ResidualBlock(keras.layers.Layer):
    """conv3x3-IN-ReLU-conv3x3-IN plus the identity (paper Table 4 bottleneck).

    With `modulated=True` each normalization is followed by a `LabelModulation`
    and the block is called as `block(x, labels)`.
    """

    def __init__(self, filters: int, modulated: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = filters
        self.modulated = modulated
        self.conv1 = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv1")
        self.norm1 = InstanceNormalization(name="norm1")
        self.conv2 = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv2")
        self.norm2 = InstanceNormalization(name="norm2")
        if modulated:
            self.mod1 = LabelModulation(filters, name="mod1")
            self.mod2 = LabelModulation(filters, name="mod2")

    def build(self, inputs_shape: tuple[int | None, ...], labels_shape: Any = None) -> None:
        self.conv1.build(inputs_shape)
        shape = (*inputs_shape[:-1], self.filters)
        self.norm1.build(shape)
        self.conv2.build(shape)
        self.norm2.build(shape)
        if self.modulated:
            self.mod1.build(shape, labels_shape)
            self.mod2.build(shape, labels_shape)

    def call(self, inputs: Any, labels: Any = None) -> Any:
        x = self.norm1(self.conv1(inputs))
        x = ops.relu(self.mod1(x, labels) if self.modulated else x)
        x = self.norm2(self.conv2(x))
        x = self.mod2(x, labels) if self.modulated else x
        return inputs + x

    def compute_output_shape(self, inputs_shape: tuple[int | None, ...], labels_shape: Any = None) -> Any:
        return inputs_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "modulated": self.modulated}


@tf.custom_gradient
def _upsample_nearest(images: tf.Tensor) -> tuple[tf.Tensor, Any]:
    n, h, w, c = tf.unstack(tf.shape(images))
    upsampled = tf.image.resize(images, (2 * h, 2 * w), method="nearest")

    def gradient(upstream: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.reshape(upstream, (n, h, 2, w, 2, c)), axis=(2, 4))

    return upsampled, gradient


@keras.saving.register_keras_serializable(package="stargan_tf")
class NearestUpsampling(keras.layers.Layer):
    """Doubles H and W by nearest-neighbour resizing.

    A plain image resize (one builtin TFLite op) rather than `UpSampling2D`,
    whose repeat lowers to 5-D ops that GPU delegates reject. Its gradient is
    written out (each input pixel feeds the 2x2 block above it, so it gets the
    block's sum) because XLA has no kernel for the resize's own gradient op,
    which made `--xla` training fail.
    """

    def call(self, inputs: Any) -> Any:
        return _upsample_nearest(inputs)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        n, h, w, c = input_shape
        return (n, None if h is None else 2 * h, None if w is None else 2 * w, c)


# Nearest 2x up-sampling followed by a 3x3 "same" convolution is exactly one stride-2 transposed convolution
# with a 4x4 kernel: along each axis, output 2i sees inputs i-1 and i with taps (w0, w1 + w2), output 2i + 1
# sees inputs i and i+1 with taps (w0 + w1, w2). Row t of this matrix maps the 3 taps onto tap t of the 4x4
# kernel (TF's "SAME" transposed convolution puts input k's tap t at output 2k + t - 1).
_UPSAMPLED_TAPS = ((0.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 0.0))


def nearest_upsampling_conv(inputs: Any, kernel: Any) -> Any:
    """conv3x3(nearest_upsample_2x(inputs), kernel), `kernel` [3, 3, C_in, C_out], in one transposed convolution.

    Same values as `NearestUpsampling` followed by a `Conv2D(3, padding="same", use_bias=False)`,
    at 16 multiply-adds per input pixel and channel pair instead of 36, and a cheaper gradient.
    """
    taps = ops.convert_to_tensor(_UPSAMPLED_TAPS, dtype="float32")
    # [4, 4, C_out, C_in], summed in float32 before any cast to the compute dtype.
    transposed = ops.einsum("ti,uj,ijab->tuba", taps, taps, ops.cast(kernel, "float32"))
    return ops.conv_transpose(inputs, ops.cast(transposed, inputs.dtype), strides=2, padding="same")


@keras.saving.register_keras_serializable(package="stargan_tf")
class TileLabels(keras.layers.Layer):
    """Replicates a label vector [N, C] spatially to [N, H, W, C] and concatenates it to the image.

    Uses reshape + tile rather than UpSampling2D, which lowers to 5-D ops.
    """

    def call(self, images: Any, labels: Any) -> Any:
        height, width = ops.shape(images)[1], ops.shape(images)[2]
        labels = ops.cast(labels, images.dtype)
        planes = ops.tile(ops.expand_dims(ops.expand_dims(labels, 1), 1), (1, height, width, 1))
        return ops.concatenate([images, planes], axis=-1)

    def compute_output_shape(self, images_shape: Any, labels_shape: Any) -> tuple[int | None, ...]:
        return (*images_shape[:-1], images_shape[-1] + labels_shape[-1])
