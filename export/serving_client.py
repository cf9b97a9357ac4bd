"""Translate a photo with a model served by TF Serving, naming the target domains.

    python -m export.serving_client --server localhost:8500 --model stargan --input face.jpg \\
        --target "Blond_Hair" --output out.png                                    # gRPC
    python -m export.serving_client --rest http://localhost:8501 --model stargan --input face.jpg \\
        --target "Blond_Hair,Male=0" --output out.png                             # REST

The client asks the model's `domains` signature for its label layout and image size,
builds the label vector by name (as `python -m stargan_tf.translate` does), crops the
upright photo to the model's square, and sends it as PNG to `serving_default`.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import stargan_tf  # noqa: F401  (quiets TensorFlow's start-up logs before it is imported)
from stargan_tf.labels import LabelLayout
from stargan_tf.photo_io import PhotoError, crop_and_resize, load_photo
from stargan_tf.translate import IMAGE_SUFFIXES, TargetError, build_target

REQUIRED_SIGNATURES = ("serving_default", "domains")


class ServingError(RuntimeError):
    """The server refused or failed a request (one line for the user)."""


def short_error(message: str) -> str:
    """The useful line of a TensorFlow error: the assertion's text or the op's message."""
    match = re.search(r"assertion failed: \[(.*?)\]", message)
    if match:
        return match.group(1)
    skip = ("Graph execution error", "Detected at node", "<stack traces", "[[")
    lines = [line.strip() for line in message.splitlines() if line.strip() and not line.strip().startswith(skip)]
    return lines[0] if lines else message.strip()


def encode_png(face: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(face, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


# -- gRPC ------------------------------------------------------------------------------

class GrpcClient:
    def __init__(self, server: str, model: str, version: int | None = None, timeout: float = 30.0) -> None:
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.model, self.version, self.timeout = model, version, timeout
        self.channel = grpc.insecure_channel(server, options=[("grpc.max_receive_message_length", 64 << 20)])
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    def _spec(self, spec: Any, signature: str = "") -> None:
        spec.name = self.model
        if signature:
            spec.signature_name = signature
        if self.version is not None:
            spec.version.value = self.version

    def _call(self, method: Any, request: Any) -> Any:
        import grpc

        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as err:
            raise ServingError(f"{err.code().name}: {short_error(err.details() or '')}") from None

    def signatures(self) -> dict[str, Any]:
        """GetModelMetadata's SignatureDefs by name."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec)
        response = self._call(self.stub.GetModelMetadata, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return dict(signature_map.signature_def)

    def predict(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, signature)
        for key, value in inputs.items():
            dtype = tf.string if value.dtype == object else tf.float32
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
        response = self._call(self.stub.Predict, request)
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def metadata(self) -> dict[str, Any]:
        missing = [s for s in REQUIRED_SIGNATURES if s not in self.signatures()]
        if missing:
            raise ServingError(f"model {self.model!r} has no {', '.join(missing)} signature; "
                               "export it with python -m export.saved_model")
        values = self.predict("domains", {"keys": np.array([b"metadata"], object)})["values"]
        return json.loads(values[0])

    def translate(self, png: bytes, labels: np.ndarray) -> bytes:
        outputs = self.predict("serving_default", {"image_bytes": np.array([png], object),
                                                   "labels": np.asarray(labels, np.float32)[None]})
        return bytes(outputs["image_bytes"][0])


# -- REST ------------------------------------------------------------------------------

def rest_url(base: str, model: str, version: int | None = None) -> str:
    """`/v1/models/<name>[/versions/<n>]:predict` under `base` (e.g. http://localhost:8501)."""
    base = base.rstrip("/")
    if "://" not in base:
        base = "http://" + base
    return f"{base}/v1/models/{model}" + (f"/versions/{version}" if version is not None else "") + ":predict"


def rest_body(signature: str, inputs: dict[str, Any]) -> bytes:
    """A columnar ("inputs") request; bytes values become {"b64": ...} as TF Serving expects."""
    def convert(value: Any) -> Any:
        if isinstance(value, (bytes, bytearray)):
            return {"b64": base64.b64encode(value).decode("ascii")}
        if isinstance(value, np.ndarray):
            return convert(value.tolist())
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        return value

    return json.dumps({"signature_name": signature, "inputs": {k: convert(v) for k, v in inputs.items()}}).encode()


def rest_outputs(body: bytes | str, names: tuple[str, ...]) -> dict[str, Any]:
    """The outputs of a predict reply by name ({"b64": ...} decoded); a bare value is the single output."""
    def convert(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"b64"}:
            return base64.b64decode(value["b64"])
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    reply = json.loads(body)
    if "error" in reply:
        raise ServingError(short_error(str(reply["error"])))
    outputs = reply.get("outputs")
    if outputs is None:
        raise ServingError("the reply has no 'outputs'")
    if len(names) == 1 and not (isinstance(outputs, dict) and set(outputs) == set(names)):
        outputs = {names[0]: outputs}
    return {k: convert(v) for k, v in outputs.items()}


class RestClient:
    def __init__(self, base: str, model: str, version: int | None = None, timeout: float = 30.0) -> None:
        self.url, self.timeout = rest_url(base, model, version), timeout

    def predict(self, signature: str, inputs: dict[str, Any], outputs: tuple[str, ...]) -> dict[str, Any]:
        request = urllib.request.Request(self.url, data=rest_body(signature, inputs),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as err:
            body = err.read()
            try:
                return rest_outputs(body, outputs)
            except (ValueError, ServingError) as inner:
                raise ServingError(f"HTTP {err.code}: {inner}") from None
        except (urllib.error.URLError, OSError) as err:
            raise ServingError(f"cannot reach {self.url}: {getattr(err, 'reason', err)}") from None
        try:
            return rest_outputs(body, outputs)
        except ValueError as err:
            raise ServingError(f"unreadable reply: {err}") from None

    def metadata(self) -> dict[str, Any]:
        values = self.predict("domains", {"keys": ["metadata"]}, ("values",))["values"]
        return json.loads(values[0])

    def translate(self, png: bytes, labels: np.ndarray) -> bytes:
        outputs = self.predict("serving_default", {"image_bytes": [png], "labels": np.asarray(labels)[None]},
                               ("image_bytes",))
        return outputs["image_bytes"][0]


# -- command line ----------------------------------------------------------------------

def translate_photo(client: GrpcClient | RestClient, photo: str | Path, target: str,
                    source: str | None = None) -> tuple[bytes, dict[str, Any]]:
    """(PNG bytes of the translated face, model metadata) for one photo."""
    metadata = client.metadata()
    layout = LabelLayout.from_dict(metadata["layout"])
    labels = build_target(layout, target, source)
    face, _ = crop_and_resize(load_photo(photo), int(metadata["image_size"]))
    return client.translate(encode_png(face), labels), metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.serving_client",
                                     description="Translate a photo with a StarGAN model on TF Serving.")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--server", help="gRPC address, e.g. localhost:8500")
    where.add_argument("--rest", help="REST base URL, e.g. http://localhost:8501")
    parser.add_argument("--model", default="stargan", help="model name on the server (default stargan)")
    parser.add_argument("--version", type=int, help="model version (default: the server's latest)")
    parser.add_argument("--input", required=True, help="photo (JPEG, PNG, WebP, BMP, TIFF)")
    parser.add_argument("--target", required=True, help="e.g. 'Blond_Hair' or 'Blond_Hair,Male=0'")
    parser.add_argument("--source", help="the photo's own attributes, kept where --target names nothing")
    parser.add_argument("--output", required=True, help="output image (.png, .jpg, .webp, .bmp)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    args = parser.parse_args(argv)
    output = Path(args.output)
    try:
        if output.suffix.lower() not in IMAGE_SUFFIXES:
            raise TargetError(f"--output must end in one of {', '.join(IMAGE_SUFFIXES)}")
        client = GrpcClient(args.server, args.model, args.version, args.timeout) if args.server else \
            RestClient(args.rest, args.model, args.version, args.timeout)
        png, metadata = translate_photo(client, args.input, args.target, args.source)
        image = Image.open(io.BytesIO(png))
        image.load()
        if output.suffix.lower() == ".png":
            output.write_bytes(png)
        else:
            image.convert("RGB").save(output)
    except (TargetError, PhotoError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ServingError as err:
        print(f"error: server: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: cannot write {output}: {err}", file=sys.stderr)
        return 2
    print(f"wrote {output} ({metadata['name']} version {metadata['model_version']}, {image.width}x{image.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
