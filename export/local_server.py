"""A small in-process stand-in for TF Serving: gRPC PredictionService and the REST predict route.

    python -m export.local_server --models models/ --name stargan --grpc-port 8500 --rest-port 8501

It loads the newest version under models/<name>/ and runs its signatures with the
same request and response protos as `tensorflow_model_server` (Predict and
GetModelMetadata over gRPC; `POST /v1/models/<name>:predict` with the columnar
"inputs" format over REST). Bad requests get INVALID_ARGUMENT (HTTP 400) with the
graph's message. It binds 127.0.0.1 only; it is meant for tests and local trials,
not production.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

import stargan_tf  # noqa: F401  (quiets TensorFlow's start-up logs before it is imported)


class RequestError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # a grpc.StatusCode name


class LoadedModel:
    """One exported version: its signatures as callables and its SignatureDefs as protos."""

    def __init__(self, base: str | Path, name: str) -> None:
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2

        base = Path(base)
        versions = sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()) \
            if base.is_dir() else []
        if not versions:
            raise FileNotFoundError(f"{base}: no numbered model versions")
        self.name, self.version = name, versions[-1]
        directory = base / str(self.version)
        self.module = tf.saved_model.load(str(directory))
        saved = saved_model_pb2.SavedModel()
        saved.ParseFromString((directory / "saved_model.pb").read_bytes())
        self.signature_defs = {k: v for k, v in saved.meta_graphs[0].signature_def.items()
                               if not k.startswith("__")}

    def check_spec(self, spec: Any) -> str:
        if spec.name != self.name:
            raise RequestError("NOT_FOUND", f"Servable not found for request: Latest({spec.name})")
        if spec.HasField("version") and spec.version.value != self.version:
            raise RequestError("NOT_FOUND", f"Servable not found for request: Specific({spec.name}, "
                                            f"{spec.version.value})")
        signature = spec.signature_name or "serving_default"
        if signature not in self.signature_defs:
            raise RequestError("FAILED_PRECONDITION", f'Serving signature key "{signature}" not found.')
        return signature

    def run(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs a signature on numpy inputs; RequestError(INVALID_ARGUMENT) for bad requests."""
        import tensorflow as tf

        expected = self.signature_defs[signature].inputs
        if set(inputs) != set(expected):
            raise RequestError("INVALID_ARGUMENT", f"input size does not match signature: {len(inputs)}!="
                                                   f"{len(expected)} len({{{','.join(sorted(inputs))}}}) != "
                                                   f"len({{{','.join(sorted(expected))}}})")
        try:
            tensors = {k: tf.constant(v, dtype=tf.dtypes.as_dtype(expected[k].dtype)) for k, v in inputs.items()}
            outputs = self.module.signatures[signature](**tensors)
        except tf.errors.InvalidArgumentError as err:
            raise RequestError("INVALID_ARGUMENT", err.message) from None
        except (TypeError, ValueError) as err:  # wrong rank or dtype, caught before the graph runs
            raise RequestError("INVALID_ARGUMENT", str(err).splitlines()[0]) from None
        return {k: v.numpy() for k, v in outputs.items()}


