"""Serving clients against an in-process PredictionService (gRPC) and REST handler on 127.0.0.1."""

import base64
import io
import json
import shutil
import socket
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

from export import local_server, serving_client
from export.serving_client import GrpcClient, RestClient, ServingError
from stargan_tf.translate import Translator
from tests.test_export_saved_model import shared_export, shared_run, smooth_face


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return shared_run(tmp_path_factory)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return shared_export(tmp_path_factory)


@pytest.fixture(scope="module")
def servers(models_dir):
    model = local_server.LoadedModel(models_dir / "stargan", "stargan")
    grpc_server, grpc_port = local_server.start_grpc(model)
    rest_server, rest_port = local_server.start_rest(model)
    yield f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{rest_port}"
    rest_server.shutdown()
    grpc_server.stop(0)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "face.jpg"
    Image.fromarray(smooth_face(64, 7)).crop((0, 4, 64, 60)).save(path, quality=95)
    return path


def test_grpc_round_trip_equals_python_path(servers, run_dir, photo):
    client = GrpcClient(servers[0], "stargan")
    assert set(client.signatures()) == {"serving_default", "translate", "domains"}
    inputs = client.signatures()["serving_default"].inputs
    assert set(inputs) == {"image_bytes", "labels"}
    png, metadata = serving_client.translate_photo(client, photo, "Blond_Hair,Male=0", "Black_Hair")
    assert metadata["name"] == "stargan" and metadata["image_size"] == 32
    served = np.asarray(Image.open(io.BytesIO(png))).astype(int)
    expected = Translator.from_run_dir(run_dir).translate(photo, "Blond_Hair,Male=0", "Black_Hair").astype(int)
    assert np.abs(served - expected).max() <= 1


def test_grpc_bad_requests_are_invalid_argument(servers):
    client = GrpcClient(servers[0], "stargan")
    good = serving_client.encode_png(smooth_face(32))
    cases = [
        ("serving_default", {"image_bytes": np.array([b"garbage"], object), "labels": np.zeros((1, 5), np.float32)}),
        ("serving_default", {"image_bytes": np.array([good], object), "labels": np.zeros((1, 3), np.float32)}),
        ("serving_default", {"image_bytes": np.array([], object), "labels": np.zeros((0, 5), np.float32)}),
        ("serving_default", {"image_bytes": np.array([good], object)}),
    ]
    for signature, inputs in cases:
        with pytest.raises(ServingError, match="INVALID_ARGUMENT"):
            client.predict(signature, inputs)
    with pytest.raises(ServingError, match="labels must have 5 columns"):
        client.predict(*cases[1])
    with pytest.raises(ServingError, match="NOT_FOUND"):
        GrpcClient(servers[0], "other").metadata()
    with pytest.raises(ServingError, match="NOT_FOUND"):
        GrpcClient(servers[0], "stargan", version=5).metadata()


def test_rest_body_and_reply_parsing():
    body = json.loads(serving_client.rest_body("serving_default", {"image_bytes": [b"\x89PNG"],
                                                                   "labels": np.ones((1, 2), np.float32)}))
    assert body == {"signature_name": "serving_default",
                    "inputs": {"image_bytes": [{"b64": base64.b64encode(b"\x89PNG").decode()}],
                               "labels": [[1.0, 1.0]]}}
    assert serving_client.rest_url("localhost:8501/", "stargan") == "http://localhost:8501/v1/models/stargan:predict"
    assert serving_client.rest_url("http://h:1", "m", 3) == "http://h:1/v1/models/m/versions/3:predict"
    # One output comes back bare, several as an object; "_bytes" outputs are base64.
    bare = json.dumps({"outputs": [{"b64": base64.b64encode(b"abc").decode()}]})
    assert serving_client.rest_outputs(bare, ("image_bytes",)) == {"image_bytes": [b"abc"]}
    named = json.dumps({"outputs": {"a": [1.5], "b_bytes": [{"b64": "eHk="}]}})
    assert serving_client.rest_outputs(named, ("a", "b_bytes")) == {"a": [1.5], "b_bytes": [b"xy"]}
    with pytest.raises(ServingError, match="labels must have 5"):
        serving_client.rest_outputs(json.dumps({"error": "assertion failed: [labels must have 5 columns] [x]"}),
                                    ("image_bytes",))


def test_rest_round_trip_and_errors(servers, run_dir, photo):
    client = RestClient(servers[1], "stargan")
    png, _ = serving_client.translate_photo(client, photo, "Young")
    rest = np.asarray(Image.open(io.BytesIO(png))).astype(int)
    grpc_png, _ = serving_client.translate_photo(GrpcClient(servers[0], "stargan"), photo, "Young")
    assert np.array_equal(rest, np.asarray(Image.open(io.BytesIO(grpc_png))).astype(int))
    with pytest.raises(ServingError, match="HTTP 400: labels must have 5 columns"):
        client.predict("serving_default", {"image_bytes": [png], "labels": [[0.0]]}, ("image_bytes",))
    with pytest.raises(ServingError, match="HTTP 404"):
        RestClient(servers[1], "missing").metadata()


def test_cli_end_to_end_and_errors(servers, photo, tmp_path, capsys):
    for flag, address in (("--server", servers[0]), ("--rest", servers[1])):
        out = tmp_path / f"out{flag}.jpg"
        assert serving_client.main([flag, address, "--model", "stargan", "--input", str(photo),
                                    "--target", "Blond_Hair", "--output", str(out)]) == 0
        assert Image.open(out).size == (32, 32)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    closed = f"127.0.0.1:{free.getsockname()[1]}"
    free.close()
    for argv, code in ((["--server", servers[0], "--target", "Purple_Hair"], 2),
                       (["--server", servers[0], "--target", "Black_Hair,Blond_Hair"], 2),
                       (["--rest", servers[1], "--target", "Male", "--input", str(tmp_path / "no.jpg")], 2),
                       (["--server", closed, "--target", "Male", "--timeout", "2"], 1)):
        capsys.readouterr()
        args = ["--input", str(photo), *argv] if "--input" not in argv else argv
        assert serving_client.main([*args, "--output", str(tmp_path / "x.png")]) == code
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1


@pytest.mark.skipif(shutil.which("tensorflow_model_server") is None,
                    reason="tensorflow_model_server is not on PATH (docker image or Google's apt repository)")
def test_real_tensorflow_model_server(models_dir, photo, tmp_path):
    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    grpc_port, rest_port = free_port(), free_port()
    config = tmp_path / "models.config"
    config.write_text((models_dir / "models.config").read_text().replace("/models/stargan",
                                                                          str(models_dir / "stargan")))
    server = subprocess.Popen(["tensorflow_model_server", f"--port={grpc_port}", f"--rest_api_port={rest_port}",
                               f"--model_config_file={config}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        client = GrpcClient(f"127.0.0.1:{grpc_port}", "stargan")
        deadline = time.time() + 60
        while True:
            try:
                client.metadata()
                break
            except ServingError:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        png, _ = serving_client.translate_photo(client, photo, "Blond_Hair")
        rest_png, _ = serving_client.translate_photo(RestClient(f"http://127.0.0.1:{rest_port}", "stargan"),
                                                     photo, "Blond_Hair")
        assert png == rest_png
        with pytest.raises(ServingError, match="INVALID_ARGUMENT"):
            client.predict("serving_default", {"image_bytes": np.array([b"x"], object),
                                               "labels": np.zeros((1, 5), np.float32)})
    finally:
        server.terminate()
        server.wait(timeout=30)

