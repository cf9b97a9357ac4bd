"""The StarGAN training model: both networks, both optimizers and one train_step.

One step = n_critic discriminator updates followed by one generator update; the
last D update runs inside the G update, on the translation G's update computes.
The data pipeline delivers each step's images as [B, n_critic, H, W, 3] so
that no optimizer update sits inside a `tf.cond` (which distribution
strategies reject) and a strategy can split the batch along B.

Precision: layers are built under the Keras policy of `train.precision`;
G's output, D's heads, instance-norm statistics and every loss stay float32.
With float16 both optimizers are `LossScaleOptimizer`s and each loss is scaled
by its optimizer before the gradient is taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from stargan_tf.augment import random_translation
from stargan_tf.config import Config
from stargan_tf.distribute import precision_policy, wrap_optimizer
from stargan_tf.labels import LabelLayout
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
from stargan_tf.models import Discriminator, Generator, build_networks, generator_for

LOSS_NAMES = ("d_adv", "d_cls", "d_gp", "d_loss", "g_adv", "g_cls", "g_rec", "g_loss")
IDENTITY_LOSS_NAME = "g_id"  # logged only when loss.lambda_id > 0
CLS_PENALTY_NAME = "d_cls_gp"  # logged only when loss.lambda_cls_gp > 0
CLS_FAKE_NAME = "d_cls_fake"  # logged only when loss.lambda_cls_fake > 0
MASK_LOSS_NAMES = ("g_mask", "g_mask_tv")  # logged only for an attention G


def update_weight_average(average: keras.Model, model: keras.Model, decay: float) -> None:
    """average <- decay * average + (1 - decay) * model, weight by weight (same architecture).

    Each weight is cast to the average's dtype, so a float32 average can follow a lower-precision model.
    """
    for kept, weight in zip(average.weights, model.weights, strict=True):
        kept.assign(decay * kept + (1.0 - decay) * tf.cast(weight, kept.dtype))


@keras.saving.register_keras_serializable(package="stargan_tf")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant learning rate, then linear decay to exactly 0 over the last `decay_steps`.

    `step` is the optimizer's own update counter.
    """

    def __init__(self, initial_learning_rate: float, total_steps: int, decay_steps: int) -> None:
        self.initial_learning_rate = float(initial_learning_rate)
        self.total_steps = int(total_steps)
        self.decay_steps = int(decay_steps)

    def __call__(self, step: Any) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        lr = tf.constant(self.initial_learning_rate, tf.float32)
        if self.decay_steps == 0:
            return lr
        start = float(self.total_steps - self.decay_steps)
        fraction = tf.clip_by_value((step - start) / float(self.decay_steps), 0.0, 1.0)
        return lr * (1.0 - fraction)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "total_steps": self.total_steps,
            "decay_steps": self.decay_steps,
        }


