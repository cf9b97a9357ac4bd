import keras
import numpy as np
import pytest
import tensorflow as tf

from stargan_tf.data.pipeline import training_batches
from stargan_tf.data.sources import load_source
from stargan_tf.losses import classification_loss
from stargan_tf.trainer import (
    CLS_FAKE_NAME,
    CLS_PENALTY_NAME,
    IDENTITY_LOSS_NAME,
    LOSS_NAMES,
    MASK_LOSS_NAMES,
    LinearDecay,
    build_stargan,
    update_weight_average,
)


def test_linear_decay_endpoints():
    schedule = LinearDecay(1e-4, total_steps=100, decay_steps=40)
    assert float(schedule(0)) == pytest.approx(1e-4)
    assert float(schedule(60)) == pytest.approx(1e-4)
    assert float(schedule(80)) == pytest.approx(5e-5)
    assert float(schedule(100)) == 0.0
    assert float(schedule(150)) == 0.0
    assert float(LinearDecay(1e-4, 100, 0)(100)) == pytest.approx(1e-4)
    assert LinearDecay.from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_both_learning_rates_reach_zero_at_the_last_step(tiny_config):
    tiny_config.train.decay_steps = 10
    source = load_source(tiny_config)
    model = build_stargan(tiny_config, source.layout)
    n = tiny_config.train.n_critic
    assert float(model.g_optimizer.learning_rate) == pytest.approx(tiny_config.train.g_lr)
    model.g_optimizer.iterations.assign(tiny_config.train.num_steps)
    model.d_optimizer.iterations.assign(tiny_config.train.num_steps * n)
    assert float(model.g_optimizer.learning_rate) == 0.0
    assert float(model.d_optimizer.learning_rate) == 0.0


def test_training_batches_layout(tiny_config):
    source = load_source(tiny_config)
    images, labels = next(iter(training_batches(source, batch_size=3, n_critic=2)))
    assert images.shape == (3, 2, 32, 32, 3)
    assert labels.shape == (3, 2, source.layout.label_dim)
    assert -1.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0


def changed(weights, before):
    return any(np.abs(w.numpy() - b).max() > 0 for w, b in zip(weights, before, strict=True))


@pytest.mark.parametrize("translation", [0.0, 0.125])
def test_one_step_updates_both_networks_the_right_number_of_times(tiny_config, translation):
    tiny_config.train.d_translation = translation  # DiffAugment shifts in both updates
    source = load_source(tiny_config)
    model = build_stargan(tiny_config, source.layout)
    g_before = [w.numpy().copy() for w in model.generator.trainable_weights]
    d_before = [w.numpy().copy() for w in model.discriminator.trainable_weights]
    batch = next(iter(training_batches(source, tiny_config.train.batch_size, tiny_config.train.n_critic)))
    logs = model.train_step(batch)
    assert set(logs) == set(LOSS_NAMES)
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert int(model.g_optimizer.iterations) == 1
    assert int(model.d_optimizer.iterations) == tiny_config.train.n_critic
    assert changed(model.generator.trainable_weights, g_before)
    assert changed(model.discriminator.trainable_weights, d_before)


def test_one_step_equals_separate_updates_with_the_translation_computed_again(tiny_config):
    # train_step lets D's last update reuse the translation G's update computes; with G unchanged
    # between the two updates, that must be exactly what separate updates do.
    for key, value in {"g_output": "attention", "g_upsample": "resize", "g_conditioning": "modulated",
                       "d_projection": True}.items():
        setattr(tiny_config.model, key, value)
    tiny_config.loss.lambda_cls_fake = 1.0
    tiny_config.train.d_translation = 0.0
    source = load_source(tiny_config)
    joint, separate = build_stargan(tiny_config, source.layout), build_stargan(tiny_config, source.layout)
    separate.generator.set_weights(joint.generator.get_weights())
    separate.discriminator.set_weights(joint.discriminator.get_weights())
    images, labels = next(iter(training_batches(source, tiny_config.train.batch_size, tiny_config.train.n_critic)))
    targets = tf.reverse(labels, axis=[0])
    alphas = tf.random.stateless_uniform(labels.shape[:2], seed=(1, 2))
    joint_logs = joint.train_step((images, labels, targets, alphas))
    for k in range(tiny_config.train.n_critic):
        d_logs = separate.discriminator_step(images[:, k], labels[:, k], targets[:, k], alphas[:, k])
    g_logs = separate.generator_step(images[:, -1], labels[:, -1], targets[:, -1])
    for name, value in {**d_logs, **g_logs}.items():
        assert float(joint_logs[name]) == pytest.approx(float(value), rel=1e-4, abs=1e-6), name
    for network in ("generator", "discriminator"):
        for a, b in zip(getattr(joint, network).weights, getattr(separate, network).weights, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6, err_msg=f"{network} {a.path}")


