"""Size, LiteRT latency and error against the float model for every .tflite quantization mode.

    python -m benchmarks.export_quality --run-dir runs/synthetic --out docs/deploy_table.md
    python -m benchmarks.export_quality --run-dir /tmp/celeba128 --init-random-celeba --label "..."

Each run writes (or replaces) one section of the markdown file, titled by --label. The
faces are a fixed set of synthetic faces rendered at the model's size (the same for every
run), each with a random valid target label; the reference is the Keras generator in
float32. A variant whose PSNR against float is under 30 dB is flagged.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import stargan_tf  # noqa: F401  (quiets TensorFlow's start-up logs)
from export import tflite
from export.saved_model import load_run, training_step

PSNR_FLOOR = 30.0
# Far from the ids training data uses, so these faces were never trained on.
EVAL_IDENTITY_OFFSET = 50_000_000


def synthetic_faces(count: int, size: int, offset: int = EVAL_IDENTITY_OFFSET, seed: int = 1234) -> np.ndarray:
    from stargan_tf.data import synthetic

    rng = np.random.default_rng(seed)
    attributes = [synthetic.random_attributes(rng) for _ in range(count)]
    return synthetic.render_batch(np.arange(offset, offset + count), attributes, size=size, seed=seed)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of images in [-1, 1] (peak-to-peak 2), in dB."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(4.0 / mse)


def init_random_celeba(run_dir: Path) -> None:
    """A paper-size CelebA generator (128 px, 64 filters, 6 blocks, 5 attributes) with random weights."""
    from stargan_tf.checkpoints import save_generator, write_layout
    from stargan_tf.config import load_config, save_config
    from stargan_tf.data.sources import layout_for
    from stargan_tf.models import build_generator

    config = load_config(None, ["data.dataset=celeba", "model.image_size=128"])
    layout = layout_for(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    write_layout(layout, run_dir)
    save_generator(build_generator(layout.label_dim, 128, config.model.g_conv_dim, config.model.g_repeat_num,
                                   config.model.g_output), run_dir)


def measure(run_dir: Path, faces: int, threads: int, runs: int, calibration: int) -> tuple[list[dict], dict]:
    from ai_edge_litert.interpreter import Interpreter
    from PIL import Image

    generator, layout, size = load_run(run_dir)
    images = (synthetic_faces(faces, size) / 127.5 - 1.0).astype(np.float32)
    labels = layout.sample_targets(np.random.default_rng(0), faces)
    reference = np.concatenate([np.asarray(generator((images[i: i + 1], labels[i: i + 1]), training=False))
                                for i in range(faces)])
    rows = []
    with tempfile.TemporaryDirectory(prefix="export-quality-") as tmp:
        photos = None
        if not str(getattr(_config(run_dir).data, "dataset", "")).startswith("synthetic"):
            # No training data on this machine: calibrate on other synthetic faces.
            photos = Path(tmp) / "calibration"
            photos.mkdir()
            for i, face in enumerate(synthetic_faces(calibration, size, offset=EVAL_IDENTITY_OFFSET * 2)):
                Image.fromarray(face).save(photos / f"{i:04d}.png")
        for mode in tflite.QUANTIZATIONS:
            path = tflite.export_tflite(run_dir, Path(tmp) / f"{mode}.tflite", mode, calibration_count=calibration,
                                        calibration_photos=photos)
            runner = Interpreter(model_path=str(path), num_threads=threads).get_signature_runner("translate")
            outputs = np.concatenate([runner(image=images[i: i + 1], labels=labels[i: i + 1])["image"]
                                      for i in range(faces)])
            for _ in range(3):
                runner(image=images[:1], labels=labels[:1])
            times = []
            for i in range(runs):
                start = time.perf_counter()
                runner(image=images[i % faces: i % faces + 1], labels=labels[i % faces: i % faces + 1])
                times.append(time.perf_counter() - start)
            rows.append({
                "mode": mode, "size_mb": path.stat().st_size / 1e6, "latency_ms": 1000 * statistics.median(times),
                "max_abs": float(np.abs(outputs - reference).max()), "psnr": psnr(outputs, reference),
                "worst_psnr": min(psnr(outputs[i], reference[i]) for i in range(faces)),
            })
    info = {"size": size, "label_dim": layout.label_dim, "params": int(generator.count_params()),
            "step": training_step(run_dir), "faces": faces, "threads": threads, "runs": runs}
    return rows, info


def _config(run_dir: Path):
    from stargan_tf.config import load_config

    return load_config(run_dir / "config.yaml")


def markdown(label: str, run_dir: Path, rows: list[dict], info: dict) -> str:
    import ai_edge_litert

    trained = f"trained {info['step']} steps" if info["step"] else "no checkpoint (random or converted weights)"
    lines = [
        f"### {label}", "",
        f"Run `{run_dir}`: G with {info['params']:,} parameters, {info['size']}x{info['size']} px, "
        f"{info['label_dim']} labels, {trained}. Error against the Keras float32 G over {info['faces']} fixed "
        f"synthetic faces with random valid targets (outputs in [-1, 1]; PSNR with peak-to-peak 2). Latency: "
        f"LiteRT {getattr(ai_edge_litert, '__version__', '')} interpreter (XNNPACK), {info['threads']} threads, "
        f"batch 1, median of {info['runs']} runs on {platform.machine()} ({platform.processor() or 'CPU'}), "
        "a machine shared with other jobs, so latencies are indicative.", "",
        "| variant | file | latency | max abs error | PSNR vs float | worst face | |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        flag = f"**PSNR under {PSNR_FLOOR:.0f} dB**" if row["psnr"] < PSNR_FLOOR else ""
        value = "exact" if row["psnr"] == float("inf") else f"{row['psnr']:.1f} dB"
        worst = "exact" if row["worst_psnr"] == float("inf") else f"{row['worst_psnr']:.1f} dB"
        lines.append(f"| {row['mode']} | {row['size_mb']:.2f} MB | {row['latency_ms']:.1f} ms | "
                     f"{row['max_abs']:.2g} | {value} | {worst} | {flag} |")
    return "\n".join(lines) + "\n"


def write_section(path: Path, label: str, text: str) -> None:
    """Replaces the section titled `label` in `path`, or appends it."""
    old = path.read_text() if path.exists() else "# Quantization measurements\n\n"
    head, *sections = old.split("\n### ")
    sections = ["### " + s for s in sections]
    sections = [s if not s.startswith(f"### {label}\n") else text for s in sections]
    if not any(s.startswith(f"### {label}\n") for s in sections):
        sections.append(text)
    path.write_text("\n".join([head.rstrip("\n") + "\n", *[s.rstrip("\n") + "\n" for s in sections]]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.export_quality", description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--out", default="docs/deploy_table.md", help="markdown file (a section per --label)")
    parser.add_argument("--label", help="section title (default: the run directory's name)")
    parser.add_argument("--faces", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20, help="timed runs per variant")
    parser.add_argument("--calibration-samples", type=int, default=64)
    parser.add_argument("--init-random-celeba", action="store_true",
                        help="create --run-dir with a random-weight paper-size CelebA G if it does not exist")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    if args.init_random_celeba and not (run_dir / "generator.keras").exists():
        init_random_celeba(run_dir)
    if min(args.faces, args.threads, args.runs, args.calibration_samples) < 1:
        print("error: --faces, --threads, --runs and --calibration-samples must be positive", file=sys.stderr)
        return 2
    try:
        rows, info = measure(run_dir, args.faces, args.threads, args.runs, args.calibration_samples)
    except tflite.ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text = markdown(args.label or run_dir.name, run_dir, rows, info)
    write_section(Path(args.out), args.label or run_dir.name, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
