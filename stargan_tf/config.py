"""Typed run configuration: YAML files in `configs/`, overridable key by key.

A config is a tree of dataclasses. Loading is strict: an unknown key, a value
of the wrong type or an out-of-range value raises `ConfigError` with the
dotted key name, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

# Kept here (not imported from stargan_tf.distribute) so that loading a config never imports TensorFlow.
STRATEGIES = ("auto", "default", "mirrored", "multiworker")
PRECISIONS = ("float32", "bf16", "float16")
# wgan-gp: the paper's Wasserstein loss (Eq. 8) with its interpolated gradient penalty.
# nonsaturating: the original GAN loss (Eq. 1) in its non-saturating form for G, with the R1 penalty
# on real images (Mescheder et al. 2018, as in StarGAN v2); loss.lambda_gp weighs the penalty either way.
ADVERSARIAL_LOSSES = ("wgan-gp", "nonsaturating")
D_INITIALIZERS = ("glorot_uniform", "he_uniform")


class ConfigError(ValueError):
    """A configuration problem that the user must fix (bad key or value)."""


@dataclasses.dataclass
class ModelConfig:
    image_size: int = 128
    g_conv_dim: int = 64
    g_repeat_num: int = 6  # residual blocks in G
    d_conv_dim: int = 64
    d_repeat_num: int = 6  # stride-2 convolutions in D
    # true: D_src scores (image, label) pairs with a projection term (Miyato & Koyama 2018), so a
    # translation must look like a real image of its target domain, not merely satisfy D_cls.
    d_projection: bool = False
    # Width of a stride-1 3x3 convolution that reads the image at full resolution before D's strided
    # stack (fine lines such as expressions); 0 = none, as in the paper.
    d_stem_dim: int = 0
    # Initializer of D's convolutions before the heads. D has no normalization, so with Keras'
    # glorot_uniform (and the paper's leaky slope 0.01) each layer shrinks the signal; "he_uniform" keeps
    # its scale through the stack (D's classifier trained alone on real faces learns faster with it).
    d_init: str = "glorot_uniform"
    # true: D_cls reads a trunk of its own (D's layers with other weights) instead of sharing D_src's,
    # whose slope the gradient penalty holds at 1; false = one shared trunk, as in the paper.
    d_cls_trunk: bool = False
    # "image": tanh(G(x, c)) as in the paper; "residual": tanh(x + G(x, c)), which starts near the
    # input and learns much faster at small scale; "logit_residual": tanh(atanh(x) + G(x, c)) with a
    # zero-initialised last layer, exactly the identity at the start; "attention": GANimation's
    # A * x + (1 - A) * C, an attention mask A blending the input and a color image C (stargan_tf/models.py).
    g_output: str = "image"
    # "input": labels concatenated to the image only (the paper); "modulated": also a
    # label-dependent scale/shift after every normalization in G (faster to learn).
    g_conditioning: str = "input"
    # "transpose": transposed convolutions (the paper); "resize": nearest up-sampling + 3x3 convolution.
    g_upsample: str = "transpose"
    # U-Net skip connections in G: the decoder's half-size and full-size stages also read the encoder's
    # features of the same size (concatenated), so a line the output must move by a pixel or two is still
    # seen at full resolution instead of rebuilt from the 4x smaller bottleneck. False = none, as in the paper.
    g_skips: bool = False


@dataclasses.dataclass
class LossConfig:
    adversarial: str = "wgan-gp"
    lambda_cls: float = 1.0
    # Weight of D's classification term on real images (Eq. 7) when it should differ from G's
    # (Eq. 8): a larger value teaches D_cls the domains faster without G pushing harder. None = lambda_cls.
    lambda_cls_real: float | None = None
    lambda_rec: float = 10.0
    lambda_gp: float = 10.0  # weight of the gradient penalty (wgan-gp) or of R1 (nonsaturating; e.g. 1)
    # Fixed-Point GAN's identity loss ||x - G(x, c_x)||_1 on the G update; 0 = off (the paper).
    lambda_id: float = 0.0
    # Weight of a penalty on the gradient of D's classification loss at real images (logged as
    # `d_cls_gp`): D_cls then changes slowly near real faces, so small patches move it less; 0 = off.
    lambda_cls_gp: float = 0.0
    # Weight of D's classification term on translations G(x, c') scored against their *source* labels c
    # (logged as `d_cls_fake`): D_cls is trained to call what G paints the input's domain, not the
    # target's. 0 = off (the paper trains D_cls on real images only).
    lambda_cls_fake: float = 0.0
    # Weights of GANimation's terms on the attention mask A of model.g_output=attention (logged as
    # `g_mask` and `g_mask_tv`): E[A^2], GANimation's remedy for A saturating at "keep the whole input",
    # and A's total variation. 0 = off; GANimation uses 0.1 for the first.
    lambda_mask: float = 0.0
    lambda_mask_tv: float = 0.0


@dataclasses.dataclass
class TrainConfig:
    batch_size: int = 16
    # One step = n_critic discriminator updates + one generator update. The
    # paper's 200,000 iterations (D updates) at n_critic 5 are 40,000 steps.
    num_steps: int = 40_000
    decay_steps: int = 20_000  # linear decay to 0 over the last decay_steps
    g_lr: float = 1e-4
    d_lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 5
    seed: int = 0
    log_every: int = 10
    sample_every: int = 200
    checkpoint_every: int = 2_000
    keep_checkpoints: int = 3
    num_sample_faces: int = 8
    # XLA for the train step; single device only (turned off under a multi-replica strategy).
    jit_compile: bool = False
    # auto | default | mirrored | multiworker (TF_CONFIG); see stargan_tf/distribute.py.
    # batch_size is the global batch, split evenly across replicas.
    strategy: str = "auto"
    # float32 | bf16 (mixed_bfloat16, recommended on GPUs) | float16 (loss-scaled, unstable with the GP)
    precision: str = "float32"
    # true: each step's targets and GP factors come from the data pipeline (stateless seeds over the
    # global batch), so a step gives the same result on any number of replicas.
    replica_invariant: bool = False
    # true: TensorFlow's deterministic kernels (tf.config.experimental.enable_op_determinism), so a run
    # trained in one go replays bit-exactly with the same seed on the same machine and software. Without
    # it, multi-threaded sums add in a varying order and two runs drift apart within tens of steps.
    deterministic: bool = False
    # Exponential moving average of G's weights, updated after every step; 0 = off. When on, samples,
    # generator.keras and everything exported from it use the average (e.g. 0.999).
    g_ema_decay: float = 0.0
    # Every image D sees (real and generated, in both updates) is shifted by a random offset of up to
    # this fraction of its side (DiffAugment translation); 0 = off. E.g. 0.125.
    d_translation: float = 0.0


@dataclasses.dataclass
class SyntheticConfig:
    num_identities: int = 1_000
    images_per_identity: int = 4
    test_identities: int = 100
    seed: int = 0


# Every name `data.dataset` accepts; "both" trains on the two of `data.datasets` jointly.
DATASET_NAMES = ("synthetic", "synthetic-rafd", "celeba", "rafd", "affectnet", "folder", "both")


@dataclasses.dataclass
class CelebAConfig:
    dir: str = ""  # holds img_align_celeba/, list_attr_celeba.txt, optional list_eval_partition.txt
    source: str = "raw"  # "raw" (files in `dir`) or "tfds" (tensorflow_datasets celeb_a)
    tfds_dir: str = ""  # tensorflow_datasets data_dir; "" = its default (~/tensorflow_datasets)
    crop_size: int = 178  # center crop before resizing (the paper's 178x178)


@dataclasses.dataclass
class RafdConfig:
    dir: str = ""  # official file names in one folder, or one folder per expression
    crop_size: int = 256  # center crop; 0 = the largest centered square
    angles: list[int] = dataclasses.field(default_factory=list)  # camera angles to keep, e.g. [90]; [] = all


@dataclasses.dataclass
class AffectNetConfig:
    dir: str = ""  # root that the CSV's image paths are relative to
    csv: str = ""  # annotation file; "" = <dir>/training.csv
    crop_size: int = 0  # center crop for rows without a face box; 0 = largest centered square


@dataclasses.dataclass
class FolderConfig:
    dir: str = ""  # one sub-folder per domain, or the images a labels_file names
    labels_file: str = ""  # CSV/TXT "filename,attr1,attr2,..." with 0/1 or -1/1 values (multi-label)
    crop_size: int = 0  # center crop; 0 = the largest centered square


@dataclasses.dataclass
class DataConfig:
    dataset: str = "synthetic"
    # With dataset "both": the two datasets trained jointly with the mask vector, in label order.
    datasets: list[str] = dataclasses.field(default_factory=lambda: ["celeba", "rafd"])
    # Selected attributes; hair colors among them form a one-hot group.
    attributes: list[str] = dataclasses.field(
        default_factory=lambda: ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
    )
    # With dataset "both": consecutive training steps given to each of data.datasets in turn, e.g.
    # [1, 2] trains the second dataset twice as often; the paper alternates step by step ([1, 1]).
    dataset_steps: list[int] = dataclasses.field(default_factory=lambda: [1, 1])
    shuffle_buffer: int = 4_096
    # Held-out images per dataset (never trained on), capped at 10% of a small dataset.
    # CelebA uses its official test partition instead when list_eval_partition.txt exists.
    test_size: int = 2_000
    # false: unreadable files are skipped, counted and named once; true: the first one is an error.
    strict: bool = False
    # When set, each dataset is decoded once into TFRecord shards here and training reads those.
    tfrecord_dir: str = ""
    decode_threads: int = 0  # parallel decoding calls; 0 = tf.data.AUTOTUNE
    celeba: CelebAConfig = dataclasses.field(default_factory=CelebAConfig)
    rafd: RafdConfig = dataclasses.field(default_factory=RafdConfig)
    affectnet: AffectNetConfig = dataclasses.field(default_factory=AffectNetConfig)
    folder: FolderConfig = dataclasses.field(default_factory=FolderConfig)
    synthetic: SyntheticConfig = dataclasses.field(default_factory=SyntheticConfig)

    def validate(self) -> None:
        valid = ", ".join(DATASET_NAMES)
        _require(self.dataset in DATASET_NAMES, f"unknown dataset {self.dataset!r} (valid: {valid})")
        if self.dataset == "both":
            _require(len(self.datasets) == 2 and len(set(self.datasets)) == 2,
                     f"data.datasets must name two different datasets, got {self.datasets}")
            for name in self.datasets:
                _require(name in DATASET_NAMES and name != "both",
                         f"data.datasets: unknown dataset {name!r} (valid: {valid.replace(', both', '')})")
        _require(len(self.dataset_steps) == 2 and min(self.dataset_steps) >= 1,
                 f"data.dataset_steps must be two step counts >= 1 (one per dataset), got {self.dataset_steps}")
        _require(len(set(self.attributes)) == len(self.attributes), "data.attributes has duplicates")
        _require(self.test_size >= 1, "data.test_size must be >= 1")
        _require(self.decode_threads >= 0, "data.decode_threads must be >= 0")
        _require(self.celeba.source in ("raw", "tfds"), "data.celeba.source must be 'raw' or 'tfds'")
        for key in ("celeba", "rafd", "affectnet", "folder"):
            _require(getattr(self, key).crop_size >= 0, f"data.{key}.crop_size must be >= 0")


@dataclasses.dataclass
class Config:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)

    def validate(self) -> Config:
        m, t = self.model, self.train
        _require(m.image_size >= 16, "model.image_size must be >= 16")
        _require(m.image_size % 4 == 0, "model.image_size must be divisible by 4 (two down-samplings in G)")
        cls_kernel = m.image_size // 2**m.d_repeat_num
        _require(
            cls_kernel >= 1 and m.image_size % 2**m.d_repeat_num == 0,
            f"model.image_size {m.image_size} must be divisible by 2**model.d_repeat_num "
            f"({2**m.d_repeat_num}): D's classifier kernel is image_size / 2**d_repeat_num",
        )
        for key in ("g_conv_dim", "d_conv_dim", "d_repeat_num"):
            _require(getattr(m, key) >= 1, f"model.{key} must be >= 1")
        _require(m.g_repeat_num >= 0, "model.g_repeat_num must be >= 0")
        _require(m.d_stem_dim >= 0, "model.d_stem_dim must be >= 0 (0 = no full-resolution layer)")
        _require(m.d_init in D_INITIALIZERS, f"model.d_init must be one of {', '.join(D_INITIALIZERS)}")
        _require(m.g_output in ("image", "residual", "logit_residual", "attention"),
                 "model.g_output must be 'image', 'residual', 'logit_residual' or 'attention'")
        _require(m.g_upsample in ("transpose", "resize"), "model.g_upsample must be 'transpose' or 'resize'")
        _require(m.g_conditioning in ("input", "modulated"), "model.g_conditioning must be 'input' or 'modulated'")
        _require(self.loss.adversarial in ADVERSARIAL_LOSSES,
                 f"loss.adversarial must be one of {', '.join(ADVERSARIAL_LOSSES)}, got {self.loss.adversarial!r}")
        _require(self.loss.lambda_id >= 0, "loss.lambda_id must be >= 0")
        _require(self.loss.lambda_cls_gp >= 0, "loss.lambda_cls_gp must be >= 0")
        _require(self.loss.lambda_cls_fake >= 0, "loss.lambda_cls_fake must be >= 0")
        for key in ("lambda_mask", "lambda_mask_tv"):
            _require(getattr(self.loss, key) >= 0, f"loss.{key} must be >= 0")
            _require(getattr(self.loss, key) == 0 or m.g_output == "attention",
                     f"loss.{key} weighs a term on the attention mask of model.g_output=attention "
                     f"(g_output is {m.g_output})")
        _require(self.loss.lambda_cls_real is None or self.loss.lambda_cls_real >= 0,
                 "loss.lambda_cls_real must be >= 0 (or null: the same as loss.lambda_cls)")
        _require(0 <= t.d_translation < 0.5, "train.d_translation must be in [0, 0.5) (0 turns it off)")
        _require(not (t.d_translation > 0 and t.replica_invariant),
                 "train.d_translation draws its offsets on each replica; it cannot be combined with "
                 "train.replica_invariant")
        _require(0 <= t.g_ema_decay < 1, "train.g_ema_decay must be in [0, 1) (0 turns the average off)")
        for key in ("batch_size", "num_steps", "n_critic", "log_every", "sample_every",
                    "checkpoint_every", "keep_checkpoints", "num_sample_faces"):
            _require(getattr(t, key) >= 1, f"train.{key} must be >= 1")
        _require(0 <= t.decay_steps <= t.num_steps,
                 f"train.decay_steps ({t.decay_steps}) must be in [0, train.num_steps ({t.num_steps})]; "
                 "set it with --set train.decay_steps=N")
        _require(t.g_lr > 0 and t.d_lr > 0, "train.g_lr and train.d_lr must be > 0")
        _require(t.strategy in STRATEGIES, f"train.strategy must be one of {', '.join(STRATEGIES)}, "
                                           f"got {t.strategy!r}")
        _require(t.precision in PRECISIONS, f"train.precision must be one of {', '.join(PRECISIONS)}, "
                                            f"got {t.precision!r}")
        _require(not (t.jit_compile and t.strategy in ("mirrored", "multiworker")),
                 f"train.jit_compile (XLA) is only supported on one device; use strategy default or auto, "
                 f"not {t.strategy}")
        self.data.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def from_dict(data: dict[str, Any] | None, cls: type = Config, prefix: str = "") -> Any:
    """Builds a config dataclass from a nested dict, rejecting unknown keys."""
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]} (valid keys: {', '.join(prefix + k for k in fields)})"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(value, hints[name], prefix + name)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_dict(value, hint, key + ".")
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, str):  # `--set data.attributes=Male,Young`, `--set data.dataset_steps=1,2`
            value = [_from_text(v.strip(), item) for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads "2e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key} must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key} must be a string, got {value!r}")
    return value


def _from_text(text: str, hint: Any) -> Any:
    """One comma-separated list item as its item type; left as text (and then refused) when it is not one."""
    try:
        return int(text) if hint is int else float(text) if hint is float else text
    except ValueError:
        return text


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {dotted}: {part} is not a section")
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Parses `section.key=value`; the value is read as YAML (numbers, lists, booleans)."""
    if "=" not in text:
        raise ConfigError(f"--set expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Loads a YAML config (defaults when `path` is None) and applies `KEY=VALUE` overrides."""
    tree: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {str(err).splitlines()[0]}") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
    for text in overrides:
        key, value = parse_override(text)
        _set_path(tree, key, value)
    return from_dict(tree).validate()


def save_config(config: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
