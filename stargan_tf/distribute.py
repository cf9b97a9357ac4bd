"""Distribution strategies, mixed precision and replica-invariant step randomness.

Strategies (`train.strategy`):
    auto         mirrored when more than one GPU is visible, else default
    default      one device (the only setting where XLA is used)
    mirrored     synchronous data parallelism over all local GPUs (or all logical CPUs)
    multiworker  MultiWorkerMirroredStrategy configured by the TF_CONFIG environment variable

Batch size and learning rate: `train.batch_size` is the global batch. Each
replica gets batch_size / replicas examples, and every loss is divided by the
number of replicas before its gradient is taken (gradients are summed across
replicas), so one step on N replicas computes the same gradients as one device
with the whole global batch. The learning rate is therefore used as given; it is
not rescaled automatically when the global batch grows. When raising the global
batch k-fold to fill more devices, scaling Adam's learning rate by sqrt(k) is a
common starting point, to be checked against the sample grids.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator

import keras
import tensorflow as tf

from stargan_tf.config import PRECISIONS, STRATEGIES

KERAS_POLICIES = {"float32": "float32", "bf16": "mixed_bfloat16", "float16": "mixed_float16"}

FLOAT16_WARNING = (
    "precision float16: the gradient penalty's double backward pass overflows easily in float16, "
    "the dynamic loss scale can collapse and most discriminator updates are then skipped (a skipped "
    "generator update does not advance the step). Prefer bf16 (no loss scaling needed)."
)


class StrategyError(ValueError):
    """A strategy that cannot be set up as requested (e.g. TF_CONFIG missing)."""


def resolve_strategy_name(name: str) -> str:
    """`auto` -> mirrored when more than one GPU is visible, else default."""
    if name not in STRATEGIES:
        raise StrategyError(f"unknown strategy {name!r} (valid: {', '.join(STRATEGIES)})")
    if name == "auto":
        return "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "default"
    return name


def read_tf_config() -> dict:
    """The parsed TF_CONFIG environment variable, checked for the fields multiworker needs."""
    raw = os.environ.get("TF_CONFIG", "")
    if not raw.strip():
        raise StrategyError("strategy multiworker needs the TF_CONFIG environment variable "
                            '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                            '"task": {"type": "worker", "index": 0}})')
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as err:
        raise StrategyError(f"TF_CONFIG is not valid JSON: {err}") from None
    if not isinstance(parsed, dict) or "cluster" not in parsed or "task" not in parsed:
        raise StrategyError("TF_CONFIG must hold 'cluster' and 'task'")
    return parsed


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy for a `train.strategy` value. Create it before any other TensorFlow op runs."""
    name = resolve_strategy_name(name)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy([d.name for d in gpus])
        # Without GPUs, replicate over the logical CPU devices (one unless the CPU was split);
        # NCCL all-reduce needs GPUs, so reduce through one device instead.
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
    read_tf_config()
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's artifacts (always true outside multiworker).

    The chief is the task of type "chief", or worker 0 when the cluster has none.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seeds Python, NumPy and TensorFlow (initial weights, random ops) with `seed`.

    With `deterministic`, TensorFlow also uses its deterministic kernels, so the
    same seed replays a computation bit-exactly on the same machine and
    software. That switch is process-wide and irreversible: TensorFlow offers no
    call that turns it off again.
    """
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)


@contextlib.contextmanager
def precision_policy(precision: str) -> Iterator[None]:
    """Builds layers under the Keras policy for `precision`, then restores the previous global policy.

    Layers keep the policy they were created with, so only model construction
    needs to run inside this context.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (valid: {', '.join(PRECISIONS)})")
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(KERAS_POLICIES[precision])
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def wrap_optimizer(optimizer: keras.optimizers.Optimizer, precision: str) -> keras.optimizers.Optimizer:
    """Adds dynamic loss scaling for float16; bf16 and float32 need none."""
    if precision != "float16":
        return optimizer
    warnings.warn(FLOAT16_WARNING, stacklevel=2)
    return keras.optimizers.LossScaleOptimizer(optimizer, name=f"{optimizer.name}_loss_scale")


def with_step_randomness(dataset: tf.data.Dataset, seed: int) -> tf.data.Dataset:
    """Adds each step's translation targets and gradient-penalty factors to the global batches.

    ([B, n, H, W, 3], [B, n, n_c]) -> (images, labels, targets [B, n, n_c], alpha [B, n]).
    For each of the n discriminator updates the targets are the batch's labels
    under a random permutation (as the in-step shuffle draws them) and alpha is
    uniform in [0, 1). Both are drawn from stateless seeds (seed, batch index)
    over the *global* batch before a strategy splits it, so a step computes the
    same updates on any number of replicas.
    """

    def attach(index: tf.Tensor, batch: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, ...]:
        images, labels = batch
        key = tf.stack([tf.constant(seed, tf.int64), index])
        size, n_critic = tf.shape(labels)[0], tf.shape(labels)[1]
        # argsort of i.i.d. uniforms is a uniformly random permutation, one per update.
        order = tf.argsort(tf.random.stateless_uniform([n_critic, size], seed=key), axis=1)
        per_update = tf.transpose(labels, [1, 0, 2])  # [n, B, n_c]
        targets = tf.transpose(tf.gather(per_update, order, batch_dims=1), [1, 0, 2])
        alpha = tf.random.stateless_uniform([size, n_critic], seed=key + tf.constant([0, 1 << 40], tf.int64))
        return images, labels, targets, alpha

    return dataset.enumerate().map(attach, num_parallel_calls=tf.data.AUTOTUNE)
