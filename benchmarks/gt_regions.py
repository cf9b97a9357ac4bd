"""Where in the face is a run's ground-truth error on the synthetic faces?

    python -m benchmarks.gt_regions --run-dir RUN [--num 200] [--out regions.json]

`python -m stargan_tf.evaluate` reports, per target, the L1 between each
translation and its true rendering next to the do-nothing L1 (the input
against the truth). This splits both into three parts that add up to them:
the pixels the true translation changes in the eye band (from the top of
the image down to the lowest point any expression's eyes reach: eyes, brows,
forehead, the top of the hair), the changed pixels below it (nose, mouth,
cheeks, chin, long hair), and the pixels the truth leaves as they were,
where all of the error is what G changed without being asked. A target whose
ground-truth L1 is near its do-nothing L1 may draw one part well and another
worse than leaving it alone; this says which. The translations, targets and
counted pairs are exactly the evaluation's, on the same held-out identities.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from benchmarks.common import open_run, run_dir_args, usage_error, write_json

REGIONS = ("eye_band", "below_eyes", "unchanged")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return run_dir_args(argv, __doc__, "a trained run directory on synthetic faces")


def region_masks(changed: np.ndarray, identity_ids: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The three regions (bool [N, H, W]) of each image, given where its truth differs from it."""
    from stargan_tf.data import synthetic

    size = changed.shape[1]
    rows = np.arange(size)[None, :, None]
    bottoms = np.array([synthetic.eye_band_bottom(synthetic.identity_from_id(int(i), seed))
                        for i in identity_ids])
    in_band = rows < np.ceil(bottoms * size)[:, None, None]
    return {"eye_band": changed & in_band, "below_eyes": changed & ~in_band, "unchanged": ~changed}


def split_l1(a: np.ndarray, b: np.ndarray, masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per image, each region's share of the mean |a - b| over all pixels and channels: the shares add up."""
    error = np.abs(a - b).mean(axis=-1)
    pixels = error.shape[1] * error.shape[2]
    return {name: (error * mask).sum(axis=(1, 2)) / pixels for name, mask in masks.items()}


def region_table(rows: dict[str, dict[str, float]]) -> str:
    head = "| target | " + " | ".join(f"{r}: GT | {r}: do-nothing" for r in REGIONS) + " | GT / do-nothing |"
    lines = [head, "|---" * (2 * len(REGIONS) + 2) + "|"]
    for name, row in rows.items():
        cells = [f"{row[f'{r}_{k}']:.4f}" for r in REGIONS for k in ("gt", "baseline")]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {row['ratio']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from stargan_tf.checkpoints import load_generator
    from stargan_tf.data.pipeline import DataError, from_uint8
    from stargan_tf.metrics import ground_truth
    from stargan_tf.metrics.translation import generator_translate, subset

    run_dir, config, layout = open_run(args.run_dir)
    if not ground_truth.is_synthetic(config):
        usage_error(f"{run_dir} was not trained on synthetic faces: there is no ground truth to split")
    try:
        data = ground_truth.eval_set(config, args.num)
        translate = generator_translate(load_generator(run_dir))
    except (DataError, OSError, ValueError) as err:
        usage_error(str(err))
    x_all = from_uint8(data.images)
    sources = np.asarray(data.labels, np.float32)
    rows: dict[str, dict[str, float]] = {}
    totals = {f"{r}_{k}": 0.0 for r in REGIONS for k in ("gt", "baseline")}
    count = 0
    for domain, targets in layout.grid_targets(sources):
        defined = layout.target_defined(sources, domain)
        if not defined.any():
            continue
        pair, targets = subset(data, defined), targets[defined]
        wanted = ground_truth.target_faces(layout, pair, targets)
        counted = np.array([w != f for w, f in zip(wanted, pair.faces, strict=True)])
        if not counted.any():
            continue
        truth_u8 = ground_truth.render_truth(pair, wanted)
        x, truth = x_all[defined], from_uint8(truth_u8)
        y = translate(x, targets)
        masks = region_masks(ground_truth.changed_pixels(pair.images, truth_u8, grow=0), pair.identity_ids,
                             data.render_seed)
        row = {}
        for kind, image in (("gt", y), ("baseline", x)):
            for region, share in split_l1(image, truth, masks).items():
                row[f"{region}_{kind}"] = float(share[counted].mean())
                totals[f"{region}_{kind}"] += float(share[counted].sum())
        row["ratio"] = sum(row[f"{r}_gt"] for r in REGIONS) / sum(row[f"{r}_baseline"] for r in REGIONS)
        row["count"] = int(counted.sum())
        rows[domain] = row
        count += int(counted.sum())
    if not count:
        usage_error(f"no held-out translation of {run_dir}'s labels changes a face: nothing to split")
    overall = {key: value / count for key, value in totals.items()}
    overall["ratio"] = (sum(overall[f"{r}_gt"] for r in REGIONS) / sum(overall[f"{r}_baseline"] for r in REGIONS))
    overall["count"] = count
    print(f"{run_dir}: {count} translations of {len(x_all)} held-out images; L1 shares of the whole image")
    print(region_table({**rows, "all": overall}))
    write_json(args.out, {"run_dir": str(run_dir), "num_images": len(x_all), "targets": rows, "all": overall})
    return 0


if __name__ == "__main__":
    sys.exit(main())
