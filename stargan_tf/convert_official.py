"""Import a generator checkpoint of the reference PyTorch StarGAN (github.com/yunjey/stargan).

    pip install .[convert]
    python -m stargan_tf.convert_official --generator 200000-G.ckpt \\
        --attrs Black_Hair,Blond_Hair,Brown_Hair,Male,Young --image-size 128 --out runs/celeba-official

The checkpoint is a PyTorch state_dict of one `nn.Sequential` named `main`:
conv 7x7 (main.0), norm (main.1), two down-sampling conv/norm pairs
(main.3/4, main.6/7), residual blocks (main.9 ... main.<i>.main.{0,1,3,4}),
two transposed conv/norm pairs and a final conv 7x7. Convolutions have no
bias. The reference never puts G in eval mode, so its instance norms always
use per-sample statistics: the running_mean/running_var buffers are ignored.

The result is a run directory (config.yaml, labels.json, generator.keras)
that `stargan_tf.translate` accepts. D is not converted: inference never needs it.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

DATASETS = ("celeba", "rafd", "joint")
CELEBA_ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
IGNORED_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


class ConvertError(ValueError):
    """A checkpoint or argument problem; the message is one line for the user."""


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The checkpoint's tensors as float32 arrays, read without unpickling arbitrary objects."""
    try:
        import torch
    except ImportError:
        raise ConvertError("reading PyTorch checkpoints needs torch: pip install .[convert]") from None
    path = Path(path)
    if not path.is_file():
        raise ConvertError(f"{path}: no such file")
    with open(path, "rb") as handle:
        head = handle.read(4)
    # torch.save writes a zip archive (or, before PyTorch 1.6, a pickle stream starting with 0x80).
    if head != b"PK\x03\x04" and head[:1] != b"\x80":
        raise ConvertError(f"{path}: not a PyTorch checkpoint (expected the file torch.save writes, "
                           "e.g. 200000-G.ckpt)")
    try:
        # weights_only refuses pickled code: only tensors and plain containers load.
        with warnings.catch_warnings():  # protocol notes on odd files would spoil the one-line error
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types here (UnpicklingError, RuntimeError, EOFError...)
        if "weights only load failed" in str(err).lower():
            raise ConvertError(f"{path}: holds Python objects besides tensors; not loaded, since unpickling "
                               "them could run arbitrary code") from None
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConvertError(f"{path}: not a PyTorch state_dict ({first[:160]})") from None
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not state:
        raise ConvertError(f"{path}: not a PyTorch state_dict (a {type(state).__name__})")
    arrays = {}
    for key, value in state.items():
        if not isinstance(key, str) or not hasattr(value, "detach"):
            raise ConvertError(f"{path}: not a PyTorch state_dict (entry {key!r} is not a tensor)")
        key = key.removeprefix("module.")  # saved from nn.DataParallel
        if key.endswith(IGNORED_SUFFIXES):
            continue
        arrays[key] = value.detach().to(torch.float32).numpy()
    return arrays


def generator_shape(state: Mapping[str, np.ndarray]) -> tuple[int, int, int]:
    """(c_dim, conv_dim, repeat_num) from the tensor shapes, checking the whole key layout."""
    first = state.get("main.0.weight")
    if first is None or first.ndim != 4 or first.shape[2:] != (7, 7) or first.shape[1] <= 3:
        raise ConvertError("main.0.weight is missing or not a 7x7 convolution over 3+c_dim channels: "
                           "not a StarGAN generator checkpoint (the file named *-G.ckpt)")
    conv_dim, c_dim = int(first.shape[0]), int(first.shape[1]) - 3
    blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"main\.(\d+)\.main\.", k))})
    repeat_num = len(blocks)
    if blocks != list(range(9, 9 + repeat_num)):
        raise ConvertError(f"residual blocks at main.{blocks} are not consecutive from main.9")
    expected = {
        "main.0.weight": (conv_dim, 3 + c_dim, 7, 7),
        "main.3.weight": (conv_dim * 2, conv_dim, 4, 4),
        "main.6.weight": (conv_dim * 4, conv_dim * 2, 4, 4),
        f"main.{9 + repeat_num}.weight": (conv_dim * 4, conv_dim * 2, 4, 4),  # transposed: (in, out, kh, kw)
        f"main.{12 + repeat_num}.weight": (conv_dim * 2, conv_dim, 4, 4),
        f"main.{15 + repeat_num}.weight": (3, conv_dim, 7, 7),
    }
    for index, channels in ((1, 1), (4, 2), (7, 4), (10 + repeat_num, 2), (13 + repeat_num, 1)):
        for name in ("weight", "bias"):
            expected[f"main.{index}.{name}"] = (conv_dim * channels,)
    for block in blocks:
        for j in (0, 3):
            expected[f"main.{block}.main.{j}.weight"] = (conv_dim * 4, conv_dim * 4, 3, 3)
        for j in (1, 4):
            for name in ("weight", "bias"):
                expected[f"main.{block}.main.{j}.{name}"] = (conv_dim * 4,)
    for key, shape in expected.items():
        if key not in state:
            raise ConvertError(f"{key} is missing: not a StarGAN generator checkpoint")
        if tuple(state[key].shape) != shape:
            raise ConvertError(f"{key} has shape {tuple(state[key].shape)}, expected {shape}")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise ConvertError(f"unexpected tensor {extra[0]} (convolution biases?): not the reference generator")
    return c_dim, conv_dim, repeat_num