@pytest.mark.parametrize("lambda_cls_real", [0.0, 1.0])
def test_classifier_trunk_learns_from_the_classification_terms_alone(tiny_config, lambda_cls_real):
    # With D_cls on a trunk of its own, D's adversarial term and gradient penalty never reach that trunk:
    # without classification terms a D update leaves it as it was, and with one it moves.
    tiny_config.model.d_cls_trunk = True
    tiny_config.loss.lambda_cls_real = lambda_cls_real
    source = load_source(tiny_config)
    model = build_stargan(tiny_config, source.layout)
    d = model.discriminator
    trunk = [w for layer in d.cls_body for w in layer.trainable_weights]
    critic = [w for layer in d.body for w in layer.trainable_weights]
    trunk_before, critic_before = [w.numpy() for w in trunk], [w.numpy() for w in critic]
    images, labels = next(iter(training_batches(source, tiny_config.train.batch_size, tiny_config.train.n_critic)))
    model.discriminator_step(images[:, 0], labels[:, 0], tf.reverse(labels[:, 0], axis=[0]))
    assert changed(critic, critic_before)
    assert changed(trunk, trunk_before) == (lambda_cls_real > 0)


def test_discriminator_classification_loss_decreases_on_a_fixed_batch(tiny_config):
    # A learning check: D's classifier fits the labels of a fixed batch within a few steps.
    tiny_config.train.d_lr = 1e-3
    source = load_source(tiny_config)
    model = build_stargan(tiny_config, source.layout)
    batch = next(iter(training_batches(source, 8, tiny_config.train.n_critic, flip=False)))
    first = float(model.train_step(batch)["d_cls"])
    for tracker in model.metrics:
        tracker.reset_state()
    for _ in range(15):
        logs = model.train_step(batch)
        for tracker in model.metrics:
            tracker.reset_state()
        last = float(logs["d_cls"])
    assert last < 0.7 * first


@pytest.mark.parametrize("key, name", [("lambda_id", IDENTITY_LOSS_NAME), ("lambda_cls_gp", CLS_PENALTY_NAME),
                                       ("lambda_cls_fake", CLS_FAKE_NAME)])
def test_optional_loss_terms_are_logged_and_weighted_only_when_on(tiny_config, key, name):
    source = load_source(tiny_config)
    batch = next(iter(training_batches(source, tiny_config.train.batch_size, tiny_config.train.n_critic)))
    assert name not in build_stargan(tiny_config, source.layout).train_step(batch)
    setattr(tiny_config.loss, key, 3.0)
    logs = build_stargan(tiny_config, source.layout).train_step(batch)
    assert set(logs) == set(LOSS_NAMES) | {name}
    assert float(logs[name]) > 0
    # The identity loss is a G term, the other two are D terms; each weighted by 3.
    loss = tiny_config.loss
    d_expected = logs["d_adv"] + loss.lambda_cls * logs["d_cls"] + loss.lambda_gp * logs["d_gp"]
    g_expected = logs["g_adv"] + loss.lambda_cls * logs["g_cls"] + loss.lambda_rec * logs["g_rec"]
    if name != IDENTITY_LOSS_NAME:
        d_expected += 3.0 * logs[name]
    else:
        g_expected += 3.0 * logs[name]
    assert float(logs["d_loss"]) == pytest.approx(float(d_expected), rel=1e-5)
    assert float(logs["g_loss"]) == pytest.approx(float(g_expected), rel=1e-5)


def test_attention_generator_adds_the_weighted_mask_terms_of_both_cycle_passes(tiny_config):
    tiny_config.model.g_output = "attention"
    tiny_config.loss.lambda_mask, tiny_config.loss.lambda_mask_tv = 2.0, 5.0
    source = load_source(tiny_config)
    batch = next(iter(training_batches(source, tiny_config.train.batch_size, tiny_config.train.n_critic)))
    model = build_stargan(tiny_config, source.layout)
    x_real = batch[0][:, -1]
    before = np.asarray(model.generator((x_real, batch[1][:, -1]), return_attention=True)[1])
    logs = model.train_step(batch)
    assert set(logs) == set(LOSS_NAMES) | set(MASK_LOSS_NAMES)
    # A fresh mask is sigmoid(4) everywhere: both passes' mean squares are about its square.
    assert float(logs["g_mask"]) == pytest.approx(float(np.mean(before ** 2)), rel=0.02)
    loss = tiny_config.loss
    g_expected = (logs["g_adv"] + loss.lambda_cls * logs["g_cls"] + loss.lambda_rec * logs["g_rec"]
                  + 2.0 * logs["g_mask"] + 5.0 * logs["g_mask_tv"])
    assert float(logs["g_loss"]) == pytest.approx(float(g_expected), rel=1e-5)