def make_servicer(model: LoadedModel) -> Any:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def _fail(self, context: Any, err: RequestError) -> None:
            context.abort(getattr(grpc.StatusCode, err.code), str(err))

        def Predict(self, request: Any, context: Any) -> Any:  # noqa: N802  (gRPC method name)
            try:
                signature = model.check_spec(request.model_spec)
                outputs = model.run(signature, {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
            except RequestError as err:
                self._fail(context, err)
            response = predict_pb2.PredictResponse()
            response.model_spec.name, response.model_spec.signature_name = model.name, signature
            response.model_spec.version.value = model.version
            for key, value in outputs.items():
                if not request.output_filter or key in request.output_filter:
                    response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response

        def GetModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
            try:
                model.check_spec(request.model_spec)
                unsupported = [f for f in request.metadata_field if f != "signature_def"]
                if unsupported or not request.metadata_field:
                    raise RequestError("INVALID_ARGUMENT", "Metadata field must be 'signature_def'")
            except RequestError as err:
                self._fail(context, err)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = model.name
            response.model_spec.version.value = model.version
            signature_map = get_model_metadata_pb2.SignatureDefMap()
            for key, value in model.signature_defs.items():
                signature_map.signature_def[key].CopyFrom(value)
            response.metadata["signature_def"].Pack(signature_map)
            return response

    return Servicer()


def start_grpc(model: LoadedModel, port: int = 0) -> tuple[Any, int]:
    """A started gRPC server on 127.0.0.1 (port 0: a free one); returns (server, port)."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2),
                         options=[("grpc.max_receive_message_length", 64 << 20)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(make_servicer(model), server)
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, port


# -- REST ------------------------------------------------------------------------------

def _from_json(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def _to_json(name: str, value: np.ndarray) -> Any:
    if value.dtype == object:
        # TF Serving's rule: string outputs whose names end in "_bytes" come back base64-encoded.
        def convert(item: Any) -> Any:
            if isinstance(item, list):
                return [convert(i) for i in item]
            if name.endswith("_bytes"):
                return {"b64": base64.b64encode(item).decode("ascii")}
            return item.decode("utf-8")

        return convert(value.tolist())
    return value.tolist()


def rest_predict(model: LoadedModel, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON reply) for POST `path` with a columnar-format body."""
    from tensorflow.core.framework import types_pb2

    prefix = f"/v1/models/{model.name}"
    route = path.split("?")[0]
    if not route.startswith(prefix) or not route.endswith(":predict"):
        return 404, {"error": f"Servable not found for request: {route}"}
    middle = route[len(prefix):-len(":predict")]
    if middle and middle != f"/versions/{model.version}":
        return 404, {"error": f"Servable not found for request: {route}"}
    try:
        request = json.loads(body)
        if not isinstance(request, dict) or not isinstance(request.get("inputs"), dict):
            raise RequestError("INVALID_ARGUMENT", "this server accepts the columnar format: {\"inputs\": {...}}")
        signature = request.get("signature_name") or "serving_default"
        if signature not in model.signature_defs:
            raise RequestError("FAILED_PRECONDITION", f'Serving signature key "{signature}" not found.')
        expected = model.signature_defs[signature].inputs
        inputs = {k: np.array(_from_json(v), dtype=object if expected[k].dtype == types_pb2.DT_STRING else np.float32)
                  for k, v in request["inputs"].items() if k in expected}
        if len(inputs) != len(request["inputs"]):
            raise RequestError("INVALID_ARGUMENT", "input names do not match the signature")
        outputs = model.run(signature, inputs)
    except RequestError as err:
        return 400, {"error": str(err)}
    except (ValueError, TypeError) as err:
        return 400, {"error": f"JSON Parse error: {str(err).splitlines()[0]}"}
    converted = {k: _to_json(k, v) for k, v in outputs.items()}
    # Like TF Serving: a single output is returned bare, several as an object.
    return 200, {"outputs": next(iter(converted.values())) if len(converted) == 1 else converted}


def start_rest(model: LoadedModel, port: int = 0) -> tuple[ThreadingHTTPServer, int]:
    """A started REST server on 127.0.0.1 in a daemon thread; returns (server, port)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's method name)
            length = int(self.headers.get("Content-Length") or 0)
            status, reply = rest_predict(model, self.path, self.rfile.read(length))
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.local_server",
                                     description="Serve an exported model on 127.0.0.1 (gRPC and REST).")
    parser.add_argument("--models", required=True, help="the export's --out folder")
    parser.add_argument("--name", default="stargan")
    parser.add_argument("--grpc-port", type=int, default=8500)
    parser.add_argument("--rest-port", type=int, default=8501)
    args = parser.parse_args(argv)
    try:
        model = LoadedModel(Path(args.models) / args.name, args.name)
        grpc_server, grpc_port = start_grpc(model, args.grpc_port)
        rest_server, rest_port = start_rest(model, args.rest_port)
    except (FileNotFoundError, OSError, RuntimeError) as err:
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"serving {args.name} version {model.version}: gRPC 127.0.0.1:{grpc_port}, "
          f"REST http://127.0.0.1:{rest_port} (Ctrl-C stops)")
    try:
        grpc_server.wait_for_termination()
    except KeyboardInterrupt:
        rest_server.shutdown()
        grpc_server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
