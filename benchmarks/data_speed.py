"""Input pipeline speed: decoded training images per second for each loader.

    python -m benchmarks.data_speed                      # 128x128, fixtures in a temporary folder
    python -m benchmarks.data_speed --num 400 --seconds 5 --json results.jsonl

Writes small real-format datasets with the synthetic writer (CelebA 178x218
JPEGs, RaFD 256x256, AffectNet 256x256 with face boxes, an ImageFolder of
128x128 JPEGs), then times the full training pipeline (decode, crop, resize,
flip, scale, shuffle, batch) and, separately, training from TFRecord shards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FORMATS = {  # writer format, image size, config overrides (relative to the fixture folder)
    "celeba": ("celeba", "178x218", ["data.celeba.dir={d}"]),
    "rafd": ("rafd", "256", ["data.rafd.dir={d}"]),
    "affectnet": ("affectnet", "256", ["data.affectnet.dir={d}/Manually_Annotated_Images",
                                       "data.affectnet.csv={d}/training.csv"]),
    "folder": ("folder", "128", ["data.folder.dir={d}"]),
}


def images_per_second(dataset, batch_images: int, seconds: float) -> float:
    iterator = iter(dataset)
    for _ in range(3):  # warm-up: tracing, AUTOTUNE ramp-up, shuffle buffer fill
        next(iterator)
    count, begin = 0, time.perf_counter()
    while time.perf_counter() - begin < seconds:
        next(iterator)
        count += batch_images
    return count / (time.perf_counter() - begin)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--num", type=int, default=240, help="images written per dataset")
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per loader")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument("--json", help="append the results as one JSON line to this file")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from stargan_tf.config import load_config
    from stargan_tf.data.pipeline import training_batches
    from stargan_tf.data.sources import load_source
    from stargan_tf.data.synthetic_writer import main as write_dataset

    d_repeat = max(1, (args.image_size // 2).bit_length() - 1)
    base = [f"model.image_size={args.image_size}", f"model.d_repeat_num={min(d_repeat, 6)}",
            "train.num_sample_faces=1", "data.shuffle_buffer=256"]
    batch_images = args.batch_size * args.n_critic
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (fmt, size, keys) in FORMATS.items():
            folder = Path(tmp) / name
            write_dataset(["--format", fmt, "--out", str(folder), "--num", str(args.num), "--size", size])
            overrides = base + [f"data.dataset={name}"] + [k.format(d=folder) for k in keys]
            for variant, extra in (("files", []), ("tfrecord", [f"data.tfrecord_dir={Path(tmp) / 'tfr'}"])):
                source = load_source(load_config(None, overrides + extra), log=lambda *_: None)
                batches = training_batches(source, args.batch_size, args.n_critic, shuffle_buffer=256)
                rate = images_per_second(batches, batch_images, args.seconds)
                results[f"{name}/{variant}"] = round(rate, 1)
                print(f"{name:10s} {variant:9s} {rate:8.1f} images/s", flush=True)
    result = {"image_size": args.image_size, "images_per_second": results,
              "machine": f"{platform.machine()} {os.cpu_count()} cpus", "tensorflow": tf.__version__,
              "date": time.strftime("%Y-%m-%d")}
    print(json.dumps(result))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
