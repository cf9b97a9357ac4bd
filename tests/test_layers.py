import keras
import numpy as np
import pytest
import tensorflow as tf

from stargan_tf.layers import (
    InstanceNormalization,
    LabelModulation,
    NearestUpsampling,
    ResidualBlock,
    TileLabels,
    nearest_upsampling_conv,
)


def test_instance_norm_matches_definition():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(2, 5, 6, 4)).astype("float32")
    layer = InstanceNormalization()
    layer.build(x.shape)
    layer.gamma.assign(np.array([1.0, 2.0, 0.5, 1.0], "float32"))
    layer.beta.assign(np.array([0.0, 1.0, -1.0, 0.5], "float32"))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) * np.array([1, 2, 0.5, 1]) + np.array([0, 1, -1, 0.5])
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-4)


def test_instance_norm_equals_group_norm_with_one_group_per_channel():
    x = np.random.default_rng(1).normal(size=(3, 8, 8, 6)).astype("float32")
    ours = InstanceNormalization()
    theirs = keras.layers.GroupNormalization(groups=-1, epsilon=1e-5)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(theirs(x)), atol=1e-4)


def test_instance_norm_is_per_sample():
    x = np.random.default_rng(2).normal(size=(2, 4, 4, 3)).astype("float32")
    layer = InstanceNormalization()
    alone = np.asarray(layer(x[:1]))
    together = np.asarray(layer(x))[:1]
    np.testing.assert_allclose(alone, together, atol=1e-6)


def test_layers_serialize():
    for layer in (InstanceNormalization(epsilon=1e-3), ResidualBlock(8), ResidualBlock(8, modulated=True),
                  LabelModulation(4), TileLabels()):
        clone = layer.__class__.from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()


def test_tile_labels_concatenates_constant_planes():
    images = np.zeros((2, 4, 4, 3), "float32")
    labels = np.array([[1, 0], [0, 1]], "float32")
    out = np.asarray(TileLabels()(images, labels))
    assert out.shape == (2, 4, 4, 5)
    np.testing.assert_array_equal(out[0, :, :, 3], np.ones((4, 4)))
    np.testing.assert_array_equal(out[1, :, :, 3], np.zeros((4, 4)))


def test_residual_block_keeps_shape():
    x = np.random.default_rng(3).normal(size=(2, 8, 8, 16)).astype("float32")
    assert ResidualBlock(16)(x).shape == (2, 8, 8, 16)


def test_label_modulation_starts_as_identity_and_then_depends_on_the_label():
    x = np.random.default_rng(4).normal(size=(2, 4, 4, 3)).astype("float32")
    labels = np.array([[1, 0], [0, 1]], "float32")
    layer = LabelModulation(3)
    np.testing.assert_allclose(np.asarray(layer(x, labels)), x, atol=1e-6)
    layer.scale.kernel.assign(np.array([[1.0, 0, 0], [0, 0, 0]], "float32"))
    layer.shift.kernel.assign(np.array([[0, 0, 0], [0, 0, 0.5]], "float32"))
    out = np.asarray(layer(x, labels))
    np.testing.assert_allclose(out[0, ..., 0], 2 * x[0, ..., 0], atol=1e-6)  # scale (1 + 1) for label 0
    np.testing.assert_allclose(out[1, ..., 2], x[1, ..., 2] + 0.5, atol=1e-6)  # shift 0.5 for label 1


def test_modulated_residual_block_uses_the_label():
    x = np.random.default_rng(5).normal(size=(1, 8, 8, 4)).astype("float32")
    block = ResidualBlock(4, modulated=True)
    a = np.asarray(block(x, np.array([[1.0, 0.0]], "float32")))
    block.mod1.shift.kernel.assign(np.ones((2, 4), "float32"))
    b = np.asarray(block(x, np.array([[1.0, 0.0]], "float32")))
    c = np.asarray(block(x, np.array([[0.0, 0.0]], "float32")))
    assert np.abs(a - b).max() > 1e-3
    np.testing.assert_allclose(c, a, atol=1e-5)


def test_nearest_upsampling_copies_each_pixel_and_passes_back_the_block_sums_also_under_xla():
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(3).normal(size=(2, 3, 5, 4)), tf.float32)
    upstream = tf.constant(np.random.default_rng(4).normal(size=(2, 6, 10, 4)), tf.float32)
    layer = NearestUpsampling()
    y = layer(x)
    np.testing.assert_array_equal(np.asarray(y), np.repeat(np.repeat(np.asarray(x), 2, axis=1), 2, axis=2))
    assert NearestUpsampling(dtype="mixed_bfloat16")(x).dtype == tf.bfloat16

    def gradient() -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) * upstream)
        return tape.gradient(loss, x)

    expected = np.asarray(upstream).reshape(2, 3, 2, 5, 2, 4).sum(axis=(2, 4))
    np.testing.assert_allclose(np.asarray(gradient()), expected, rtol=1e-5, atol=1e-5)
    # XLA has no kernel for the gradient of a plain nearest resize.
    np.testing.assert_allclose(np.asarray(tf.function(gradient, jit_compile=True)()), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_nearest_upsampling_conv_is_the_resize_and_convolution_in_value_and_gradient(jit_compile):
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(2, 5, 6, 4)).astype("float32"))  # odd and even sizes
    conv = keras.layers.Conv2D(3, 3, padding="same", use_bias=False)
    conv.build((None, None, None, 4))
    conv.kernel.assign(rng.normal(size=(3, 3, 4, 3)).astype("float32"))
    upstream = tf.constant(rng.normal(size=(2, 10, 12, 3)).astype("float32"))

    def value_and_gradients(fused: bool) -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = nearest_upsampling_conv(x, conv.kernel) if fused else conv(NearestUpsampling()(x))
            loss = tf.reduce_sum(y * upstream)
        return [y, *tape.gradient(loss, [x, conv.kernel])]

    fused = tf.function(lambda: value_and_gradients(True), jit_compile=jit_compile)()
    for got, expected in zip(fused, value_and_gradients(False), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-4)
    assert nearest_upsampling_conv(tf.cast(x, tf.bfloat16), conv.kernel).dtype == tf.bfloat16
