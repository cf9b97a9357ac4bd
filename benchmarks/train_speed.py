"""Training speed of the full 128x128 model, TensorFlow and PyTorch side by side in one run.

    python -m benchmarks.train_speed                                   # CPU: batch 16, float32 and XLA
    python -m benchmarks.train_speed --batches 16,32,64,128 --settings float32,bf16,bf16+xla   # a GPU
    python -m benchmarks.train_speed --json docs/results/train_cpu.json

An iteration is the reference implementation's: one discriminator update with
gradient penalty, plus a generator update every n_critic (5) iterations. The
PyTorch model (benchmarks/torch_stargan.py, fp32 eager) takes
t(D update) + t(G update) / n_critic. The TensorFlow model trains as
`StarGAN.train_step` does: n_critic - 1 D updates, then the G update with the
last D update inside it, reusing G's translation (`generator_step` with
`update_critic`), so it takes ((n_critic - 1) t(D update) + t(last D + G
update)) / n_critic. Each time is the median of `--repeats` calls (compiled
with tf.function) on random data after one warm-up call, both frameworks in
the same process on the same shapes, and every row prints TF / PyTorch.
"""

from __future__ import annotations

import argparse
import sys

SETTINGS = {  # name -> (train.precision, XLA)
    "float32": ("float32", False),
    "xla": ("float32", True),
    "bf16": ("bf16", False),
    "bf16+xla": ("bf16", True),
}
N_CRITIC = 5
IMAGE_SIZE = 128


def time_tensorflow(setting: str, batch: int, repeats: int) -> dict:
    import numpy as np
    import tensorflow as tf

    from benchmarks.common import median_seconds
    from stargan_tf.config import load_config
    from stargan_tf.data.sources import layout_for
    from stargan_tf.trainer import build_stargan

    precision, xla = SETTINGS[setting]
    config = load_config(None, [f"train.precision={precision}", f"train.batch_size={batch}",
                                "train.strategy=default"])
    layout = layout_for(config)
    model = build_stargan(config, layout)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(-1, 1, (batch, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32"))
    c_org = tf.constant(layout.sample_targets(rng, batch))
    c_trg = tf.constant(layout.sample_targets(rng, batch))
    d_step = tf.function(model.discriminator_step, jit_compile=xla)
    last_d_and_g_step = tf.function(lambda: model.generator_step(
        x, c_org, c_trg, lambda x_fake: model.discriminator_step(x, c_org, c_trg, x_fake=x_fake)), jit_compile=xla)
    d = median_seconds(lambda: float(d_step(x, c_org, c_trg)["d_loss"]), repeats)
    last = median_seconds(lambda: float(last_d_and_g_step()["g_loss"]), repeats)
    iteration = ((N_CRITIC - 1) * d + last) / N_CRITIC
    return {"d_update_s": round(d, 4), "last_d_and_g_update_s": round(last, 4), "s_per_iteration": iteration}


def time_torch(batch: int, repeats: int, device: str) -> dict:
    import torch

    from benchmarks.common import median_seconds
    from benchmarks.torch_stargan import TorchStarGAN

    torch.manual_seed(0)
    model = TorchStarGAN(IMAGE_SIZE, 5, device=device)
    x = torch.rand(batch, 3, IMAGE_SIZE, IMAGE_SIZE, device=device) * 2 - 1
    c_org = torch.randint(0, 2, (batch, 5), device=device).float()
    c_trg = torch.randint(0, 2, (batch, 5), device=device).float()
    d = median_seconds(lambda: model.d_step(x, c_org, c_trg), repeats)
    g = median_seconds(lambda: model.g_step(x, c_org, c_trg), repeats)
    return {"d_update_s": round(d, 4), "g_update_s": round(g, 4), "s_per_iteration": d + g / N_CRITIC}


def with_rates(row: dict, batch: int) -> dict:
    iteration = row["s_per_iteration"]
    return {**row, "s_per_iteration": round(iteration, 4), "iterations_per_s": round(1 / iteration, 3),
            "images_per_s": round(batch / iteration, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="16", help="comma-separated batch sizes (default 16)")
    parser.add_argument("--settings", default="float32,xla",
                        help=f"comma-separated, from {', '.join(SETTINGS)} (default float32,xla)")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per update (median)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = [s for s in settings if s not in SETTINGS]
    try:
        batches = [int(b) for b in args.batches.split(",") if b.strip()]
    except ValueError:
        batches = []
    if unknown or not batches or min(batches) < 1 or args.repeats < 1:
        problem = f"unknown setting {unknown[0]!r}" if unknown else "--batches and --repeats must be positive"
        print(f"error: {problem}", file=sys.stderr)
        return 2

    import tensorflow as tf

    from benchmarks.common import machine, ratio, write_json

    gpu = bool(tf.config.list_physical_devices("GPU"))
    rows = []
    for batch in batches:
        reference = None
        if not args.no_torch:
            try:
                import torch  # noqa: F401
            except ImportError:
                print("note: torch is not installed (pip install -e .[bench]); no PyTorch baseline",
                      file=sys.stderr)
                args.no_torch = True
            else:
                reference = with_rates(time_torch(batch, args.repeats, "cuda" if gpu else "cpu"), batch)
                rows.append({"framework": "pytorch", "setting": "float32 eager", "batch": batch, **reference})
                print(f"batch {batch:4d}  pytorch float32 eager  {reference['s_per_iteration']:.3f} s/it  "
                      f"{reference['images_per_s']:.1f} img/s", flush=True)
        for setting in settings:
            row = with_rates(time_tensorflow(setting, batch, args.repeats), batch)
            row["tf_over_torch_time"] = ratio(row["s_per_iteration"], reference and reference["s_per_iteration"])
            rows.append({"framework": "tensorflow", "setting": setting, "batch": batch, **row})
            print(f"batch {batch:4d}  tensorflow {setting:10s}  {row['s_per_iteration']:.3f} s/it  "
                  f"{row['images_per_s']:.1f} img/s  TF/PyTorch time {row['tf_over_torch_time']}", flush=True)
    write_json(args.json, {"benchmark": "train", "image_size": IMAGE_SIZE, "n_critic": N_CRITIC,
                           "repeats": args.repeats, "machine": machine(), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
