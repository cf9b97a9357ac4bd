"""Shared helpers of the benchmarks: timing, machine description, JSON output."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of `fn()` over `repeats` calls after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        fn()
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def machine() -> dict[str, str]:
    """CPU model, core count and accelerator, for the results table."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    gpu = ""
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        gpu = f"{len(gpus)} x {details.get('device_name', 'GPU')}"
    return {"cpu": cpu, "cores": str(os.cpu_count()), "gpu": gpu or "none", "tensorflow": tf.__version__,
            "date": time.strftime("%Y-%m-%d")}


def ratio(tf_value: float | None, torch_value: float | None) -> float | None:
    """TF / PyTorch for a time (lower is better for TF); None when either side is missing."""
    if not tf_value or not torch_value:
        return None
    return round(tf_value / torch_value, 3)


def write_json(path: str | None, payload: dict) -> None:
    print(json.dumps(payload, indent=1))
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=1) + "\n")


def usage_error(message: str) -> NoReturn:
    """Bad input: one line on stderr and exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def run_dir_args(argv: list[str] | None, doc: str, run_help: str,
                 more: Callable[[argparse.ArgumentParser], object] | None = None) -> argparse.Namespace:
    """--run-dir, --num (held-out faces per dataset, at least 2) and --out, the arguments of the benchmarks
    that read a trained run, plus whatever `more` adds; the description is `doc`'s first paragraph."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help=run_help)
    if more is not None:
        more(parser)
    parser.add_argument("--num", type=int, default=200, help="held-out faces per dataset")
    parser.add_argument("--out", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.num < 2:
        usage_error("--num must be >= 2")
    return args


def refuse_existing_run(flag: str, path: Path) -> None:
    """A usage error unless `path` can become a new run directory: never a file, never overwrite a run."""
    from stargan_tf.checkpoints import CONFIG_FILE, GENERATOR_FILE

    if path.exists() and not path.is_dir():
        usage_error(f"{flag} {path} is a file, not a directory")
    held = [name for name in (CONFIG_FILE, GENERATOR_FILE) if (path / name).exists()]
    if held:
        usage_error(f"{flag} {path} already holds a run ({', '.join(held)}); choose an empty directory")


def open_run(run_dir: str) -> tuple[Path, Any, Any]:
    """A trained run directory, its config and its label layout; bad input is a usage error."""
    from stargan_tf.checkpoints import CONFIG_FILE, GENERATOR_FILE, read_layout
    from stargan_tf.config import ConfigError, load_config
    from stargan_tf.data.pipeline import DataError
    from stargan_tf.data.sources import layout_for

    path = Path(run_dir)
    for needed in (CONFIG_FILE, GENERATOR_FILE):
        if not (path / needed).is_file():
            usage_error(f"{path} has no {needed}: not a trained run directory")
    try:
        config = load_config(path / CONFIG_FILE)
        layout = read_layout(path)
        same = layout_for(config).to_dict() == layout.to_dict()
    except (ConfigError, DataError, OSError, ValueError) as err:
        usage_error(str(err))
    if not same:
        usage_error(f"{path}'s data has other labels than the run")
    return path, config, layout


def synthetic_config(path: str, overrides: list[str], purpose: str,
                     joint: bool = False) -> tuple[Any, list[str]]:
    """(config, dataset names) for a benchmark that renders its own synthetic faces.

    Anything else (an unreadable config, a real dataset, a joint one unless
    `joint`, float16, whose small gradients underflow without the trainer's
    loss scaling) prints a one-line error and exits with code 2.
    """
    from stargan_tf.config import ConfigError, load_config
    from stargan_tf.data.sources import dataset_names
    from stargan_tf.metrics.ground_truth import is_synthetic

    try:
        config = load_config(path, overrides)
    except (ConfigError, OSError) as err:
        usage_error(str(err))
    names = dataset_names(config)
    if not is_synthetic(config) or (len(names) != 1 and not joint):
        wanted = "synthetic datasets" if joint else "one synthetic dataset"
        usage_error(f"{purpose} needs {wanted} (got {', '.join(names)}); "
                    "pass e.g. --set data.dataset=synthetic-rafd")
    if config.train.precision == "float16":
        usage_error(f"{purpose} runs in float32 or bf16, not float16")
    return config, names
