"""Where in the face is a run's ground-truth error on the synthetic faces?

    python -m benchmarks.gt_regions --run-dir RUN [--num 200] [--out regions.json]

`python -m stargan_tf.evaluate` reports, per target, the L1 between each
translation and its true rendering next to the do-nothing L1 (the input
against the truth). This splits both into three parts that add up to them:
the pixels the true translation changes in the eye band (from the top of
the image down to the lowest point any expression's eyes reach: eyes, brows,
forehead, the top of the hair), the changed pixels below it (nose, mouth,
cheeks, chin, long hair), and the pixels the truth leaves as they were,
where all of the error is what G changed without being asked. Of the
unchanged pixels, those within BORDER_PX pixels of a changed one are also
counted apart (the border): error there is a change drawn a little too large
or blurred at its edges, error further away is G touching the rest of the
face. A target whose ground-truth L1 is near its do-nothing L1 may draw one
part well and another worse than leaving it alone; this says which. With
several datasets, each dataset's translations are also totalled. The
translations, targets and counted pairs are exactly the evaluation's, on the
same held-out identities.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict

import numpy as np

from benchmarks.common import open_run, run_dir_args, usage_error, write_json

REGIONS = ("eye_band", "below_eyes", "unchanged")
# The part of "unchanged" within this many pixels (4-neighbour steps) of a changed pixel: "border".
BORDER_PX = 4


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return run_dir_args(argv, __doc__, "a trained run directory on synthetic faces")


def region_masks(changed: np.ndarray, identity_ids: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The three regions (bool [N, H, W]) of each image, given where its truth differs from it, and the
    border: the part of "unchanged" within BORDER_PX pixels of a changed pixel."""
    from stargan_tf.data import synthetic
    from stargan_tf.metrics import ground_truth

    size = changed.shape[1]
    rows = np.arange(size)[None, :, None]
    bottoms = np.array([synthetic.eye_band_bottom(synthetic.identity_from_id(int(i), seed))
                        for i in identity_ids])
    in_band = rows < np.ceil(bottoms * size)[:, None, None]
    border = ground_truth.grow_region(changed, BORDER_PX) & ~changed
    return {"eye_band": changed & in_band, "below_eyes": changed & ~in_band, "unchanged": ~changed,
            "border": border}


def split_l1(a: np.ndarray, b: np.ndarray, masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per image, each mask's share of the mean |a - b| over all pixels and channels: the three regions' shares
    add up to it (the border's is part of the unchanged pixels')."""
    error = np.abs(a - b).mean(axis=-1)
    pixels = error.shape[1] * error.shape[2]
    return {name: (error * mask).sum(axis=(1, 2)) / pixels for name, mask in masks.items()}


def region_table(rows: dict[str, dict[str, float]]) -> str:
    columns = (*REGIONS, "border")
    head = ("| target | " + " | ".join(f"{r}: GT | {r}: do-nothing" for r in REGIONS)
            + " | of which border: GT | border: do-nothing | GT / do-nothing |")
    lines = [head, "|---" * (2 * len(columns) + 2) + "|"]
    for name, row in rows.items():
        cells = [f"{row[f'{r}_{k}']:.4f}" for r in columns for k in ("gt", "baseline")]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {row['ratio']:.3f} |")
    return "\n".join(lines)


def _with_ratio(row: dict[str, float], count: int) -> dict[str, float]:
    """A row of mean shares with its ground-truth ratio (the three regions' sum over the baseline's) and count."""
    ratio = sum(row[f"{r}_gt"] for r in REGIONS) / sum(row[f"{r}_baseline"] for r in REGIONS)
    return {**row, "ratio": ratio, "count": count}


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
    # Summed shares and counts over "all" translations and, with several datasets, over each dataset's.
    sums: dict[str, Counter[str]] = defaultdict(Counter)
    counts: Counter[str] = Counter()
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
        shares = {f"{region}_{kind}": share[counted]
                  for kind, image in (("gt", y), ("baseline", x))
                  for region, share in split_l1(image, truth, masks).items()}
        rows[domain] = _with_ratio({key: float(share.mean()) for key, share in shares.items()}, int(counted.sum()))
        groups = ["all"] + ([layout.datasets[layout.dataset_of(domain)].name] if layout.has_mask else [])
        for group in groups:
            counts[group] += int(counted.sum())
            sums[group].update({key: float(share.sum()) for key, share in shares.items()})
    if not counts["all"]:
        usage_error(f"no held-out translation of {run_dir}'s labels changes a face: nothing to split")
    totals = {group: _with_ratio({key: value / counts[group] for key, value in total.items()}, counts[group])
              for group, total in sums.items()}
    overall = totals.pop("all")
    print(f"{run_dir}: {overall['count']} translations of {len(x_all)} held-out images; L1 shares of the whole "
          f"image (border: the unchanged pixels within {BORDER_PX} pixels of a changed one)")
    print(region_table({**rows, **{f"all {name}": row for name, row in totals.items()}, "all": overall}))
    write_json(args.out, {"run_dir": str(run_dir), "num_images": len(x_all), "border_px": BORDER_PX,
                          "targets": rows, "datasets": totals, "all": overall})
    return 0


if __name__ == "__main__":
    sys.exit(main())
