"""Generator inference speed: Keras, SavedModel, TFLite (float32/float16/int8) and PyTorch in one run.

    python -m benchmarks.infer_speed                       # 128x128 G, batch-1 latency and batch-16 throughput
    python -m benchmarks.infer_speed --json docs/results/infer_cpu.json

Every row is the median of `--repeats` calls after one warm-up call, and prints
its time over PyTorch eager's (fp32, torch.inference_mode) on the same shapes.
TFLite models are converted from a SavedModel with a static batch-1 endpoint
(what GPU delegates need) and run with ai_edge_litert (XNNPACK, `--threads`);
their batch-16 throughput is 16 batch-1 invocations. Quantized variants report
PSNR against the float Keras output on synthetic faces (peak-to-peak 2, images in [-1, 1]).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

IMAGE_SIZE = 128
LABELS = 5


def export_saved_model(generator, directory: Path) -> Path:
    """G with a dynamic batch, as the SavedModel row runs it."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(generator)
    spec = [tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 3), tf.float32, name="images"),
            tf.TensorSpec((None, LABELS), tf.float32, name="labels")]
    archive.add_endpoint("serve", lambda images, labels: generator((images, labels), training=False), spec)
    archive.write_out(str(directory), verbose=False)
    return directory


def convert_tflite(saved_model: Path, kind: str, faces, labels) -> bytes:
    """The shipped converter (export.tflite.convert); kind float32 is its "none", int8 calibrates on `faces`."""
    from export.tflite import convert

    def representative():
        for i in range(len(faces)):
            yield {"image": faces[i:i + 1], "labels": labels[i:i + 1]}

    return convert(saved_model, "none" if kind == "float32" else kind, representative if kind == "int8" else None)


def psnr(reference, test) -> float:
    import numpy as np

    mse = float(np.mean((np.asarray(reference, np.float64) - np.asarray(test, np.float64)) ** 2))
    return float("inf") if mse == 0 else round(10 * np.log10(4.0 / mse), 2)


def sample_faces(count: int):
    """Synthetic faces at 128 px and label vectors, for calibration and PSNR."""
    import numpy as np

    from stargan_tf.config import load_config
    from stargan_tf.data.pipeline import to_model_range
    from stargan_tf.data.sources import load_source

    config = load_config(None, ["data.synthetic.num_identities=8", "data.synthetic.test_identities=2",
                                f"train.num_sample_faces={count}"])
    source = load_source(config)
    images = np.asarray(to_model_range(source.sample_images[:count]), np.float32)
    rng = np.random.default_rng(0)
    return images, source.layout.sample_targets(rng, len(images)).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per row (median)")
    parser.add_argument("--threads", type=int, default=2, help="TFLite/XNNPACK and PyTorch threads")
    parser.add_argument("--variants", default="float32,float16,dynamic,int8",
                        help="TFLite variants: float32, float16, dynamic (int8 weights), int8 (full integer)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in ("float32", "float16", "dynamic", "int8")]
    if bad or args.repeats < 1 or args.threads < 1:
        print(f"error: {'unknown TFLite variant ' + repr(bad[0]) if bad else '--repeats/--threads must be >= 1'}",
              file=sys.stderr)
        return 2

    import numpy as np
    import tensorflow as tf

    from benchmarks.common import machine, median_seconds, ratio, write_json
    from stargan_tf.models import build_generator

    generator = build_generator(LABELS, IMAGE_SIZE)
    faces, labels = sample_faces(8)
    cycle = np.arange(16) % len(faces)  # the held-out set may hold fewer than 16 faces
    batch16 = (faces[cycle], labels[cycle])
    rows: list[dict] = []
    reference: dict[int, float] = {}

    def add(name: str, batch: int, seconds: float, **extra) -> None:
        row = {"runtime": name, "batch": batch, "seconds": round(seconds, 4),
               "images_per_s": round(batch / seconds, 2), "tf_over_torch_time": ratio(seconds, reference.get(batch)),
               **extra}
        rows.append(row)
        print(f"{name:22s} batch {batch:2d}  {seconds * 1000:9.1f} ms  {row['images_per_s']:7.2f} img/s  "
              f"TF/PyTorch {row['tf_over_torch_time']}" + (f"  PSNR {extra['psnr_db']} dB" if extra else ""),
              flush=True)

    try:
        import torch

        from benchmarks.torch_stargan import Generator as TorchGenerator
    except ImportError:
        print("note: torch is not installed (pip install -e .[bench]); no PyTorch baseline", file=sys.stderr)
    else:
        torch.set_num_threads(args.threads)
        torch_g = TorchGenerator(LABELS).eval()
        for batch, (x, c) in ((1, (faces[:1], labels[:1])), (16, batch16)):
            tx, tc = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(c)
            with torch.inference_mode():
                reference[batch] = median_seconds(lambda tx=tx, tc=tc: torch_g(tx, tc), args.repeats)
            add("pytorch eager", batch, reference[batch])

    keras_fn = tf.function(lambda x, c: generator((x, c), training=False))
    for batch, (x, c) in ((1, (faces[:1], labels[:1])), (16, batch16)):
        add("keras (tf.function)", batch, median_seconds(lambda x=x, c=c: keras_fn(x, c).numpy(), args.repeats))
    float_out = np.concatenate([keras_fn(faces[i:i + 1], labels[i:i + 1]).numpy() for i in range(len(faces))])

    with tempfile.TemporaryDirectory() as tmp:
        served = tf.saved_model.load(str(export_saved_model(generator, Path(tmp) / "dynamic")))
        for batch, (x, c) in ((1, (faces[:1], labels[:1])), (16, batch16)):
            add("savedmodel", batch, median_seconds(lambda x=x, c=c: served.serve(x, c).numpy(), args.repeats))
        from ai_edge_litert.interpreter import Interpreter

        from export.tflite import SIGNATURE, write_static_saved_model

        static = Path(tmp) / "static"
        write_static_saved_model(generator, IMAGE_SIZE, LABELS, static)

        for variant in variants:
            flat = convert_tflite(static, variant, faces, labels)
            interpreter = Interpreter(model_content=flat, num_threads=args.threads)
            runner = interpreter.get_signature_runner(SIGNATURE)
            outputs = [runner(image=faces[i:i + 1], labels=labels[i:i + 1])["image"] for i in range(len(faces))]
            quality = {"psnr_db": psnr(float_out, np.concatenate(outputs)), "size_mb": round(len(flat) / 2**20, 1)}
            one = median_seconds(lambda runner=runner: runner(image=faces[:1], labels=labels[:1]), args.repeats)
            add(f"tflite {variant}", 1, one, **quality)
            sixteen = median_seconds(
                lambda runner=runner: [runner(image=batch16[0][i:i + 1], labels=batch16[1][i:i + 1])
                                       for i in range(16)], max(1, args.repeats // 2))
            add(f"tflite {variant}", 16, sixteen, **quality)
    write_json(args.json, {"benchmark": "inference", "image_size": IMAGE_SIZE, "threads": args.threads,
                           "repeats": args.repeats, "machine": machine(), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
