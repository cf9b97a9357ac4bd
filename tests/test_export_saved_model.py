"""SavedModel export for TF Serving: layout, config, warmup, signature parity, malformed requests."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from export import saved_model
from stargan_tf.translate import Translator, build_target
from tests.conftest import ROOT


def shared_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run trained for 2 steps, shared by the export test modules of one session."""
    from stargan_tf.config import load_config
    from stargan_tf.run import train

    run_dir = tmp_path_factory.getbasetemp() / "export-run"
    if not (run_dir / "generator.keras").exists():
        config = load_config(ROOT / "configs" / "tiny.yaml")
        config.train.num_steps = 2
        train(config, run_dir, log=lambda *_: None, verbose=0)
    return run_dir


def shared_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models/ with version 1 of the shared run (exported once per session)."""
    models = tmp_path_factory.getbasetemp() / "export-models"
    if not (models / "stargan" / "1" / "saved_model.pb").exists():
        saved_model.export_saved_model(shared_run(tmp_path_factory), models)
    return models


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    return shared_run(tmp_path_factory)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    return shared_export(tmp_path_factory)


@pytest.fixture(scope="module")
def loaded(models_dir):
    return tf.saved_model.load(str(models_dir / "stargan" / "1"))


@pytest.fixture(scope="module")
def translator(run_dir):
    return Translator.from_run_dir(run_dir)


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def smooth_face(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC))


def test_layout_config_versions_and_warmup(run_dir, models_dir, loaded, tmp_path):
    from google.protobuf import text_format
    from tensorflow_serving.apis import prediction_log_pb2
    from tensorflow_serving.config import model_server_config_pb2

    version = models_dir / "stargan" / "1"
    assert (version / "saved_model.pb").is_file() and (version / "variables").is_dir()
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse((models_dir / "models.config").read_text(), config)
    (entry,) = config.model_config_list.config
    assert (entry.name, entry.base_path, entry.model_platform) == ("stargan", "/models/stargan", "tensorflow")

    # Warmup: one PredictionLog per signature, each of which the model answers.
    records = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in
               tf.data.TFRecordDataset(str(version / "assets.extra" / saved_model.WARMUP_FILE))]
    requests = {r.predict_log.request.model_spec.signature_name: r.predict_log.request for r in records}
    assert set(requests) == set(saved_model.SIGNATURES) == set(loaded.signatures)
    for name, request in requests.items():
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        assert loaded.signatures[name](**inputs)

    # Versions count up; another model joins models.config without replacing the first.
    out = tmp_path / "models"
    assert saved_model.export_saved_model(run_dir, out).name == "1"
    assert saved_model.export_saved_model(run_dir, out).name == "2"
    saved_model.export_saved_model(run_dir, out, name="other", serving_root="/srv")
    text_format.Parse((out / "models.config").read_text(), config := model_server_config_pb2.ModelServerConfig())
    assert [(c.name, c.base_path) for c in config.model_config_list.config] == [
        ("stargan", "/models/stargan"), ("other", "/srv/other")]
    assert not [p for p in (out / "stargan").iterdir() if p.name.startswith(".")]


def test_translate_signature_matches_keras(loaded, translator):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
    labels = rng.uniform(0, 1, (3, translator.layout.label_dim)).astype(np.float32)
    exported = loaded.signatures["translate"](images=tf.constant(images), labels=tf.constant(labels))["images"]
    expected = np.asarray(translator.generator((images, labels), training=False))
    np.testing.assert_allclose(exported.numpy(), expected, atol=1e-5)


def test_serving_default_matches_python_path(loaded, translator):
    faces = [smooth_face(32, 1), smooth_face(32, 2)]
    targets = ["Blond_Hair", "Male=0,Young"]
    labels = np.stack([build_target(translator.layout, t) for t in targets])
    out = loaded.signatures["serving_default"](image_bytes=tf.constant([png_bytes(f) for f in faces]),
                                               labels=tf.constant(labels))["image_bytes"].numpy()
    for data, face, target in zip(out, faces, targets, strict=True):
        served = np.asarray(Image.open(io.BytesIO(data))).astype(int)
        expected = translator.translate(face, target).astype(int)
        assert np.abs(served - expected).max() <= 1

    # Larger photos are center-cropped and resized in the graph (JPEG decoders and Lanczos
    # implementations differ slightly from Pillow's, hence the looser bound).
    photo = np.asarray(Image.fromarray(smooth_face(96, 3)).crop((0, 8, 96, 88)))
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=95)
    out = loaded.signatures["serving_default"](image_bytes=tf.constant([buffer.getvalue()]),
                                               labels=tf.constant(labels[:1]))["image_bytes"].numpy()
    served = np.asarray(Image.open(io.BytesIO(out[0])))
    assert served.shape == (32, 32, 3)
    expected = translator.translate(Image.open(io.BytesIO(buffer.getvalue())), targets[0])
    assert np.abs(served.astype(int) - expected).mean() < 6


def test_domains_signature_returns_the_metadata(loaded, translator):
    values = loaded.signatures["domains"](keys=tf.constant(["metadata", "layout", "image_size"]))["values"].numpy()
    metadata = json.loads(values[0])
    assert metadata["layout"] == translator.layout.to_dict() == json.loads(values[1])
    assert metadata["image_size"] == 32 == int(values[2]) and metadata["model_version"] == 1
    assert metadata["training_step"] == 2 and metadata["label_dim"] == translator.layout.label_dim


@pytest.mark.parametrize("case", ["undecodable", "label_width", "empty", "row_mismatch", "tiny_image",
                                  "image_size", "unknown_key", "nan_label"])
def test_malformed_requests_fail_with_invalid_argument(loaded, case):
    good = png_bytes(smooth_face(32))
    labels = np.zeros((1, 5), np.float32)
    calls = {
        "undecodable": ("serving_default", dict(image_bytes=[b"not an image"], labels=labels)),
        "label_width": ("serving_default", dict(image_bytes=[good], labels=np.zeros((1, 4), np.float32))),
        "empty": ("serving_default", dict(image_bytes=tf.zeros([0], tf.string), labels=np.zeros((0, 5), np.float32))),
        "row_mismatch": ("serving_default", dict(image_bytes=[good, good], labels=labels)),
        "tiny_image": ("serving_default", dict(image_bytes=[png_bytes(smooth_face(8))], labels=labels)),
        "image_size": ("translate", dict(images=np.zeros((1, 16, 16, 3), np.float32), labels=labels)),
        "unknown_key": ("domains", dict(keys=["colors"])),
        "nan_label": ("translate", dict(images=np.zeros((1, 32, 32, 3), np.float32), labels=labels * np.nan)),
    }
    signature, inputs = calls[case]
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})


def test_cli_writes_and_reports_errors_in_one_line(run_dir, tmp_path, capsys):
    assert saved_model.main(["--run-dir", str(run_dir), "--out", str(tmp_path / "m"), "--version", "7"]) == 0
    assert (tmp_path / "m" / "stargan" / "7" / "saved_model.pb").is_file()
    for argv in (["--run-dir", str(tmp_path / "missing"), "--out", str(tmp_path / "m")],
                 ["--run-dir", str(run_dir), "--out", str(tmp_path / "m"), "--version", "7"],
                 ["--run-dir", str(run_dir), "--out", str(tmp_path / "m"), "--name", "a/b"]):
        capsys.readouterr()
        assert saved_model.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1
