"""Training speed: median seconds per step of the real train_step on random data.

    python -m benchmarks.train_speed --config configs/synthetic.yaml
    python -m benchmarks.train_speed --config configs/celeba.yaml --steps 5

One step = n_critic discriminator updates + one generator update; the JSON
also gives seconds per D iteration (step / n_critic) to compare with the
reference implementation's "iteration".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--steps", type=int, default=10, help="timed steps (after 2 warm-up steps)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", help="append the result as one JSON line to this file")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from stargan_tf.config import load_config
    from stargan_tf.data.sources import layout_for
    from stargan_tf.trainer import build_stargan

    config = load_config(args.config, args.set)
    layout = layout_for(config)
    model = build_stargan(config, layout)
    t, size = config.train, config.model.image_size
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(-1, 1, (t.batch_size, t.n_critic, size, size, 3)).astype("float32"))
    labels = tf.constant(layout.sample_targets(rng, t.batch_size * t.n_critic).reshape(t.batch_size, t.n_critic, -1))
    step = tf.function(model.train_step, jit_compile=t.jit_compile)
    for _ in range(2):
        step((images, labels))
    times = []
    for _ in range(args.steps):
        begin = time.perf_counter()
        logs = step((images, labels))
        float(logs["g_loss"])
        times.append(time.perf_counter() - begin)
    median = float(np.median(times))
    result = {
        "config": args.config, "overrides": args.set, "image_size": size, "batch_size": t.batch_size,
        "n_critic": t.n_critic, "seconds_per_step": round(median, 4),
        "seconds_per_d_iteration": round(median / t.n_critic, 4),
        "images_per_second": round(t.batch_size * t.n_critic / median, 2),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus", "tensorflow": tf.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(result))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