def test_fake_classification_term_scores_translations_against_their_source_labels(tiny_config):
    tiny_config.loss.lambda_cls_fake = 1.0
    tiny_config.train.d_translation = 0.0
    source = load_source(tiny_config)
    images, labels = next(iter(training_batches(source, tiny_config.train.batch_size, tiny_config.train.n_critic)))
    x_real, c_org = images[:, 0], labels[:, 0]
    c_trg = tf.reverse(c_org, axis=[0])
    model = build_stargan(tiny_config, source.layout)
    n_d = source.layout.num_domains
    _, cls_fake = model.critique(model.generator((x_real, c_trg), training=True), c_trg)
    with_source = classification_loss(cls_fake, c_org[:, :n_d], model.group_slices)
    with_target = classification_loss(cls_fake, c_trg[:, :n_d], model.group_slices)
    logs = model.discriminator_step(x_real, c_org, c_trg)
    assert float(logs[CLS_FAKE_NAME]) == pytest.approx(float(with_source), rel=1e-4)
    assert float(with_source) != pytest.approx(float(with_target), rel=1e-3)


def test_lambda_cls_real_weighs_only_the_discriminator_classification_term(tiny_config):
    tiny_config.loss.lambda_cls_real = 4.0
    source = load_source(tiny_config)
    batch = next(iter(training_batches(source, tiny_config.train.batch_size, tiny_config.train.n_critic)))
    logs = build_stargan(tiny_config, source.layout).train_step(batch)
    gp_weight = tiny_config.loss.lambda_gp
    assert float(logs["d_loss"]) == pytest.approx(
        float(logs["d_adv"] + 4.0 * logs["d_cls"] + gp_weight * logs["d_gp"]), rel=1e-5)
    assert float(logs["g_loss"]) == pytest.approx(float(
        logs["g_adv"] + tiny_config.loss.lambda_cls * logs["g_cls"] + tiny_config.loss.lambda_rec * logs["g_rec"]),
        rel=1e-5)


def test_generator_average_is_an_exponential_moving_average_of_g(tiny_config):
    source = load_source(tiny_config)
    assert build_stargan(tiny_config, source.layout).generator_average is None
    tiny_config.train.g_ema_decay = 0.9
    model = build_stargan(tiny_config, source.layout)
    assert model.inference_generator is model.generator_average
    for average, weight in zip(model.generator_average.weights, model.generator.weights, strict=True):
        np.testing.assert_array_equal(average.numpy(), weight.numpy())
    before = [w.numpy().copy() for w in model.generator_average.weights]
    batch = next(iter(training_batches(source, tiny_config.train.batch_size, tiny_config.train.n_critic)))
    model.train_step(batch)
    model.update_generator_average()
    assert changed(model.generator.trainable_weights, before)
    for average, weight, old in zip(model.generator_average.weights, model.generator.weights, before, strict=True):
        np.testing.assert_allclose(average.numpy(), 0.9 * old + 0.1 * weight.numpy(), rtol=1e-5, atol=1e-7)


def test_weight_average_of_a_lower_precision_model_stays_in_its_own_dtype():
    def dense(dtype: str) -> keras.Model:
        return keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, dtype=dtype)])

    model, average = dense("bfloat16"), dense("float32")
    model.set_weights([np.full((2, 3), 2.0), np.full((3,), -1.0)])
    average.set_weights([np.zeros((2, 3)), np.ones((3,))])
    update_weight_average(average, model, 0.75)
    kernel, bias = average.get_weights()
    assert kernel.dtype == np.float32
    np.testing.assert_allclose(kernel, np.full((2, 3), 0.5))
    np.testing.assert_allclose(bias, np.full((3,), 0.5))


def test_nonsaturating_loss_trains_with_the_r1_penalty(tiny_config):
    tiny_config.loss.adversarial = "nonsaturating"
    tiny_config.loss.lambda_gp = 1.0
    source = load_source(tiny_config)
    model = build_stargan(tiny_config, source.layout)
    batch = next(iter(training_batches(source, tiny_config.train.batch_size, tiny_config.train.n_critic)))
    logs = model.train_step(batch)
    # Softplus terms are positive (WGAN's can be negative), and R1 is a squared norm.
    assert float(logs["d_adv"]) > 0 and float(logs["g_adv"]) > 0 and float(logs["d_gp"]) > 0
    expected = logs["d_adv"] + tiny_config.loss.lambda_cls * logs["d_cls"] + 1.0 * logs["d_gp"]
    assert float(logs["d_loss"]) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize("adversarial", ["wgan-gp", "nonsaturating"])
def test_projection_critic_trains_with_either_adversarial_loss(tiny_config, adversarial):
    tiny_config.model.d_projection = True
    tiny_config.loss.adversarial = adversarial
    source = load_source(tiny_config)
    model = build_stargan(tiny_config, source.layout)
    assert model.discriminator.label_dim == source.layout.label_dim
    embedding = model.discriminator.label_embedding.kernel
    before = embedding.numpy().copy()
    batch = next(iter(training_batches(source, tiny_config.train.batch_size, tiny_config.train.n_critic)))
    logs = model.train_step(batch)
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert not np.array_equal(before, embedding.numpy())  # the label embedding is one of D's weights
