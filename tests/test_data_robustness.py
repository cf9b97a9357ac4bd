"""Broken and unusual image files: skipped and named once, strict mode, color conversions, CLI errors."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from stargan_tf.config import load_config
from stargan_tf.data import sources
from stargan_tf.data.images import check_image, crop_box, pil_decode
from stargan_tf.data.pipeline import DataError
from tests.conftest import ROOT

TINY = ROOT / "configs" / "tiny.yaml"


def write_domains(root, n=6):
    rng = np.random.default_rng(0)
    for domain in ("a", "b"):
        (root / domain).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(root / domain / f"{i}.jpg")


def break_some(root):
    (root / "a" / "empty.jpg").write_bytes(b"")
    (root / "a" / "notes.jpg").write_text("not an image")
    whole = (root / "a" / "0.jpg").read_bytes()
    (root / "b" / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    png = root / "b" / "cut.png"
    Image.new("RGB", (30, 30)).save(png)
    png.write_bytes(png.read_bytes()[:-20])


def test_broken_files_are_skipped_counted_and_named_once(tmp_path, capsys):
    write_domains(tmp_path)
    break_some(tmp_path)
    c = load_config(TINY, ["data.dataset=folder", f"data.folder.dir={tmp_path}"])
    source = sources.load_source(c)
    err = capsys.readouterr().err
    assert "skipped 4 of 16 files" in err and err.count("warning:") == 1
    for name in ("empty.jpg (empty file)", "notes.jpg (not an image)", "truncated.jpg (truncated JPEG)",
                 "cut.png (truncated PNG)"):
        assert name in err
    images = list(source.examples.as_numpy_iterator())  # every kept file decodes
    assert len(images) == source.num_examples == 12 - 1


def test_strict_mode_fails_fast_naming_the_file(tmp_path):
    write_domains(tmp_path)
    (tmp_path / "b" / "empty.jpg").write_bytes(b"")
    c = load_config(TINY, ["data.dataset=folder", f"data.folder.dir={tmp_path}", "data.strict=true"])
    with pytest.raises(DataError, match=r"empty\.jpg: empty file \(data.strict is on\)"):
        sources.load_source(c)


def test_all_files_broken_is_an_error(tmp_path):
    for domain in ("a", "b"):
        (tmp_path / domain).mkdir()
        (tmp_path / domain / "x.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="none of the 2 image files could be read"):
        sources.load_source(load_config(TINY, ["data.dataset=folder", f"data.folder.dir={tmp_path}"]))


def test_gray_rgba_palette_cmyk_16bit_and_tiff_become_rgb(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    variants = {
        "gray.jpg": image.convert("L"), "rgba.png": image.convert("RGBA"), "pal.png": image.convert("P"),
        "cmyk.jpg": image.convert("CMYK"), "la.png": image.convert("LA"), "x.tiff": image,
        "x.bmp": image, "x.webp": image,
        "g16.png": Image.fromarray(np.asarray(image.convert("L"), np.uint16) * 257),
    }
    for name, variant in variants.items():
        options = {".jpg": {"quality": 100}, ".webp": {"lossless": True}}.get(name[name.rindex("."):], {})
        variant.save(tmp_path / name, **options)
    from stargan_tf.data.images import decode_examples

    paths = [str(tmp_path / n) for n in variants]
    checked = [check_image(p) for p in paths]
    assert all(not isinstance(c, str) for c in checked), checked
    assert [c[2] for c in checked] == [False, False, False, True, False, True, False, False, True]
    decoded = list(decode_examples(paths, np.zeros((len(paths), 1)), [[0, 0, 24, 20]] * len(paths),
                                   [c[2] for c in checked], 16).as_numpy_iterator())
    reference = np.asarray(image.resize((16, 16), Image.BILINEAR), np.float32)
    gray = np.asarray(image.convert("L").convert("RGB").resize((16, 16), Image.BILINEAR), np.float32)
    for name, (pixels, _) in zip(variants, decoded, strict=True):
        assert pixels.shape == (16, 16, 3) and pixels.dtype == np.uint8
        target = gray if name.startswith(("gray", "la", "g16")) else reference
        assert np.abs(pixels - target).mean() < 12, name  # jpeg is lossy, resizers differ slightly


def test_16_bit_gray_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.full((4, 4), 32768, np.uint16)).save(tmp_path / "g16.png")
    assert int(pil_decode(str(tmp_path / "g16.png"))[0, 0, 0]) == 128


def test_crop_box_centers_and_clips():
    assert crop_box(178, 218, 178, None) == [20, 0, 178, 178]
    assert crop_box(40, 60, 100, None) == [10, 0, 40, 40]  # larger than the image: largest square
    assert crop_box(100, 100, 0, (90, 90, 20, 10)) == [80, 80, 20, 20]  # face box widened and kept inside


def run_cli(*args):
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--config", str(TINY), *args],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    return result.returncode, [line for line in result.stderr.splitlines() if line.startswith("error")]


def test_cli_bad_data_arguments_exit_2_with_one_line(tmp_path):
    code, errors = run_cli("--dataset", "celeba", "--celeba-dir", str(tmp_path / "missing"),
                           "--run-dir", str(tmp_path / "run"))
    assert code == 2 and errors == [f"error: CelebA directory not found: {tmp_path / 'missing'}"]
    code, errors = run_cli("--dataset", "both", "--datasets", "celeba,celeba", "--run-dir", str(tmp_path / "r"))
    assert code == 2 and len(errors) == 1 and "two different datasets" in errors[0]
