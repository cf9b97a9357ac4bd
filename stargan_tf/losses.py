"""StarGAN's loss terms (paper Eqs. 1-8) as pure functions of tensors.

Every function returns the mean over the local batch. Under a distribution
strategy the trainer divides by the number of replicas before taking
gradients, because gradients are summed across replicas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

from stargan_tf.config import ADVERSARIAL_LOSSES
from stargan_tf.labels import GroupSlice


def _check_kind(kind: str) -> None:
    if kind not in ADVERSARIAL_LOSSES:
        raise ValueError(f"unknown adversarial loss {kind!r} (valid: {', '.join(ADVERSARIAL_LOSSES)})")


def adversarial_loss(src_real: tf.Tensor, src_fake: tf.Tensor, kind: str = "wgan-gp") -> tf.Tensor:
    """The discriminator's side of L_adv (Eq. 1 / Eq. 8 without the penalty): D minimises this.

    wgan-gp: -E[D_src(x)] + E[D_src(G(x, c))]; nonsaturating: E[softplus(-D_src(x))] +
    E[softplus(D_src(G(x, c)))], i.e. -log sigmoid on real and -log(1 - sigmoid) on fake.
    Averaged over all patches.
    """
    _check_kind(kind)
    src_real, src_fake = tf.cast(src_real, tf.float32), tf.cast(src_fake, tf.float32)
    if kind == "nonsaturating":
        return tf.reduce_mean(tf.nn.softplus(-src_real)) + tf.reduce_mean(tf.nn.softplus(src_fake))
    return tf.reduce_mean(src_fake) - tf.reduce_mean(src_real)


def generator_adversarial_loss(src_fake: tf.Tensor, kind: str = "wgan-gp") -> tf.Tensor:
    """The generator's side of L_adv: -E[D_src(G(x, c))] (wgan-gp) or E[softplus(-D_src(G(x, c)))]."""
    _check_kind(kind)
    src_fake = tf.cast(src_fake, tf.float32)
    if kind == "nonsaturating":
        return tf.reduce_mean(tf.nn.softplus(-src_fake))
    return -tf.reduce_mean(src_fake)


def _critic_gradients(critic: Callable[[tf.Tensor], tf.Tensor], images: tf.Tensor) -> tf.Tensor:
    """d(sum of the critic's patch map)/d images, flattened per sample: [N, H*W*C]."""
    with tf.GradientTape() as tape:
        tape.watch(images)
        src = tf.cast(critic(images), tf.float32)
    return tf.reshape(tape.gradient(src, images), (tf.shape(images)[0], -1))


def r1_penalty(critic: Callable[[tf.Tensor], tf.Tensor], real: tf.Tensor) -> tf.Tensor:
    """E[||grad_x D_src(x)||_2^2] on real images (R1; the non-saturating loss's penalty)."""
    grads = _critic_gradients(critic, tf.cast(real, tf.float32))
    return tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=1))


def gradient_penalty(
    critic: Callable[[tf.Tensor], tf.Tensor],
    real: tf.Tensor,
    fake: tf.Tensor,
    alpha: tf.Tensor,
) -> tf.Tensor:
    """E[(||grad_x_hat D_src(x_hat)||_2 - 1)^2] on x_hat = alpha * real + (1 - alpha) * fake.

    `alpha` has shape [N, 1, 1, 1] (one interpolation factor per sample).
    The gradient is that of the sum of the whole patch map, and its norm is
    taken over all pixels and channels of each sample.
    """
    real = tf.cast(real, tf.float32)
    fake = tf.cast(fake, tf.float32)
    grads = _critic_gradients(critic, alpha * real + (1.0 - alpha) * fake)
    # The epsilon keeps the sqrt differentiable where the gradient vanishes.
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


def classification_loss(
    logits: tf.Tensor,
    labels: tf.Tensor,
    groups: Sequence[GroupSlice],
    dataset_mask: tf.Tensor | None = None,
) -> tf.Tensor:
    """Domain classification loss (Eqs. 2 and 3), per sample summed over label groups.

    `labels` are the first n_d entries of the label vectors. Binary and
    exclusive groups use sigmoid cross-entropy summed over their attributes;
    categorical groups use softmax cross-entropy. With several datasets
    `dataset_mask` [N, n_datasets] keeps only the groups of the dataset each
    sample comes from (paper Sec. 3.2): unknown labels never contribute.
    """
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.float32)
    per_sample = tf.zeros(tf.shape(logits)[:1], tf.float32)
    for group in groups:
        group_logits = logits[:, group.start: group.stop]
        group_labels = labels[:, group.start: group.stop]
        if group.kind == "categorical":
            loss = tf.nn.softmax_cross_entropy_with_logits(labels=group_labels, logits=group_logits)
        else:
            loss = tf.reduce_sum(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=group_labels, logits=group_logits), axis=1
            )
        if dataset_mask is not None:
            loss = loss * tf.cast(dataset_mask[:, group.dataset], tf.float32)
        per_sample += loss
    return tf.reduce_mean(per_sample)


def classification_gradient_penalty(
    classify: Callable[[tf.Tensor], tf.Tensor],
    real: tf.Tensor,
    labels: tf.Tensor,
    groups: Sequence[GroupSlice],
    dataset_mask: tf.Tensor | None = None,
) -> tf.Tensor:
    """E[||grad_x L_cls(D_cls(x), c)||_2^2] on real images: how fast D's domain decision moves with the pixels.

    Keeping it small makes D_cls change slowly near real faces, so that a small
    patch no real member of the domain shows moves D's decision less (robust
    classifiers have gradients that look like the domain's real features).
    The gradient is that of each sample's own loss (the batch mean times N).
    """
    real = tf.cast(real, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(real)
        per_sample_sum = classification_loss(classify(real), labels, groups, dataset_mask) * tf.cast(
            tf.shape(real)[0], tf.float32)
    grads = tf.reshape(tape.gradient(per_sample_sum, real), (tf.shape(real)[0], -1))
    return tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=1))


def reconstruction_loss(images: tf.Tensor, reconstructed: tf.Tensor) -> tf.Tensor:
    """Cycle-consistency L1 (Eq. 4): E[||x - G(G(x, c), c')||_1], averaged per pixel."""
    return tf.reduce_mean(tf.abs(tf.cast(images, tf.float32) - tf.cast(reconstructed, tf.float32)))


def identity_loss(images: tf.Tensor, same_domain: tf.Tensor) -> tf.Tensor:
    """Fixed-Point GAN's conditional identity loss: E[||x - G(x, c_x)||_1], averaged per pixel.

    A translation to the image's own domain must leave it unchanged, which
    discourages G from touching pixels unrelated to the requested attribute.
    """
    return tf.reduce_mean(tf.abs(tf.cast(images, tf.float32) - tf.cast(same_domain, tf.float32)))


def attention_mask_loss(attention: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """GANimation's two terms on an attention mask A [N, H, W, 1] in [0, 1] (1 = keep the input pixel).

    Returns (E[mean A^2], E[mean of the squared differences between vertically and horizontally
    adjacent values of A]). The first is GANimation's remedy for A saturating at 1, where G returns
    its input unchanged; the second (total variation) favours smooth masks. Means rather than
    GANimation's sums, so the weights do not depend on the image size.
    """
    attention = tf.cast(attention, tf.float32)
    roughness = (tf.reduce_mean(tf.square(attention[:, 1:] - attention[:, :-1]))
                 + tf.reduce_mean(tf.square(attention[:, :, 1:] - attention[:, :, :-1])))
    return tf.reduce_mean(tf.square(attention)), roughness