def build_layout(dataset: str, attrs: Sequence[str] | None):
    from stargan_tf.data.sources import RAFD_EXPRESSIONS
    from stargan_tf.labels import LabelLayout, categorical_labels, celeba_style_labels

    dataset = "joint" if dataset == "both" else dataset
    if dataset not in DATASETS:
        raise ConvertError(f"unknown --dataset {dataset!r} (valid: {', '.join(DATASETS)})")
    try:
        if dataset == "rafd":
            return LabelLayout((categorical_labels("rafd", list(attrs or RAFD_EXPRESSIONS)),))
        celeba = celeba_style_labels("celeba", list(attrs or CELEBA_ATTRIBUTES))
        if dataset == "celeba":
            return LabelLayout((celeba,))
        return LabelLayout((celeba, categorical_labels("rafd", RAFD_EXPRESSIONS)))
    except ValueError as err:
        raise ConvertError(str(err)) from None


def load_weights(generator, state: Mapping[str, np.ndarray], repeat_num: int) -> None:
    """Copies the PyTorch tensors into the Keras generator's layers (NCHW kernels -> HWIO)."""

    def conv(key: str) -> list[np.ndarray]:
        # Conv2d (out, in, kh, kw) and ConvTranspose2d (in, out, kh, kw) both map to Keras'
        # (kh, kw, in, out) / (kh, kw, out, in) by the same transpose; neither flips the kernel.
        return [np.transpose(state[f"{key}.weight"], (2, 3, 1, 0))]

    def norm(key: str) -> list[np.ndarray]:
        return [state[f"{key}.weight"], state[f"{key}.bias"]]

    layers = {layer.name: layer for layer in generator.body}
    up = 9 + repeat_num
    pairs = {"stem": 0, "down1": 3, "down2": 6, "up1": up, "up2": up + 3}
    for name, index in pairs.items():
        layers[f"{name}_conv"].set_weights(conv(f"main.{index}"))
        layers[f"{name}_norm"].set_weights(norm(f"main.{index + 1}"))
    for i in range(repeat_num):
        block, prefix = layers[f"res{i + 1}"], f"main.{9 + i}.main"
        block.conv1.set_weights(conv(f"{prefix}.0"))
        block.norm1.set_weights(norm(f"{prefix}.1"))
        block.conv2.set_weights(conv(f"{prefix}.3"))
        block.norm2.set_weights(norm(f"{prefix}.4"))
    generator.to_rgb.set_weights(conv(f"main.{up + 6}"))


def convert(generator_path: str | Path, out: str | Path, dataset: str = "celeba",
            attrs: Sequence[str] | None = None, image_size: int = 128) -> Path:
    """Writes a run directory for the reference checkpoint at `generator_path`; returns its path."""
    from stargan_tf.checkpoints import CONFIG_FILE, save_generator, write_layout
    from stargan_tf.config import Config, ConfigError, save_config
    from stargan_tf.models import build_generator

    dataset = "joint" if dataset == "both" else dataset
    layout = build_layout(dataset, attrs)
    state = read_state_dict(generator_path)
    c_dim, conv_dim, repeat_num = generator_shape(state)
    if c_dim != layout.label_dim:
        hint = {5: "CelebA (5 attributes)", 8: "RaFD (--dataset rafd)", 15: "joint (--dataset joint)"}.get(c_dim, "")
        raise ConvertError(f"the checkpoint takes {c_dim} labels{f', e.g. {hint}' if hint else ''}, but --dataset "
                           f"{dataset} with these attributes gives {layout.label_dim} "
                           f"({', '.join(layout.domain_names)}{' + mask' if layout.has_mask else ''})")
    config = Config()
    m = config.model
    m.image_size, m.g_conv_dim, m.g_repeat_num, m.g_output = image_size, conv_dim, repeat_num, "image"
    # D is not imported; its depth only has to fit the image size for the config to validate.
    m.d_repeat_num = min(6, (image_size & -image_size).bit_length() - 1)
    # The training config's names: "both" trains data.datasets jointly with the mask vector.
    config.data.dataset = "both" if dataset == "joint" else dataset
    if dataset == "joint":
        config.data.datasets = ["celeba", "rafd"]
    if dataset != "rafd":
        config.data.attributes = list(layout.datasets[0].names)
    try:
        config.validate()
    except ConfigError as err:
        raise ConvertError(f"--image-size {image_size}: {err}") from None
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConvertError(f"{out} exists and is not empty; choose a new --out")
    generator = build_generator(layout.label_dim, image_size, conv_dim, repeat_num, "image")
    load_weights(generator, state, repeat_num)
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / CONFIG_FILE)
    write_layout(layout, out)
    save_generator(generator, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stargan_tf.convert_official",
                                     description="Convert a reference PyTorch StarGAN generator (*-G.ckpt) "
                                                 "into a run directory for stargan_tf.translate.")
    parser.add_argument("--generator", required=True, help="the G checkpoint, e.g. 200000-G.ckpt")
    parser.add_argument("--dataset", default="celeba",
                        help="celeba (default), rafd or joint (CelebA+RaFD, also 'both')")
    parser.add_argument("--attrs", help="comma-separated CelebA attributes in training order "
                                        f"(default {','.join(CELEBA_ATTRIBUTES)}); for rafd, the 8 expressions")
    parser.add_argument("--image-size", type=int, default=128, help="training resolution (128; 256 for joint)")
    parser.add_argument("--out", required=True, help="run directory to create")
    args = parser.parse_args(argv)
    attrs = [a.strip() for a in args.attrs.split(",") if a.strip()] if args.attrs else None
    try:
        out = convert(args.generator, args.out, args.dataset, attrs, args.image_size)
    except ConvertError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}: translate with  python -m stargan_tf.translate --run-dir {out} --input PHOTO "
          "--grid --output grid.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
