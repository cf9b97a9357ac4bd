"""Translating photos: target names, groups, mask vectors, intensity, the API and the CLI's bad inputs."""

import numpy as np
import pytest
from PIL import Image

from stargan_tf.labels import LabelLayout, categorical_labels, celeba_style_labels
from stargan_tf.translate import (
    TargetError,
    Translator,
    build_target,
    interpolation_labels,
    main,
    parse_interpolation,
    parse_values,
    resolve,
)

ATTRS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
EXPRESSIONS = ("angry", "contemptuous", "disgusted", "fearful", "happy", "neutral", "sad", "surprised")
CELEBA = LabelLayout((celeba_style_labels("celeba", ATTRS),))
JOINT = LabelLayout((celeba_style_labels("celeba", ATTRS), categorical_labels("rafd", EXPRESSIONS)))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory with an untrained tiny generator: enough to exercise every code path."""
    import keras

    from stargan_tf.checkpoints import save_generator, write_layout
    from stargan_tf.config import load_config, save_config
    from stargan_tf.models import build_generator

    keras.utils.set_random_seed(0)
    directory = tmp_path_factory.mktemp("run")
    config = load_config(None, ["model.image_size=32", "model.d_repeat_num=4", "model.g_conv_dim=4",
                                "model.g_repeat_num=1"])
    save_config(config, directory / "config.yaml")
    write_layout(CELEBA, directory)
    save_generator(build_generator(CELEBA.label_dim, 32, 4, 1), directory)
    return directory


@pytest.fixture(scope="module")
def translator(run_dir):
    return Translator.from_run_dir(run_dir)


def photo(path, width=48, height=40, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_parse_values():
    assert parse_values("Blond_Hair, Male=0 ,Young=0.5") == {"Blond_Hair": 1.0, "Male": 0.0, "Young": 0.5}
    assert parse_values("") == {}
    with pytest.raises(TargetError, match="must be a number"):
        parse_values("Male=yes")
    with pytest.raises(TargetError, match="named twice"):
        parse_values("Male,Male=0")
    assert parse_interpolation("Black_Hair..Blond_Hair=1.5") == ("Black_Hair", "Blond_Hair=1.5")
    assert parse_interpolation("..Young=0") == ("", "Young=0")
    with pytest.raises(TargetError):
        parse_interpolation("Black_Hair-Blond_Hair")


def test_names_are_checked_against_the_layout():
    assert resolve(CELEBA, "blond_hair,MALE=0") == {"Blond_Hair": 1.0, "Male": 0.0}
    with pytest.raises(TargetError, match="unknown attribute 'Blond'.*valid: Black_Hair, Blond_Hair"):
        resolve(CELEBA, "Blond")
    with pytest.raises(TargetError, match="Black_Hair and Blond_Hair are hair colors"):
        resolve(CELEBA, "Black_Hair,Blond_Hair")
    assert resolve(CELEBA, "Black_Hair=0,Blond_Hair")  # clearing one color while setting another is fine
    with pytest.raises(TargetError, match="different datasets"):
        resolve(JOINT, "Male,happy")
    with pytest.raises(TargetError, match="angry and happy"):
        resolve(JOINT, "angry,happy")


def test_targets_keep_groups_one_hot_and_unnamed_source_values():
    target = build_target(CELEBA, "Blond_Hair", source="Black_Hair,Young")
    assert target.tolist() == [0, 1, 0, 0, 1]
    assert build_target(CELEBA, "Male=0", source="Brown_Hair,Male").tolist() == [0, 0, 1, 0, 0]
    assert build_target(CELEBA, {"Blond_Hair": 1, "Male": 0}).tolist() == [0, 1, 0, 0, 0]
    assert build_target(CELEBA, "Blond_Hair=0.5,Young=1.5").tolist() == [0, 0.5, 0, 0, 1.5]


def test_mask_vector_follows_the_target_dataset():
    celeba_face = build_target(JOINT, "Male", source="Black_Hair,Young")
    assert celeba_face[:5].tolist() == [1, 0, 0, 1, 1] and celeba_face[5:13].sum() == 0
    assert celeba_face[13:].tolist() == [1, 0]
    happy = build_target(JOINT, "happy", source="Black_Hair,Young")
    assert happy[:5].sum() == 0 and happy[5:13].tolist() == [0, 0, 0, 0, 1, 0, 0, 0]
    assert happy[13:].tolist() == [0, 1]
    assert build_target(JOINT, "")[13:].tolist() == [1, 0]
    assert build_target(JOINT, "", source="sad")[13:].tolist() == [0, 1]


def test_interpolation_labels():
    labels = interpolation_labels(CELEBA, "Black_Hair", "Blond_Hair", 5)
    assert labels.shape == (5, 5)
    np.testing.assert_allclose(labels[:, :2], [[1, 0], [0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0, 1]])
    with pytest.raises(TargetError, match="at least 2"):
        interpolation_labels(CELEBA, "Male", "Young", 1)
    with pytest.raises(TargetError, match="same dataset"):
        interpolation_labels(JOINT, "Male", "happy", 3)


def test_translator_api(translator, tmp_path):
    path = photo(tmp_path / "face.jpg", 48, 40)
    out = translator.translate(path, {"Blond_Hair": 1, "Male": 0})
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    array = np.asarray(Image.open(path))
    assert np.array_equal(translator.translate(array, "Blond_Hair,Male=0"), out)
    half = translator.translate(array, "Blond_Hair=0.5,Male=0")
    assert not np.array_equal(half, out)  # intensity reaches the generator
    pasted = translator.translate(array, "Blond_Hair", paste_back=True)
    assert pasted.shape == (40, 48, 3)
    assert np.array_equal(pasted[:, :4], array[:, :4])  # outside the center square: untouched
    columns = translator.domain_columns(array, source="Black_Hair")
    assert [t for t, _ in columns] == ["input", *ATTRS]
    face, frames = translator.interpolate(array, "Black_Hair", "Blond_Hair", 3)
    assert face.shape == (32, 32, 3) and frames.shape == (3, 32, 32, 3)
    with pytest.raises(TargetError):
        translator.translate(array, "Purple_Hair")


def run_cli(run_dir, *args):
    return main(["--run-dir", str(run_dir), *map(str, args)])


def test_cli_outputs(run_dir, tmp_path, capsys):
    face = photo(tmp_path / "face.png", 64, 48)
    assert run_cli(run_dir, "--input", face, "--target", "Blond_Hair,Male=0", "--output", tmp_path / "o.png") == 0
    assert Image.open(tmp_path / "o.png").size == (32, 32)
    assert run_cli(run_dir, "--input", face, "--target", "Young", "--box", "8,8,32,32", "--paste-back",
                   "--output", tmp_path / "p.jpg") == 0
    assert Image.open(tmp_path / "p.jpg").size == (64, 48)
    assert run_cli(run_dir, "--input", face, face, "--grid", "--output", tmp_path / "g.png") == 0
    assert Image.open(tmp_path / "g.png").size == (6 * 32, 14 + 2 * 32)
    assert run_cli(run_dir, "--input", face, "--target", "Male", "--target", "Young=0.5",
                   "--output", tmp_path / "t.png") == 0
    assert Image.open(tmp_path / "t.png").size == (3 * 32, 14 + 32)
    assert run_cli(run_dir, "--input", face, "--interpolate", "Black_Hair..Blond_Hair", "--frames", 4,
                   "--output", tmp_path / "m.gif") == 0
    assert Image.open(tmp_path / "m.gif").n_frames == 4
    assert run_cli(run_dir, "--input", face, "--interpolate", "..Male", "--frames", 3,
                   "--output", tmp_path / "s.png") == 0
    assert Image.open(tmp_path / "s.png").size == (4 * 32, 14 + 32)
    capsys.readouterr()


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_cli_bad_inputs(run_dir, tmp_path, capsys):
    face = photo(tmp_path / "face.png")
    out = tmp_path / "o.png"
    assert run_cli(run_dir, "--input", face, "--target", "Blond", "--output", out) == 2
    one_line_error(capsys, "unknown attribute 'Blond'", "Black_Hair, Blond_Hair, Brown_Hair, Male, Young")
    assert run_cli(run_dir, "--input", face, "--target", "Black_Hair,Brown_Hair", "--output", out) == 2
    one_line_error(capsys, "hair colors")
    (tmp_path / "bad.jpg").write_bytes(b"garbage")
    assert run_cli(run_dir, "--input", tmp_path / "bad.jpg", "--target", "Male", "--output", out) == 2
    one_line_error(capsys, "not a readable image")
    photo(tmp_path / "small.png", 15, 40)
    assert run_cli(run_dir, "--input", tmp_path / "small.png", "--target", "Male", "--output", out) == 2
    one_line_error(capsys, "at least 16 px")
    assert run_cli(run_dir, "--input", face, "--target", "Male", "--max-pixels", 1000, "--output", out) == 2
    one_line_error(capsys, "over the limit of 1,000")
    assert run_cli(tmp_path / "nowhere", "--input", face, "--target", "Male", "--output", out) == 2
    one_line_error(capsys, "no generator.keras")
    assert run_cli(run_dir, "--input", face, "--grid", "--paste-back", "--output", out) == 2
    one_line_error(capsys, "--paste-back")
    assert run_cli(run_dir, "--input", face, "--target", "Male", "--output", tmp_path / "o.xyz") == 2
    one_line_error(capsys, "--output must end in")
    assert run_cli(run_dir, "--input", face, "--target", "Male", "--box", "40,0,20,20", "--output", out) == 2
    one_line_error(capsys, "outside")


def test_cli_batch_reports_bad_files_and_processes_the_rest(run_dir, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    photo(folder / "a.jpg")
    photo(folder / "b.png", seed=1)
    (folder / "c.jpg").write_bytes(b"garbage")
    photo(folder / "d.bmp", 10, 10)
    assert run_cli(run_dir, "--input", folder, "--target", "Blond_Hair", "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "c.jpg" in err[0] and "d.bmp" in err[1] and "2 of 4" in err[2]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    assert run_cli(run_dir, "--input", folder, "--grid", "--output", tmp_path / "grid.png") == 2
    assert Image.open(tmp_path / "grid.png").size == (6 * 32, 14 + 2 * 32)  # the two good rows
