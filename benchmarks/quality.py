"""Quality benchmark: does StarGAN learn to change exactly the requested attribute?

    python -m benchmarks.quality            # ~1.7 h on 2 CPU cores (1 h with a trained judge); writes docs/results.md
    python -m benchmarks.quality --quick    # 1-2 minute smoke run of the same pipeline (numbers meaningless)
    python -m benchmarks.quality --seeds 2  # also trains configs/quality.yaml with train.seed=1 (+30 min)

Trains from scratch on synthetic faces, jointly on a CelebA-like set (hair
color, gender, age) and an RaFD-like set (eight expressions) with the mask
vector, once with configs/quality.yaml and once with the paper's
hyper-parameters (configs/quality_paper.yaml). A judging classifier is
trained on the same real training images; the run is valid only if it
reaches 99% on held-out real images. Both generators are then evaluated on
held-out identities (python -m stargan_tf.evaluate) against the targets below.
With --seeds N, configs/quality.yaml is trained N times (train.seed 0..N-1: the
initial weights, the order of the batches and the targets drawn; the data and
the judge stay the same) and every run is reported, so a target met by one
seed is not mistaken for a target the configuration meets.
A finished run directory is reused on a second invocation (training resumes
or is skipped), so an interrupted benchmark can be continued.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import usage_error

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"quality": "configs/quality.yaml", "paper": "configs/quality_paper.yaml"}
JUDGE_MIN_ACCURACY = 0.99
# (metrics.json key, label, comparison, threshold)
TARGETS = [
    ("target_accuracy_mean", "target-attribute accuracy, mean over targets", ">=", 0.95),
    ("target_accuracy_min", "target-attribute accuracy, worst target", ">=", 0.90),
    ("gt_l1_ratio", "ground-truth L1 / do-nothing L1", "<=", 0.35),
    ("reconstruction_l1", "reconstruction L1", "<=", 0.05),
]
FULL = {"judge_steps": 4000, "judge_width": 16, "num": 500}
# The smoke run shrinks everything so the whole pipeline runs in a minute or two.
QUICK = {"judge_steps": 40, "judge_width": 8, "num": 12}
QUICK_OVERRIDES = [
    "model.image_size=32", "model.g_conv_dim=8", "model.g_repeat_num=1", "model.d_conv_dim=8",
    "model.d_repeat_num=4", "train.batch_size=4", "train.num_steps=10", "train.decay_steps=0",
    "train.log_every=5", "train.sample_every=10", "train.checkpoint_every=10", "train.num_sample_faces=4",
    "data.synthetic.num_identities=16", "data.synthetic.images_per_identity=2", "data.synthetic.test_identities=4",
]


def passes(value: float | None, comparison: str, threshold: float) -> bool:
    if value is None:
        return False
    return value >= threshold if comparison == ">=" else value <= threshold


def comparison_table(results: dict[str, dict], judge: dict) -> str:
    names = list(results)
    lines = ["| metric | target | " + " | ".join(f"`{CONFIGS[n]}`" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    for key, label, comparison, threshold in TARGETS:
        cells = []
        for name in names:
            value = results[name]["metrics"].get(key)
            mark = "pass" if passes(value, comparison, threshold) else "FAIL"
            cells.append("-" if value is None else f"{value:.4f} ({mark})")
        lines.append(f"| {label} | {comparison} {threshold} | " + " | ".join(cells) + " |")
    extra = [("ground-truth L1 (do-nothing baseline)", lambda m: f"{m['gt_l1']:.4f} ({m['baseline_l1']:.4f})"),
             ("ground-truth PSNR dB (do-nothing)", lambda m: f"{m['gt_psnr']:.2f} ({m['baseline_psnr']:.2f})"),
             ("identity PSNR dB outside the changed region", lambda m: f"{m['identity_psnr']:.2f}"),
             ("other attributes kept", lambda m: f"{m['kept_accuracy']:.4f}"),
             ("training steps (D updates)", lambda m: None),
             ("training time", lambda m: None)]
    for label, show in extra:
        cells = []
        for name in names:
            r = results[name]
            if label.startswith("training steps"):
                cells.append(f"{r['steps']} ({r['steps'] * r['n_critic']})")
            elif label == "training time":
                sessions = f", {r['train_sessions']} sessions" if r.get("train_sessions", 1) > 1 else ""
                cells.append(f"{r['train_minutes']:.1f} min ({r['seconds_per_step'] or 0:.2f} s/step{sessions})")
            else:
                cells.append(show(r["metrics"]))
        lines.append(f"| {label} | | " + " | ".join(cells) + " |")
    lines.append(f"| judge accuracy on held-out real images | >= {JUDGE_MIN_ACCURACY} | "
                 + " | ".join(f"{judge['accuracy_mean']:.4f} (worst {judge['accuracy_min']:.4f})" for _ in names)
                 + " |")
    return "\n".join(lines)


def per_domain_table(results: dict[str, dict], judge: dict) -> str:
    names = list(results)
    lines = ["| target | judge on real | " + " | ".join(f"accuracy `{n}`" for n in names)
             + " | " + " | ".join(f"GT L1 `{n}`" for n in names) + " | do-nothing L1 |",
             "|---|---|" + "---|" * (2 * len(names) + 1)]
    first = results[names[0]]["metrics"]["per_domain"]
    for domain in first:
        per = [results[n]["metrics"]["per_domain"][domain] for n in names]
        real = judge["accuracy"].get(domain)
        lines.append(f"| {domain} | {'-' if real is None else f'{real:.3f}'} | "
                     + " | ".join(f"{p['target_accuracy']:.3f}" for p in per) + " | "
                     + " | ".join(f"{p['gt_l1']:.4f}" for p in per) + f" | {per[0]['baseline_l1']:.4f} |")
    return "\n".join(lines)


def verdict(name: str, metrics: dict) -> str:
    """One line: which targets a configuration meets, and by how much it misses the others."""
    missed = [f"{label} {metrics.get(key, float('nan')):.4f} (target {comparison} {threshold})"
              for key, label, comparison, threshold in TARGETS
              if not passes(metrics.get(key), comparison, threshold)]
    if not missed:
        return f"- `{CONFIGS[name]}` meets every target."
    return f"- `{CONFIGS[name]}` misses {len(missed)} of {len(TARGETS)} targets: " + "; ".join(missed) + "."


def seed_name(seed: int) -> str:
    return "quality" if seed == 0 else f"quality_seed{seed}"


def worst_target(metrics: dict) -> str:
    per = metrics["per_domain"]
    return min(per, key=lambda domain: per[domain]["target_accuracy"])


def seeds_met(repeats: dict[int, dict]) -> list[int]:
    """Per target: how many of the seeds' runs meet it."""
    return [sum(passes(r["metrics"].get(key), comparison, threshold) for r in repeats.values())
            for key, _, comparison, threshold in TARGETS]


