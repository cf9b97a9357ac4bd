"""Distribution strategies and precision on CPU.

The CPU is split into two logical devices, which must happen before TensorFlow
initializes its devices, and MultiWorkerMirroredStrategy needs one process per
worker: both run in subprocesses (started together, to share the 2-core budget)
so they never touch the devices of the test process.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

TINY = str(ROOT / "configs" / "tiny.yaml")
# The limit only catches a hang, so it leaves room for a machine shared with other jobs (with three
# training runs beside the suite on 2 cores, one of these subprocesses took over 240 s).
TIMEOUT = 600

# Two logical CPUs: (a) train() under MirroredStrategy, (b) one step on 2 replicas == one step on 1 replica
# with the same global batch, (c) bf16 and float16 train a few steps. Prints one JSON line.
LOGICAL_DEVICES = r"""
import json, sys, warnings
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from stargan_tf.config import load_config
from stargan_tf.data.pipeline import training_batches
from stargan_tf.data.sources import load_source
from stargan_tf.distribute import make_strategy, seed_everything, with_step_randomness
from stargan_tf.run import train
from stargan_tf.trainer import build_stargan

tiny, run_dir = sys.argv[1], sys.argv[2]
# Every run computes the same numbers: the seed fixes the initial weights, and deterministic ops make the
# pipeline's random flips (drawn inside a parallel map) come out the same. Unseeded, a rare draw failed
# the SGD comparison below by ~0.01 on D's kernels while D's biases matched to 1e-8: the signature of
# the gradient penalty's term, which has no gradient on the biases.
seed_everything(0, deterministic=True)
out = {}
config = load_config(tiny, ["train.replica_invariant=true"])
source = load_source(config)
# One fixed global batch of 2B = 4, with its targets and GP factors drawn over the global batch.
batch = next(iter(with_step_randomness(training_batches(source, 4, config.train.n_critic, seed=0), 0)))
data = tf.data.Dataset.from_tensors(batch).repeat()
strategy = make_strategy("mirrored")
out["replicas"] = strategy.num_replicas_in_sync

def weights(model):
    return model.generator.weights + model.discriminator.weights

def one_step(optimizer):
    single = build_stargan(config, source.layout)
    with strategy.scope():
        double = build_stargan(config, source.layout)
        if optimizer == "sgd":
            double.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1))
    if optimizer == "sgd":
        single.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1))
    for target, source_weight in zip(weights(double), weights(single)):
        target.assign(source_weight)
    before = [w.numpy() for w in weights(single)]
    for model in (single, double):
        model.fit(data, steps_per_epoch=1, epochs=1, verbose=0, shuffle=False)
    diffs = {w.path: float(np.abs(a.numpy() - b.numpy()).max())
             for w, a, b in zip(weights(single), weights(single), weights(double))}
    moved = max(float(np.abs(w.numpy() - b).max()) for w, b in zip(weights(single), before))
    return diffs, moved

out["sgd_diffs"], out["sgd_moved"] = one_step("sgd")
out["adam_diffs"], out["adam_moved"] = one_step("adam")

# With the weight average on: it is updated in cross-replica context and exported as generator.keras.
mirrored = load_config(tiny, ["train.strategy=mirrored", "train.num_steps=2", "train.log_every=1",
                              "train.checkpoint_every=2", "train.sample_every=2", "train.g_ema_decay=0.5"])
result = train(mirrored, run_dir + "/mirrored", log=lambda *_: None, verbose=0)
out["mirrored_step"] = result.final_step
out["mirrored_checkpoint"] = result.last_checkpoint
def average_gap(model):
    return max(float(np.abs(a.numpy() - b.numpy()).max())
               for a, b in zip(model.generator_average.weights, model.generator.weights))

out["average_gap_before"] = average_gap(result.model)
for _ in range(60):  # at decay 0.5 the average converges to the (now fixed) G on every replica
    result.model.update_generator_average()
out["average_gap_after"] = average_gap(result.model)

