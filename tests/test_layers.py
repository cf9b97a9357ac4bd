import keras
import numpy as np

from stargan_tf.layers import InstanceNormalization, ResidualBlock, TileLabels


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
    for layer in (InstanceNormalization(epsilon=1e-3), ResidualBlock(8), TileLabels()):
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
