import numpy as np
import pytest
import tensorflow as tf

from stargan_tf.labels import GroupSlice
from stargan_tf.losses import (
    adversarial_loss,
    attention_mask_loss,
    classification_gradient_penalty,
    classification_loss,
    generator_adversarial_loss,
    gradient_penalty,
    identity_loss,
    r1_penalty,
    reconstruction_loss,
)


def test_adversarial_losses_are_the_wgan_terms():
    real = tf.constant([[1.0, 3.0]])
    fake = tf.constant([[-1.0, 0.0]])
    assert float(adversarial_loss(real, fake)) == pytest.approx(-0.5 - 2.0)
    assert float(generator_adversarial_loss(fake)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown adversarial loss"):
        adversarial_loss(real, fake, kind="hinge-typo")


def test_nonsaturating_losses_are_the_log_sigmoid_terms():
    real = tf.constant([[2.0, -1.0]])
    fake = tf.constant([[0.5, -3.0]])
    log_sigmoid = lambda v: -np.log1p(np.exp(-v))  # noqa: E731
    expected_d = -np.mean(log_sigmoid(np.array([2.0, -1.0]))) - np.mean(log_sigmoid(-np.array([0.5, -3.0])))
    assert float(adversarial_loss(real, fake, "nonsaturating")) == pytest.approx(expected_d, rel=1e-6)
    # G's non-saturating side is -log D(G(x)), not log(1 - D(G(x))).
    expected_g = -np.mean(log_sigmoid(np.array([0.5, -3.0])))
    assert float(generator_adversarial_loss(fake, "nonsaturating")) == pytest.approx(expected_g, rel=1e-6)


def test_r1_penalty_is_the_squared_gradient_norm_on_real_images():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(1, 4, 4, 3)).astype("float32")
    # critic(x) = sum(a * x^2) / 2: gradient a * x, so R1 = mean over samples of ||a * x||^2.
    critic = lambda x: 0.5 * tf.reduce_sum(a * x * x, axis=[1, 2, 3])  # noqa: E731
    real = rng.normal(size=(3, 4, 4, 3)).astype("float32")
    expected = np.mean(np.sum((a * real) ** 2, axis=(1, 2, 3)))
    assert float(r1_penalty(critic, tf.constant(real))) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0])
def test_gradient_penalty_of_a_linear_critic(scale):
    # critic(x) = sum(a * x): its gradient is a everywhere, so GP = (||a|| - 1)^2.
    rng = np.random.default_rng(0)
    a = rng.normal(size=(1, 4, 4, 3)).astype("float32")
    a *= scale / np.linalg.norm(a)
    critic = lambda x: tf.reduce_sum(x * a, axis=[1, 2, 3])  # noqa: E731
    real = tf.constant(rng.normal(size=(3, 4, 4, 3)).astype("float32"))
    fake = tf.constant(rng.normal(size=(3, 4, 4, 3)).astype("float32"))
    alpha = tf.constant(rng.uniform(size=(3, 1, 1, 1)).astype("float32"))
    assert float(gradient_penalty(critic, real, fake, alpha)) == pytest.approx((scale - 1.0) ** 2, abs=1e-5)


def test_gradient_penalty_uses_the_gradient_of_the_whole_patch_map():
    # A patch critic returning x itself: d(sum of the map)/dx = 1 per pixel, norm = sqrt(#pixels).
    critic = lambda x: x  # noqa: E731
    real = tf.zeros((2, 2, 2, 1))
    penalty = gradient_penalty(critic, real, real, tf.ones((2, 1, 1, 1)))
    assert float(penalty) == pytest.approx((2.0 - 1.0) ** 2, abs=1e-5)


def _bce(logit, label):
    p = 1 / (1 + np.exp(-logit))
    return -(label * np.log(p) + (1 - label) * np.log(1 - p))


def test_binary_classification_loss_sums_attributes_and_averages_the_batch():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 1.0, -3.0]], "float32")
    labels = np.array([[1, 0, 1], [0, 1, 1]], "float32")
    groups = [GroupSlice("exclusive", 0, 2, 0), GroupSlice("binary", 2, 3, 0)]
    expected = _bce(logits, labels).sum(axis=1).mean()
    assert float(classification_loss(logits, labels, groups)) == pytest.approx(expected, rel=1e-5)