class StarGAN(keras.Model):
    """Trains G and D with WGAN-GP, domain classification and cycle reconstruction (Eqs. 5, 6, 8).

    Options beyond the paper: the non-saturating loss with R1 (`adversarial`), a
    projection critic (a D built with `label_dim`), Fixed-Point GAN's identity loss
    (`lambda_id`), an exponential moving average of G's weights (`generator_average`),
    random translation of everything D sees (`d_translation`, DiffAugment), a weight
    of D's classification term of its own (`lambda_cls_real`; G's stays `lambda_cls`),
    a penalty on D_cls's input gradient at real images (`lambda_cls_gp`) and D's
    classification term on translations with their source labels (`lambda_cls_fake`), and for an
    attention G, GANimation's two terms on its attention masks (`lambda_mask`, `lambda_mask_tv`).
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        layout: LabelLayout,
        lambda_cls: float = 1.0,
        lambda_rec: float = 10.0,
        lambda_gp: float = 10.0,
        n_critic: int = 5,
        adversarial: str = "wgan-gp",
        lambda_id: float = 0.0,
        generator_average: Generator | None = None,
        average_decay: float = 0.999,
        d_translation: float = 0.0,
        lambda_cls_real: float | None = None,
        lambda_cls_gp: float = 0.0,
        lambda_cls_fake: float = 0.0,
        lambda_mask: float = 0.0,
        lambda_mask_tv: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.d_translation = float(d_translation)
        self.generator = generator
        # An exponential moving average of G's weights (a second G), kept up to date by
        # `update_generator_average`; None when off.
        self.generator_average = generator_average
        self.average_decay = float(average_decay)
        self.lambda_id = lambda_id
        self.discriminator = discriminator
        self.layout = layout
        self.lambda_cls = lambda_cls
        self.lambda_cls_real = lambda_cls if lambda_cls_real is None else lambda_cls_real
        self.lambda_cls_gp = float(lambda_cls_gp)
        self.lambda_cls_fake = float(lambda_cls_fake)
        self.lambda_mask = float(lambda_mask)
        self.lambda_mask_tv = float(lambda_mask_tv)
        self.attention = generator.output_kind == "attention"
        self.lambda_rec = lambda_rec
        self.lambda_gp = lambda_gp
        self.n_critic = n_critic
        self.adversarial = adversarial
        self.group_slices = layout.group_slices()
        self.loss_names = (LOSS_NAMES + ((IDENTITY_LOSS_NAME,) if lambda_id > 0 else ())
                           + ((CLS_PENALTY_NAME,) if self.lambda_cls_gp > 0 else ())
                           + ((CLS_FAKE_NAME,) if self.lambda_cls_fake > 0 else ())
                           + (MASK_LOSS_NAMES if self.attention else ()))
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.loss_names}
        # With several datasets, each loss also per dataset ("celeba/d_cls"): a step trains on one
        # dataset only, so a tracker is updated with weight 1 on its own steps and 0 on the others
        # (no tf.cond around anything). Metric names cannot contain "/", the log keys do.
        self.dataset_trackers = {
            f"{dataset.name}/{loss}": keras.metrics.Mean(name=f"{dataset.name}_{loss}")
            for dataset in (layout.datasets if layout.has_mask else ()) for loss in self.loss_names
        }
        # The wrapper has no forward pass of its own; mark it built so Keras
        # never tries to call it symbolically on images alone.
        self.built = True

    def compile(self, g_optimizer: keras.optimizers.Optimizer, d_optimizer: keras.optimizers.Optimizer,
                **kwargs: Any) -> None:
        # No `optimizer`: Keras would build a third one on all of G's and D's variables.
        super().compile(optimizer=None, **kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        # Built up front: needed under strategies, and before a checkpoint restore
        # so the optimizer state (moments, step) is restored, not re-created.
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.discriminator.trainable_variables)

    def _maybe_symbolic_build(self, iterator: Any = None, data_batch: Any = None) -> None:
        # Networks and optimizers are built in __init__/compile and there is no compiled loss, so
        # nothing is left to build. Keras' version would pull the first batch and all-reduce it across
        # replicas, which fails under MultiWorkerMirroredStrategy ("unsupported type PerReplica").
        return None

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values()) + list(self.dataset_trackers.values())

    @property
    def inference_generator(self) -> Generator:
        """The G to sample and export: the weight average when there is one."""
        return self.generator if self.generator_average is None else self.generator_average

    def update_generator_average(self) -> None:
        """average <- decay * average + (1 - decay) * G, for every weight; call after each step.

        Called from a callback, i.e. in cross-replica context, where assigning a
        mirrored variable updates every replica's copy.
        """
        if self.generator_average is None:
            return
        if getattr(self, "_average_update", None) is None:
            average, generator, decay = self.generator_average, self.generator, self.average_decay
            self._average_update = tf.function(lambda: update_weight_average(average, generator, decay),
                                               autograph=False)
        self._average_update()

    @property
    def step(self) -> tf.Variable:
        """Completed training steps (= generator updates)."""
        return self.g_optimizer.iterations

    def _dataset_mask(self, labels: tf.Tensor) -> tf.Tensor | None:
        return labels[:, self.layout.num_domains:] if self.layout.has_mask else None

    @staticmethod
    def _scaled(loss: tf.Tensor, optimizer: keras.optimizers.Optimizer) -> tf.Tensor:
        """The loss whose gradient is applied: per-replica share, times the float16 loss scale if any."""
        scaled = loss * (1.0 / tf.distribute.get_strategy().num_replicas_in_sync)
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            scaled = optimizer.scale_loss(scaled)
        return scaled

    def critique(self, images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """D(images) -> (src, cls); a projection D also sees the labels the images should have."""
        if self.discriminator.label_dim:
            return self.discriminator((images, labels), training=True)
        return self.discriminator(images, training=True)

    def discriminator_step(self, x_real: tf.Tensor, c_org: tf.Tensor, c_trg: tf.Tensor,
                           alpha: tf.Tensor | None = None, x_fake: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """One D update. `alpha` [B] (the GP's interpolation factors) is drawn here when not given;
        `x_fake` is G(x_real, c_trg), computed here when not given."""
        n_d = self.layout.num_domains
        if x_fake is None:
            x_fake = self.generator((x_real, c_trg), training=True)
        x_fake = tf.stop_gradient(x_fake)
        if alpha is None:
            alpha = tf.random.uniform((tf.shape(x_real)[0],), dtype=tf.float32)
        alpha = tf.reshape(tf.cast(alpha, tf.float32), (-1, 1, 1, 1))
        # Real and fake get independent offsets; the penalty is taken between the shifted images.
        x_real = random_translation(x_real, self.d_translation)
        x_fake = random_translation(x_fake, self.d_translation)
        with tf.GradientTape() as tape:
            # One pass over both halves (D has no batch statistics): half the calls of its small late layers.
            src, cls = self.critique(tf.concat([x_real, x_fake], 0), tf.concat([c_org, c_trg], 0))
            src_real, src_fake = tf.split(src, 2)
            cls_real, cls_fake = tf.split(cls, 2)
            d_adv = adversarial_loss(src_real, src_fake, self.adversarial)
            d_cls = classification_loss(cls_real, c_org[:, :n_d], self.group_slices, self._dataset_mask(c_org))
            if self.adversarial == "wgan-gp":
                # A projection critic sees the interpolated image with the same mix of both labels.
                c_hat = alpha[:, :, 0, 0] * c_org + (1.0 - alpha[:, :, 0, 0]) * c_trg
                d_gp = gradient_penalty(lambda x: self.critique(x, c_hat)[0], x_real, x_fake, alpha)
            else:
                d_gp = r1_penalty(lambda x: self.critique(x, c_org)[0], x_real)
            d_loss = d_adv + self.lambda_cls_real * d_cls + self.lambda_gp * d_gp
            logs = {"d_adv": d_adv, "d_cls": d_cls, "d_gp": d_gp}
            if self.lambda_cls_gp > 0:
                logs[CLS_PENALTY_NAME] = classification_gradient_penalty(
                    lambda x: self.critique(x, c_org)[1], x_real, c_org[:, :n_d], self.group_slices,
                    self._dataset_mask(c_org))
                d_loss += self.lambda_cls_gp * logs[CLS_PENALTY_NAME]
            if self.lambda_cls_fake > 0:
                # Targets share the batch's dataset, so the source's mask is also the translation's.
                logs[CLS_FAKE_NAME] = classification_loss(cls_fake, c_org[:, :n_d], self.group_slices,
                                                          self._dataset_mask(c_org))
                d_loss += self.lambda_cls_fake * logs[CLS_FAKE_NAME]
            scaled = self._scaled(d_loss, self.d_optimizer)
        variables = self.discriminator.trainable_variables
        self.d_optimizer.apply(tape.gradient(scaled, variables), variables)
        return {**logs, "d_loss": d_loss}

    def generator_step(self, x_real: tf.Tensor, c_org: tf.Tensor, c_trg: tf.Tensor,
                       update_critic: Callable[[tf.Tensor], dict[str, tf.Tensor]] | None = None
                       ) -> dict[str, tf.Tensor]:
        """One G update. `update_critic(x_fake)`, when given, runs after G's forward pass and before D judges
        its output, outside G's gradient; its logs are returned too. train_step passes D's last update there,
        which then reuses this translation: with G unchanged between the two updates it is the same image."""
        n_d = self.layout.num_domains
        critic_logs = {}
        with tf.GradientTape() as tape:
            x_fake, attention_fake = self.generator((x_real, c_trg), training=True, return_attention=True)
            if update_critic is not None:
                with tape.stop_recording():
                    critic_logs = update_critic(x_fake)
            src_fake, cls_fake = self.critique(random_translation(x_fake, self.d_translation), c_trg)
            g_adv = generator_adversarial_loss(src_fake, self.adversarial)
            g_cls = classification_loss(cls_fake, c_trg[:, :n_d], self.group_slices, self._dataset_mask(c_trg))
            x_rec, attention_rec = self.generator((x_fake, c_org), training=True, return_attention=True)
            g_rec = reconstruction_loss(x_real, x_rec)
            g_loss = g_adv + self.lambda_cls * g_cls + self.lambda_rec * g_rec
            logs = {"g_adv": g_adv, "g_cls": g_cls, "g_rec": g_rec}
            if self.lambda_id > 0:
                logs[IDENTITY_LOSS_NAME] = identity_loss(x_real, self.generator((x_real, c_org), training=True))
                g_loss += self.lambda_id * logs[IDENTITY_LOSS_NAME]
            if self.attention:
                # The masks of both passes of the cycle, as in GANimation.
                square, roughness = attention_mask_loss(tf.concat([attention_fake, attention_rec], axis=0))
                logs.update(g_mask=square, g_mask_tv=roughness)
                g_loss += self.lambda_mask * square + self.lambda_mask_tv * roughness
            scaled = self._scaled(g_loss, self.g_optimizer)
        variables = self.generator.trainable_variables
        self.g_optimizer.apply(tape.gradient(scaled, variables), variables)
        return {**critic_logs, **logs, "g_loss": g_loss}

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        """`data` = (images [B, n_critic, H, W, 3], labels [B, n_critic, n_c]), optionally followed by
        (targets [B, n_critic, n_c], alpha [B, n_critic]) from `distribute.with_step_randomness`."""
        images, labels = data[0], data[1]
        targets, alphas = (data[2], data[3]) if len(data) == 4 else (None, None)
        for k in range(self.n_critic):
            x_real, c_org = images[:, k], labels[:, k]
            if targets is None:
                # Targets are the batch's own labels, shuffled (as the reference does):
                # always valid label vectors of the same dataset, drawn from the data's distribution.
                c_trg = tf.gather(c_org, tf.random.shuffle(tf.range(tf.shape(c_org)[0])))
                alpha = None
            else:
                c_trg, alpha = targets[:, k], alphas[:, k]
            if k < self.n_critic - 1:
                self.discriminator_step(x_real, c_org, c_trg, alpha)
        # D's last update, then G's, on the same images and targets: the translation is computed once.
        losses = self.generator_step(
            x_real, c_org, c_trg, lambda x_fake: self.discriminator_step(x_real, c_org, c_trg, alpha, x_fake))
        for name, value in losses.items():
            self.trackers[name].update_state(value)
        if self.dataset_trackers:
            # Each step holds one dataset: its mask column averages to 1, the others to 0.
            share = tf.reduce_mean(labels[:, :, self.layout.num_domains:], axis=[0, 1])
            for index, dataset in enumerate(self.layout.datasets):
                for name, value in losses.items():
                    self.dataset_trackers[f"{dataset.name}/{name}"].update_state(value, sample_weight=share[index])
        logs = {name: tracker.result() for name, tracker in {**self.trackers, **self.dataset_trackers}.items()}
        strategy = tf.distribute.get_strategy()
        multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        if multi_worker and strategy.extended._in_multi_worker_mode():
            # fit() averages multi-worker logs with reduce(axis=0), which rejects scalars:
            # give each value a length-1 axis, which that reduction removes again.
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs


def build_stargan(config: Config, layout: LabelLayout, jit_compile: bool | None = None) -> StarGAN:
    """Networks, optimizers and schedules for `config`; compiled and ready for `fit`.

    Call inside `strategy.scope()` to train under a strategy. `jit_compile`
    overrides `train.jit_compile` (the runner turns XLA off under a multi-replica strategy).
    """
    m, t, loss = config.model, config.train, config.loss
    with precision_policy(t.precision):
        generator, discriminator = build_networks(m, layout.label_dim, layout.num_domains)
        average = None
        if t.g_ema_decay > 0:
            average = generator_for(m, layout.label_dim)
            average.set_weights(generator.get_weights())
        model = StarGAN(generator, discriminator, layout, loss.lambda_cls, loss.lambda_rec, loss.lambda_gp,
                        t.n_critic, loss.adversarial, lambda_id=loss.lambda_id, generator_average=average,
                        average_decay=t.g_ema_decay, d_translation=t.d_translation,
                        lambda_cls_real=loss.lambda_cls_real, lambda_cls_gp=loss.lambda_cls_gp,
                        lambda_cls_fake=loss.lambda_cls_fake, lambda_mask=loss.lambda_mask,
                        lambda_mask_tv=loss.lambda_mask_tv,
                        name="stargan")
    # D's optimizer counts n_critic updates per step; both schedules reach 0 at the last step.
    g_schedule = LinearDecay(t.g_lr, t.num_steps, t.decay_steps)
    d_schedule = LinearDecay(t.d_lr, t.num_steps * t.n_critic, t.decay_steps * t.n_critic)
    g_adam = keras.optimizers.Adam(g_schedule, beta_1=t.beta1, beta_2=t.beta2, name="g_adam")
    d_adam = keras.optimizers.Adam(d_schedule, beta_1=t.beta1, beta_2=t.beta2, name="d_adam")
    model.compile(
        g_optimizer=wrap_optimizer(g_adam, t.precision),
        d_optimizer=wrap_optimizer(d_adam, t.precision),
        jit_compile=t.jit_compile if jit_compile is None else jit_compile,
    )
    return model
