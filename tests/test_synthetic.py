"""Tests for the procedural face renderer and its dataset writer (no TensorFlow)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stargan_tf.data.synthetic import (
    EXPRESSIONS,
    HAIR_COLORS,
    FaceAttributes,
    identity_from_id,
    random_attributes,
    render_batch,
    render_face,
)
from stargan_tf.data.synthetic_writer import CELEBA_ATTRIBUTES, main

REPO = Path(__file__).resolve().parents[1]


def _centered(identity_id: int = 3):
    # No position jitter, so fixed image regions can be asserted on.
    return dataclasses.replace(identity_from_id(identity_id), dx=0.0, dy=0.0)


def _changed(a: np.ndarray, b: np.ndarray, tol: int = 12) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=-1) > tol


def test_constants() -> None:
    assert HAIR_COLORS == ("black", "blond", "brown")
    assert EXPRESSIONS == tuple(sorted(EXPRESSIONS)) and len(EXPRESSIONS) == 8


def test_determinism() -> None:
    att = FaceAttributes(hair="blond", male=True, young=False, expression="happy")
    a = render_face(identity_from_id(5, seed=1), att)
    b = render_face(identity_from_id(5, seed=1), att)
    assert a.tobytes() == b.tobytes()
    assert identity_from_id(5, seed=1) == identity_from_id(5, seed=1)
    assert not np.array_equal(a, render_face(identity_from_id(5, seed=2), att))
    assert not np.array_equal(a, render_face(identity_from_id(6, seed=1), att))
    r1, r2 = np.random.default_rng(0), np.random.default_rng(0)
    assert [random_attributes(r1) for _ in range(5)] == [random_attributes(r2) for _ in range(5)]


@pytest.mark.parametrize("size", [16, 32, 64, 256])
def test_shape_and_dtype(size: int) -> None:
    img = render_face(identity_from_id(0), FaceAttributes(), size)
    assert img.shape == (size, size, 3) and img.dtype == np.uint8


def test_render_batch_matches_render_face() -> None:
    atts = [FaceAttributes(hair="brown"), FaceAttributes(expression="sad", male=True)]
    batch = render_batch([2, 7], atts, size=32, seed=4)
    assert batch.shape == (2, 32, 32, 3) and batch.dtype == np.uint8
    assert np.array_equal(batch[1], render_face(identity_from_id(7, 4), atts[1], 32))
    with pytest.raises(ValueError):
        render_batch([1, 2], atts[:1])


def test_identities_vary() -> None:
    imgs = render_batch(list(range(8)), [FaceAttributes()] * 8, size=32)
    flat = imgs.reshape(8, -1).astype(np.int16)
    assert all(np.abs(flat[i] - flat[j]).mean() > 5 for i in range(8) for j in range(i + 1, 8))


def test_hair_color_changes_hair_only() -> None:
    idn = _centered()
    base = render_face(idn, FaceAttributes(hair="black"))
    for hair in ("blond", "brown"):
        diff = _changed(base, render_face(idn, FaceAttributes(hair=hair)))
        assert diff.mean() > 0.15  # the hair region is large
        # Eyes, nose and mouth are untouched (female: no hair-tinted stubble).
        assert diff[26:42, 22:42].mean() < 0.03
        assert not diff[:, :4].any() and not diff[:, -4:].any()  # background edges


def test_hair_colors_distinct() -> None:
    idn = _centered()
    imgs = [render_face(idn, FaceAttributes(hair=h)).astype(int) for h in HAIR_COLORS]
    hair_px = (slice(50, 62), slice(15, 20))  # long hair beside the neck
    means = [img[hair_px].reshape(-1, 3).mean(0) for img in imgs]
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(means[i] - means[j]).sum() > 80


def test_gender_and_age_change_image() -> None:
    idn = _centered()
    base = render_face(idn, FaceAttributes())
    male = _changed(base, render_face(idn, FaceAttributes(male=True)))
    assert male.mean() > 0.1
    aged = _changed(base, render_face(idn, FaceAttributes(young=False)))
    assert aged.mean() > 0.15
    assert not aged[:, :4].any()  # background stays


@pytest.mark.parametrize("expression", [e for e in EXPRESSIONS if e != "neutral"])
def test_expression_changes_face_interior_only(expression: str) -> None:
    idn = _centered()
    for male in (False, True):
        base = render_face(idn, FaceAttributes(male=male))
        diff = _changed(base, render_face(idn, FaceAttributes(male=male, expression=expression)))
        assert diff.sum() >= 8, "expression must be visible at 64x64"
        assert diff.mean() < 0.08
        rows, cols = np.nonzero(diff)
        assert rows.min() >= 14 and rows.max() <= 52
        assert cols.min() >= 14 and cols.max() <= 50


def test_expressions_pairwise_distinct() -> None:
    idn = _centered(1)
    imgs = [render_face(idn, FaceAttributes(expression=e)) for e in EXPRESSIONS]
    for i in range(len(imgs)):
        for j in range(i + 1, len(imgs)):
            assert _changed(imgs[i], imgs[j]).sum() >= 6, (EXPRESSIONS[i], EXPRESSIONS[j])


def test_invalid_attributes() -> None:
    with pytest.raises(ValueError, match="blond"):
        FaceAttributes(hair="red")
    with pytest.raises(ValueError, match="surprised"):
        FaceAttributes(expression="bored")


def test_cli_celeba(tmp_path: Path) -> None:
    out = tmp_path / "celeba"
    assert main(["--format", "celeba", "--out", str(out), "--num", "10", "--seed", "3"]) == 0
    images = sorted((out / "img_align_celeba").glob("*.jpg"))
    assert [p.name for p in images] == [f"{i:06d}.jpg" for i in range(1, 11)]
    assert Image.open(images[0]).size == (178, 218)
    lines = (out / "list_attr_celeba.txt").read_text().splitlines()
    assert lines[0] == "10"
    assert lines[1].split() == list(CELEBA_ATTRIBUTES) and len(CELEBA_ATTRIBUTES) == 40
    assert len(lines) == 12
    for line in lines[2:]:
        fields = line.split()
        assert len(fields) == 41 and set(fields[1:]) <= {"1", "-1"}
        values = dict(zip(CELEBA_ATTRIBUTES, map(int, fields[1:]), strict=True))
        assert values["Black_Hair"] + values["Blond_Hair"] + values["Brown_Hair"] == -1
        assert values["Male"] == -values["No_Beard"]
    assert "  1" in "".join(lines[2:])  # real CelebA spacing
    parts = (out / "list_eval_partition.txt").read_text().split()
    assert len(parts) == 20 and set(parts[1::2]) <= {"0", "1", "2"}
    ids = (out / "identities.txt").read_text().splitlines()
    assert ids[0] == "000001.jpg 0" and ids[4] == "000005.jpg 1"


@pytest.mark.parametrize("layout", ["flat", "folders"])
def test_cli_rafd(tmp_path: Path, layout: str) -> None:
    out = tmp_path / "rafd"
    args = [
        "--format",
        "rafd",
        "--out",
        str(out),
        "--num",
        "16",
        "--size",
        "64",
        "--layout",
        layout,
    ]
    assert main(args) == 0
    files = sorted(out.rglob("*.jpg"))
    assert len(files) == 16
    for path in files:
        fields = path.name.split("_")
        assert fields[0] == "Rafd090" and fields[2] == "Caucasian"
        assert fields[3] in ("female", "male") and fields[4] in EXPRESSIONS
        if layout == "folders":
            assert path.parent.name == fields[4]
    assert {p.name.split("_")[4] for p in files} == set(EXPRESSIONS)
    assert Image.open(files[0]).size == (64, 64)


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "imagenet", "--num", "2"],
        ["--format", "celeba", "--num", "0"],
        ["--format", "celeba", "--num", "x"],
        ["--format", "celeba", "--num", "2", "--layout", "folders"],
        ["--format", "rafd", "--num", "2", "--size", "abc"],
    ],
)
def test_cli_bad_args(tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_cli_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["--format", "rafd", "--out", str(blocker / "sub"), "--num", "1"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_module_entry_point(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "stargan_tf.data.synthetic",
            "--format",
            "bogus",
            "--out",
            str(tmp_path),
            "--num",
            "1",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