for precision in ("bf16", "float16"):
    config = load_config(tiny, [f"train.precision={precision}", "train.strategy=default"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = build_stargan(config, source.layout)
    batches = iter(training_batches(source, 4, config.train.n_critic, seed=1))
    losses = [{k: float(v) for k, v in model.train_step(next(batches)).items()} for _ in range(3)]
    out[precision] = {
        "finite": all(np.isfinite(v) for step in losses for v in step.values()),
        "g_compute_dtype": model.generator.compute_dtype,
        "variable_dtype": model.generator.weights[0].dtype,
        "loss_scaled": isinstance(model.d_optimizer, keras.optimizers.LossScaleOptimizer),
        "warned": any("float16" in str(w.message) for w in caught),
        "steps": int(model.step.numpy()),
    }
out["policy_after"] = keras.mixed_precision.global_policy().name
print("RESULT " + json.dumps(out))
"""

# One MultiWorkerMirroredStrategy worker (TF_CONFIG from the environment): trains, saves its weights.
WORKER = r"""
import sys
import numpy as np
from stargan_tf.config import load_config
from stargan_tf.run import train

tiny, run_dir, weights_file = sys.argv[1:4]
config = load_config(tiny, ["train.strategy=multiworker", "train.num_steps=3", "train.checkpoint_every=2",
                            "train.sample_every=2", "train.log_every=1"])
result = train(config, run_dir, verbose=0)
model = result.model
np.savez(weights_file, *[w.numpy() for w in model.generator.weights + model.discriminator.weights])
print("RESULT", result.final_step, result.last_checkpoint)
"""


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def python(code, *args, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process):
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"subprocess timed out after {TIMEOUT} s:\n{output[-3000:]}")
    assert process.returncode == 0, output[-3000:]
    return output


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Starts the logical-device run and both workers at once; waits for all three."""
    tmp = tmp_path_factory.mktemp("distribute")
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        workers.append(python(WORKER, TINY, tmp / f"worker{index}", tmp / f"weights{index}.npz",
                              env={"TF_CONFIG": tf_config}))
    logical = python(LOGICAL_DEVICES, TINY, tmp)
    outputs = [finish(p) for p in (logical, *workers)]
    result = json.loads(next(line for line in outputs[0].splitlines() if line.startswith("RESULT "))[7:])
    return {"tmp": tmp, "logical": result, "workers": outputs[1:]}


def test_training_runs_under_mirrored_strategy(runs):
    out = runs["logical"]
    assert out["replicas"] == 2
    assert out["mirrored_step"] == 2
    assert out["mirrored_checkpoint"].endswith("ckpt-2")
    # The weight average updates under the strategy: repeated updates pull it onto G.
    assert out["average_gap_before"] > 0 and out["average_gap_after"] < 0.01 * out["average_gap_before"]
    assert (runs["tmp"] / "mirrored" / "generator.keras").exists()


def test_two_replicas_equal_one_replica_with_the_same_global_batch(runs):
    out = runs["logical"]
    # SGD: the update is linear in the gradient, so this compares the gradients themselves
    # (loss scaling by replicas and the cross-replica sum) with a step well above the tolerance.
    assert out["sgd_moved"] > 1e-3
    assert max(out["sgd_diffs"].values()) < 1e-5, out["sgd_diffs"]
    # Adam (the real optimizer) divides by sqrt(v): weights whose gradient is at rounding level
    # get steps that depend on summation order. Here that is G's stem weights on the constant
    # label planes (instance norm cancels a constant input), so that kernel is compared loosely.
    adam = {k: v for k, v in out["adam_diffs"].items() if k != "generator/stem_conv/kernel"}
    assert max(adam.values()) < 1e-5, adam
    assert out["adam_diffs"]["generator/stem_conv/kernel"] < 0.25 * out["adam_moved"]


def test_bf16_and_float16_train_with_finite_losses(runs):
    out = runs["logical"]
    bf16, fp16 = out["bf16"], out["float16"]
    assert bf16["finite"] and bf16["steps"] == 3
    assert bf16["g_compute_dtype"] == "bfloat16" and bf16["variable_dtype"] == "float32"
    assert not bf16["loss_scaled"] and not bf16["warned"]
    assert fp16["finite"] and fp16["loss_scaled"] and fp16["warned"]
    assert out["policy_after"] == "float32"  # the precision policy does not leak out of model building


def test_multiworker_workers_agree_and_only_the_chief_writes(runs):
    tmp = runs["tmp"]
    for output in runs["workers"]:
        assert "RESULT 3" in output, output[-2000:]
    chief, worker = np.load(tmp / "weights0.npz"), np.load(tmp / "weights1.npz")
    assert len(chief.files) == len(worker.files) > 0
    for key in chief.files:
        np.testing.assert_array_equal(chief[key], worker[key])
    assert (tmp / "worker0" / "checkpoints" / "ckpt-3.index").exists()
    assert (tmp / "worker0" / "generator.keras").exists()
    assert not (tmp / "worker1").exists()


def test_strategy_names_and_bad_tf_config(monkeypatch):
    from stargan_tf.distribute import StrategyError, read_tf_config, resolve_strategy_name

    assert resolve_strategy_name("default") == "default"
    assert resolve_strategy_name("auto") in ("default", "mirrored")
    with pytest.raises(StrategyError, match="unknown strategy"):
        resolve_strategy_name("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(StrategyError, match="TF_CONFIG"):
        read_tf_config()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(StrategyError, match="not valid JSON"):
        read_tf_config()


def test_cli_rejects_xla_under_a_strategy_and_unknown_precision():
    for flags, message in ((["--strategy", "mirrored", "--xla"], "only supported on one device"),
                           (["--precision", "fp8"], "train.precision must be one of")):
        result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--config", TINY, *flags, "--summary"],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [f"error: {result.stderr.strip()[7:]}"]
        assert message in result.stderr