def seeds_table(repeats: dict[int, dict]) -> str:
    """Each training seed of configs/quality.yaml on the four targets, and how many seeds meet each."""
    lines = ["| `train.seed` | " + " | ".join(f"{label} ({comparison} {threshold})"
                                             for _, label, comparison, threshold in TARGETS) + " | training time |",
             "|---|" + "---|" * (len(TARGETS) + 1)]
    for seed, r in repeats.items():
        m = r["metrics"]
        cells = []
        for key, _, comparison, threshold in TARGETS:
            value = m.get(key)
            mark = "pass" if passes(value, comparison, threshold) else "FAIL"
            worst = f", {worst_target(m)}" if key == "target_accuracy_min" else ""
            cells.append("-" if value is None else f"{value:.4f} ({mark}{worst})")
        lines.append(f"| {seed} | " + " | ".join(cells) + f" | {r['train_minutes']:.1f} min |")
    lines.append("| met by | " + " | ".join(f"{n} of {len(repeats)}" for n in seeds_met(repeats)) + " | |")
    return "\n".join(lines)


def write_results(path: Path, grid_source: Path, results: dict, judge: dict, machine: str, minutes: float,
                  repeats: dict[int, dict] | None = None) -> None:
    grid = path.parent / "results_grid.png"
    shutil.copyfile(grid_source, grid)
    valid = judge["accuracy_mean"] >= JUDGE_MIN_ACCURACY
    text = [
        "# Measured quality on synthetic faces",
        "",
        "Measured by `python -m benchmarks.quality` (from scratch, joint CelebA-like + RaFD-like synthetic "
        f"faces with the mask vector, 64x64, evaluated on {results['quality']['metrics']['num_images']} "
        f"images of held-out identities) on {machine}, {time.strftime('%Y-%m-%d')}. Time: "
        + (f"judge {judge['train_minutes']:.0f} min, " if judge.get("train_minutes")
           else "judge trained earlier (reused `runs/quality/classifier.keras`), ")
        + ", ".join(f"training `{n}` {r['train_minutes']:.0f} min + evaluation {r['eval_minutes']:.0f} min"
                    for n, r in results.items())
        + f" ({minutes:.0f} min in the last invocation). Metric definitions: [evaluation.md](evaluation.md).",
        "",
        "Reproduce:",
        "",
        "```bash",
        "python -m benchmarks.quality" + (f" --seeds {len(repeats)}" if repeats else ""),
        "```",
        "",
        "" if valid else f"**Invalid run: the judge reached {judge['accuracy_mean']:.4f} < {JUDGE_MIN_ACCURACY} "
                         "on held-out real images, so its verdicts on translations cannot be trusted.**",
        "",
        *[verdict(name, r["metrics"]) for name, r in results.items()],
        *([f"- Over {len(repeats)} training seeds of `{CONFIGS['quality']}` (the first line is seed 0's): "
           + "; ".join(f"{label} met by {n} of {len(repeats)}" for (_, label, _, _), n
                       in zip(TARGETS, seeds_met(repeats), strict=True)) + "."] if repeats else []),
        "",
        comparison_table(results, judge),
        "",
        "Per target domain (accuracy judged by the classifier; ground-truth L1 over the translations that "
        "change the face):",
        "",
        per_domain_table(results, judge),
        "",
        *([f"`{CONFIGS['quality']}` trained with {len(repeats)} seeds (the tables above are seed 0's; the data, "
           "the judge and the held-out faces are the same for every seed):", "", seeds_table(repeats), ""]
          if repeats else []),
        "Held-out faces translated by `configs/quality.yaml` (input, then one column per target; the RaFD-like "
        "faces' tiles for the CelebA-like attributes are blank: they are not a complete request, "
        "see [evaluation.md](evaluation.md#what-is-measured)):",
        "",
        f"![sample grid]({grid.name})",
        "",
    ]
    path.write_text("\n".join(text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1-2 minute smoke run; never writes docs/results.md")
    parser.add_argument("--out-dir", help="where the runs go (default runs/quality; --quick: a temporary folder)")
    parser.add_argument("--only", choices=sorted(CONFIGS), help="train and evaluate one configuration only")
    parser.add_argument("--seeds", type=int, default=1,
                        help=f"train {CONFIGS['quality']} with train.seed 0..N-1 and report every run (default 1)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or (args.seeds > 1 and args.only == "paper"):
        usage_error("--seeds must be >= 1 and repeats configs/quality.yaml, so it cannot go with --only paper")

    from stargan_tf.config import load_config
    from stargan_tf.evaluate import evaluate_run, judge_accuracy, train_judge
    from stargan_tf.run import TIMING_FILE, train

    begin = time.perf_counter()
    settings = QUICK if args.quick else FULL
    overrides = QUICK_OVERRIDES if args.quick else []
    out_dir = Path(args.out_dir or (tempfile.mkdtemp(prefix="stargan_quality_") if args.quick else "runs/quality"))
    label = "SMOKE RUN (--quick): tiny models, a few steps; the numbers below mean nothing" if args.quick else \
        "full quality benchmark"
    print(f"== {label}; output in {out_dir}")
    configs = {name: load_config(ROOT / path, overrides) for name, path in CONFIGS.items()
               if args.only in (None, name)}
    # The judge is trained once on the data both configurations share (and reused by a second invocation).
    judge_path = out_dir / "classifier.keras"
    first_config = next(iter(configs.values()))
    judge_started = time.perf_counter()
    if judge_path.exists():
        print(f"reusing the judge {judge_path}")
        judge = judge_accuracy(first_config, judge_path, settings["num"])
    else:
        judge = train_judge(first_config, judge_path, settings["judge_steps"], width=settings["judge_width"],
                            num=settings["num"])
        judge["train_minutes"] = (time.perf_counter() - judge_started) / 60
        (out_dir / "judge.json").write_text(json.dumps(judge, indent=2) + "\n")
    if (out_dir / "judge.json").exists():
        judge["train_minutes"] = json.loads((out_dir / "judge.json").read_text()).get("train_minutes")
    print(f"judge: held-out real accuracy {judge['accuracy_mean']:.4f} (worst domain {judge['accuracy_min']:.4f})")
    runs = [(name, name, config) for name, config in configs.items()]
    runs += [(seed_name(seed), "quality", load_config(ROOT / CONFIGS["quality"], [*overrides, f"train.seed={seed}"]))
             for seed in range(1, args.seeds)]
    results, repeats = {}, {}
    for run_name, name, config in runs:
        print(f"== training {run_name} ({CONFIGS[name]}, train.seed={config.train.seed})")
        trained = train(config, out_dir / run_name)
        # Training time summed over every session that trained this run directory.
        timing_path = out_dir / run_name / TIMING_FILE  # absent for a run trained by an older version
        timing = json.loads(timing_path.read_text()) if timing_path.exists() else {"seconds": float("nan"),
                                                                                    "sessions": []}
        per_step = [s["median_seconds_per_step"] for s in timing["sessions"] if s["median_seconds_per_step"]]
        eval_started = time.perf_counter()
        metrics = evaluate_run(out_dir / run_name, config, settings["num"], judge_path)
        result = {"config": CONFIGS[name], "steps": trained.final_step, "n_critic": config.train.n_critic,
                  "train_minutes": timing["seconds"] / 60, "train_sessions": len(timing["sessions"]),
                  "seconds_per_step": per_step[-1] if per_step else None,
                  "eval_minutes": (time.perf_counter() - eval_started) / 60, "metrics": metrics}
        if run_name == name:
            results[name] = result
        if name == "quality":
            repeats[config.train.seed] = result
    repeats = repeats if args.seeds > 1 else {}
    total = (time.perf_counter() - begin) / 60
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    summary = {"quick": args.quick, "judge": judge, "results": results, "minutes": total, "machine": machine,
               "seeds": {str(seed): r for seed, r in repeats.items()}}
    (out_dir / "quality.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\n== {label}")
    print(comparison_table(results, judge))
    if repeats:
        print("\n" + seeds_table(repeats))
    valid = judge["accuracy_mean"] >= JUDGE_MIN_ACCURACY
    if not valid:
        print(f"INVALID: the judge reached {judge['accuracy_mean']:.4f} < {JUDGE_MIN_ACCURACY} on held-out real images"
              + (" (expected in a smoke run)" if args.quick else ""))
    print(f"total {total:.1f} min; details in {out_dir / 'quality.json'}")
    if not args.quick and args.only is None:
        write_results(ROOT / "docs" / "results.md", out_dir / "quality" / "eval" / "grid.png", results, judge,
                      machine, total, repeats)
        print(f"wrote {ROOT / 'docs' / 'results.md'}")
    # A smoke run checks that the pipeline works, not the numbers.
    return 0 if valid or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