def test_categorical_classification_loss_is_softmax_cross_entropy():
    logits = np.array([[1.0, 2.0, 0.0]], "float32")
    labels = np.array([[0, 1, 0]], "float32")
    expected = -np.log(np.exp(2.0) / np.exp(logits).sum())
    loss = classification_loss(logits, labels, [GroupSlice("categorical", 0, 3, 0)])
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_classification_loss_ignores_the_unknown_dataset():
    # Two datasets: a binary attribute (dataset 0) and a 2-way category (dataset 1).
    groups = [GroupSlice("binary", 0, 1, 0), GroupSlice("categorical", 1, 3, 1)]
    logits = np.array([[3.0, 5.0, -5.0], [0.0, 0.0, 0.0]], "float32")
    labels = np.array([[1, 0, 0], [0, 1, 0]], "float32")  # unknown parts are zeros
    mask = np.array([[1, 0], [0, 1]], "float32")
    expected = (_bce(3.0, 1.0) + np.log(2.0)) / 2
    assert float(classification_loss(logits, labels, groups, mask)) == pytest.approx(expected, rel=1e-5)
    # Garbage logits in the masked-out slice change nothing.
    logits[0, 1:] = [100.0, -100.0]
    logits[1, 0] = 42.0
    assert float(classification_loss(logits, labels, groups, mask)) == pytest.approx(expected, rel=1e-5)


def test_classification_gradient_penalty_of_a_linear_classifier():
    # One binary attribute, logit = sum(w * x): each sample's loss gradient is (sigmoid(z) - y) * w.
    rng = np.random.default_rng(2)
    w = 0.1 * rng.normal(size=(1, 4, 4, 3)).astype("float32")
    classify = lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3])[:, None]  # noqa: E731
    real = rng.normal(size=(3, 4, 4, 3)).astype("float32")
    labels = np.array([[1.0], [0.0], [1.0]], "float32")
    z = np.sum(real * w, axis=(1, 2, 3))
    expected = np.mean((1 / (1 + np.exp(-z)) - labels[:, 0]) ** 2) * np.sum(w**2)
    groups = [GroupSlice("binary", 0, 1, 0)]
    penalty = classification_gradient_penalty(classify, tf.constant(real), tf.constant(labels), groups)
    assert float(penalty) == pytest.approx(expected, rel=1e-4)
    # A sample of the other dataset has no known label, so no gradient.
    mask = tf.constant([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    masked = classification_gradient_penalty(classify, tf.constant(real), tf.constant(labels), groups, mask)
    only_first = (1 / (1 + np.exp(-z[0])) - 1) ** 2 * np.sum(w**2) / 3
    assert float(masked) == pytest.approx(only_first, rel=1e-4)


def test_reconstruction_loss_is_mean_absolute_error():
    x = np.zeros((1, 2, 2, 3), "float32")
    y = np.full((1, 2, 2, 3), 0.25, "float32")
    assert float(reconstruction_loss(x, y)) == pytest.approx(0.25)
    assert float(reconstruction_loss(x, x)) == 0.0


def test_identity_loss_is_mean_absolute_change_of_a_same_domain_translation():
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(1, 2, 2, 3)
    assert float(identity_loss(x, x)) == 0.0
    assert float(identity_loss(x, x + 0.5)) == pytest.approx(0.5)
    assert float(identity_loss(x, -x)) == pytest.approx(float(np.mean(2 * np.abs(x))))


def test_attention_mask_loss_is_the_mean_square_and_the_total_variation():
    attention = np.zeros((2, 4, 4, 1), "float32")
    attention[:, :, :2] = 1.0  # left half kept: one vertical edge, 4 rows long
    square, roughness = attention_mask_loss(attention)
    assert float(square) == pytest.approx(0.5)
    # No vertical neighbours differ; 4 of the 12 horizontal pairs per image differ by 1.
    assert float(roughness) == pytest.approx(4 / 12)
    square, roughness = attention_mask_loss(np.full((1, 3, 3, 1), 0.5, "float32"))
    assert float(square) == pytest.approx(0.25) and float(roughness) == 0.0
