"""StarGAN generator and discriminator (paper appendix, Tables 4 and 5).

Both are subclassed `keras.Model`s, serializable with `get_config` and
loadable with `safe_mode=True`. Images are NHWC in [-1, 1].

`padding="same"` reproduces the paper's explicit paddings exactly for these
shapes: K7/S1 pads 3 on each side, K4/S2 on an even size pads 1 on each side,
and the K4/S2 transposed convolution crops 1 on each side (PyTorch P1).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from stargan_tf.config import ModelConfig
from stargan_tf.layers import (
    InstanceNormalization,
    LabelModulation,
    NearestUpsampling,
    ResidualBlock,
    TileLabels,
    nearest_upsampling_conv,
)

# "image": tanh(G(x, c)) (the paper). "residual": tanh(x + G(x, c)), close to the input from the start.
# "logit_residual": tanh(atanh(x) + G(x, c)) with a zero-initialised last convolution, so a fresh G
# is exactly the identity and a pixel G leaves alone keeps its value.
# "attention": GANimation's image formation A * x + (1 - A) * C: a color image C = tanh(.) and an attention
# mask A = sigmoid(.) that says how much of the input each pixel keeps. A starts near 1 (a fresh G nearly
# returns its input); loss.lambda_mask weighs GANimation's penalty on A, which pushes it down from there.
GENERATOR_OUTPUTS = ("image", "residual", "logit_residual", "attention")
# "transpose": 4x4 stride-2 transposed convolutions (the paper). "resize": nearest-neighbour
# up-sampling followed by a 3x3 convolution, which cannot produce checkerboard artifacts.
GENERATOR_UPSAMPLING = ("transpose", "resize")
# Inputs are clipped this far inside (-1, 1) before atanh, which is infinite at +-1;
# tanh(atanh(1 - 1e-3)) still rounds to 255 in uint8.
_LOGIT_CLIP = 1e-3
# A fresh attention G's mask is sigmoid(4) = 0.982 everywhere (zero kernel, this bias): every pixel
# moves < 2% of the way to C, and the mask's weights still get gradients.
_ATTENTION_BIAS = 4.0
# "input": the label planes are concatenated to the image only (the paper).
# "modulated": additionally, every normalization is followed by a label-dependent
# scale and shift (conditional instance normalization); learns much faster.
GENERATOR_CONDITIONING = ("input", "modulated")


def _kernel(conv: keras.layers.Conv2D, in_channels: int) -> Any:
    """The kernel of a convolution the generator applies itself rather than calling the layer (built here,
    since the symbolic pass in `Generator.build` never calls it)."""
    if not conv.built:
        conv.build((None, None, None, in_channels))
    return conv.kernel


@keras.saving.register_keras_serializable(package="stargan_tf")
class Generator(keras.Model):
    """G(x, c): translates images to the domains given by label vectors c.

    Called as `G((images, labels))` with images [N, H, W, 3] and labels [N, n_c].
    """

    def __init__(
        self,
        label_dim: int,
        conv_dim: int = 64,
        repeat_num: int = 6,
        output: str = "image",
        conditioning: str = "input",
        upsample: str = "transpose",
        skips: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if upsample not in GENERATOR_UPSAMPLING:
            raise ValueError(f"unknown generator up-sampling {upsample!r} (valid: {', '.join(GENERATOR_UPSAMPLING)})")
        if output not in GENERATOR_OUTPUTS:
            raise ValueError(f"unknown generator output {output!r} (valid: {', '.join(GENERATOR_OUTPUTS)})")
        if conditioning not in GENERATOR_CONDITIONING:
            raise ValueError(f"unknown generator conditioning {conditioning!r} "
                             f"(valid: {', '.join(GENERATOR_CONDITIONING)})")
        self.label_dim = label_dim
        self.conv_dim = conv_dim
        self.repeat_num = repeat_num
        self.output_kind = output
        self.conditioning = conditioning
        self.upsample = upsample
        self.skips = skips
        modulated = conditioning == "modulated"

        def conv_in(filters: int, kernel: int, stride: int, name: str, up: bool = False) -> list:
            if up and upsample == "resize":
                convs = [NearestUpsampling(name=f"{name}_resize"),
                         keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")]
            else:
                conv_cls = keras.layers.Conv2DTranspose if up else keras.layers.Conv2D
                convs = [conv_cls(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")]
            layers = convs + [InstanceNormalization(name=f"{name}_norm")]
            if modulated:
                layers.append(LabelModulation(filters, name=f"{name}_mod"))
            return layers + [keras.layers.ReLU(name=f"{name}_relu")]

        self.tile = TileLabels(name="tile_labels")
        body = conv_in(conv_dim, 7, 1, "stem")
        body += conv_in(conv_dim * 2, 4, 2, "down1")
        body += conv_in(conv_dim * 4, 4, 2, "down2")
        body += [ResidualBlock(conv_dim * 4, modulated, name=f"res{i + 1}") for i in range(repeat_num)]
        body += conv_in(conv_dim * 2, 4, 2, "up1", up=True)
        body += conv_in(conv_dim, 4, 2, "up2", up=True)
        self.body = body
        # With skips, the encoder's output at each size joins the decoder's input where it is back at that
        # size: down1's (H/2) is concatenated to up2's input, the stem's (H) to to_rgb's.
        up2_first = "up2_resize" if upsample == "resize" else "up2_conv"
        self._skip_into = {"down1_relu": up2_first, "stem_relu": "to_rgb"} if skips else {}
        initializer = "zeros" if output == "logit_residual" else "glorot_uniform"
        self.to_rgb = keras.layers.Conv2D(3, 7, padding="same", use_bias=False, kernel_initializer=initializer,
                                          name="to_rgb")
        self.to_attention = None
        if output == "attention":
            self.to_attention = keras.layers.Conv2D(1, 7, padding="same", kernel_initializer="zeros",
                                                    bias_initializer=keras.initializers.Constant(_ATTENTION_BIAS),
                                                    name="to_attention")

    def build(self, input_shape: Any) -> None:
        image_shape, label_shape = input_shape
        images = keras.KerasTensor(tuple(image_shape))
        labels = keras.KerasTensor(tuple(label_shape))
        # A symbolic pass creates every sublayer's weights with the right shapes.
        self.call((images, labels))
        self.built = True

    def call(self, inputs: Any, training: bool | None = None, return_attention: bool = False) -> Any:
        """G(x, c); with `return_attention`, (G(x, c), the attention mask [N, H, W, 1] in [0, 1] or None
        when the output is not "attention")."""
        images, labels = inputs
        layers = iter(self.body)
        if training:
            x = self._stem_conv(images, labels, next(layers))
        else:
            x = self.tile(images, labels)
        joining = {}  # the name of a layer -> encoder features concatenated to its input
        for layer in layers:
            if layer.name in joining:
                x = ops.concatenate([x, joining.pop(layer.name)], axis=-1)
            if isinstance(layer, NearestUpsampling):
                x = self._upsampling_conv(x, next(layers))
                continue
            takes_labels = isinstance(layer, LabelModulation) or getattr(layer, "modulated", False)
            x = layer(x, labels) if takes_labels else layer(x)
            if layer.name in self._skip_into:
                joining[self._skip_into[layer.name]] = x
        if joining:
            x = ops.concatenate([x, joining.pop("to_rgb")], axis=-1)
        attention = None
        if self.output_kind == "attention":
            x, attention = self._color_and_attention(x)
            out = attention * ops.cast(images, "float32") + (1.0 - attention) * ops.tanh(x)
        else:
            x = ops.cast(self.to_rgb(x), "float32")
            if self.output_kind == "residual":
                x = x + ops.cast(images, "float32")
            elif self.output_kind == "logit_residual":
                inside = ops.clip(ops.cast(images, "float32"), -1.0 + _LOGIT_CLIP, 1.0 - _LOGIT_CLIP)
                # atanh written with log and divide, which every converter and delegate supports.
                x = x + 0.5 * ops.log((1.0 + inside) / (1.0 - inside))
            out = ops.tanh(x)
        return (out, attention) if return_attention else out

    def _stem_conv(self, images: Any, labels: Any, stem: keras.layers.Conv2D) -> Any:
        """stem(tile(images, labels)) for training: the label planes are constant, so their share of the
        convolution is one convolution of a plane of ones (per label and filter, for the whole batch)
        weighted by each image's labels. Inference keeps the tiled input, where that share would be
        folded into a large constant of the exported model."""
        kernel = ops.cast(_kernel(stem, images.shape[-1] + self.label_dim), stem.compute_dtype)
        k, channels, filters = kernel.shape[0], images.shape[-1], kernel.shape[-1]
        images = ops.cast(images, stem.compute_dtype)
        x = ops.conv(images, kernel[:, :, :channels], padding="same")
        ones = ops.ones_like(images[:1, :, :, :1])
        planes = ops.conv(ones, ops.reshape(kernel[:, :, channels:], (k, k, 1, self.label_dim * filters)),
                          padding="same")
        planes = ops.reshape(planes, (ops.shape(images)[1], ops.shape(images)[2], self.label_dim, filters))
        return x + ops.einsum("nl,hwlf->nhwf", ops.cast(labels, x.dtype), planes)

    def _color_and_attention(self, features: Any) -> tuple[Any, Any]:
        """(the color image's logits, the attention mask) from one 7x7 convolution with both layers' kernels:
        at 3 and 1 output channels each would cost about as much as the pair does."""
        kernel = ops.concatenate([_kernel(conv, features.shape[-1]) for conv in (self.to_rgb, self.to_attention)],
                                 axis=-1)
        both = ops.cast(ops.conv(features, ops.cast(kernel, features.dtype), padding="same"), "float32")
        return both[..., :3], ops.sigmoid(both[..., 3:] + ops.cast(self.to_attention.bias, "float32"))

    @staticmethod
    def _upsampling_conv(x: Any, conv: keras.layers.Conv2D) -> Any:
        """The "resize" up-sampling and the 3x3 convolution after it, run as the one transposed convolution
        they equal (a cheaper gradient: about 12% less time per training step of configs/quality.yaml).
        Both layers stay in `body`, so saved generators and checkpoints load unchanged."""
        return ops.cast(nearest_upsampling_conv(x, _kernel(conv, x.shape[-1])), conv.compute_dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "label_dim": self.label_dim,
            "conv_dim": self.conv_dim,
            "repeat_num": self.repeat_num,
            "output": self.output_kind,
            "conditioning": self.conditioning,
            "upsample": self.upsample,
            "skips": self.skips,
        }


@keras.saving.register_keras_serializable(package="stargan_tf")
class Discriminator(keras.Model):
    """PatchGAN critic D_src plus the auxiliary domain classifier D_cls.

    Returns (src [N, H/2^r, W/2^r, 1], cls logits [N, n_d]). With `label_dim`
    > 0 it is called on (images, labels) and D_src scores the pair: every patch
    gets the projection term <W c, h> (projection discriminator, Miyato & Koyama
    2018), so D learns what a real image *of domain c* looks like and rejects a
    translation that only fools D_cls. With `stem_dim` > 0 a stride-1 3x3
    convolution of that width reads the image at full resolution first.
    With `cls_trunk`, D_cls reads a trunk of its own (the same layers, other
    weights) instead of sharing D_src's, which the gradient penalty holds to a
    unit slope. `kernel_initializer` initializes every convolution before the heads.
    """

    def __init__(
        self,
        image_size: int,
        num_domains: int,
        conv_dim: int = 64,
        repeat_num: int = 6,
        label_dim: int = 0,
        stem_dim: int = 0,
        kernel_initializer: str = "glorot_uniform",
        cls_trunk: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        kernel = image_size // 2**repeat_num
        if kernel < 1 or image_size % 2**repeat_num:
            raise ValueError(
                f"image_size {image_size} must be divisible by 2**repeat_num ({2**repeat_num})"
            )
        self.image_size = image_size
        self.num_domains = num_domains
        self.conv_dim = conv_dim
        self.repeat_num = repeat_num
        self.label_dim = label_dim
        self.stem_dim = stem_dim
        self.kernel_initializer = kernel_initializer
        self.cls_trunk = cls_trunk
        self.body = self._trunk("")
        self.cls_body = self._trunk("cls_") if cls_trunk else None
        self.src_head = keras.layers.Conv2D(1, 3, padding="same", use_bias=False, name="src")
        self.cls_head = keras.layers.Conv2D(num_domains, kernel, padding="valid", use_bias=False, name="cls")
        self.label_embedding = None
        if label_dim:
            self.label_embedding = keras.layers.Dense(conv_dim * 2 ** (repeat_num - 1), use_bias=False,
                                                      name="label_embedding")

    def _trunk(self, prefix: str) -> list[keras.layers.Layer]:
        """The convolutions (and leaky ReLUs) from the image to the heads' features, layer names prefixed."""
        layers, init = [], self.kernel_initializer
        if self.stem_dim:
            # Expressions differ by lines a pixel or two wide (a brow's tilt, a mouth's corners), which the
            # first stride-2 convolution can only see blurred; a full-resolution layer sees them as lines.
            layers.append(keras.layers.Conv2D(self.stem_dim, 3, padding="same", kernel_initializer=init,
                                              name=f"{prefix}stem"))
            layers.append(keras.layers.LeakyReLU(negative_slope=0.01, name=f"{prefix}stem_lrelu"))
        for i in range(self.repeat_num):
            layers.append(keras.layers.Conv2D(self.conv_dim * 2**i, 4, strides=2, padding="same",
                                              kernel_initializer=init, name=f"{prefix}conv{i + 1}"))
            layers.append(keras.layers.LeakyReLU(negative_slope=0.01, name=f"{prefix}lrelu{i + 1}"))
        return layers

    def build(self, input_shape: Any) -> None:
        if self.label_dim:
            self.call((keras.KerasTensor(tuple(input_shape[0])), keras.KerasTensor(tuple(input_shape[1]))))
        else:
            self.call(keras.KerasTensor(tuple(input_shape)))
        self.built = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        images, labels = inputs if self.label_dim else (inputs, None)
        h = h_cls = images
        for layer in self.body:
            h = layer(h)
        for layer in self.cls_body or ():
            h_cls = layer(h_cls)
        src = ops.cast(self.src_head(h), "float32")
        if self.label_embedding is not None:
            embedded = ops.cast(self.label_embedding(ops.cast(labels, h.dtype)), "float32")
            src = src + ops.sum(ops.cast(h, "float32") * embedded[:, None, None, :], axis=-1, keepdims=True)
        cls = ops.cast(self.cls_head(h if self.cls_body is None else h_cls), "float32")
        return src, ops.reshape(cls, (-1, self.num_domains))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "num_domains": self.num_domains,
            "conv_dim": self.conv_dim,
            "repeat_num": self.repeat_num,
            "label_dim": self.label_dim,
            "stem_dim": self.stem_dim,
            "kernel_initializer": self.kernel_initializer,
            "cls_trunk": self.cls_trunk,
        }


def build_generator(label_dim: int, image_size: int, conv_dim: int = 64, repeat_num: int = 6,
                    output: str = "image", conditioning: str = "input", upsample: str = "transpose",
                    skips: bool = False) -> Generator:
    generator = Generator(label_dim, conv_dim, repeat_num, output, conditioning, upsample, skips, name="generator")
    generator.build(((None, image_size, image_size, 3), (None, label_dim)))
    return generator


def build_discriminator(image_size: int, num_domains: int, conv_dim: int = 64, repeat_num: int = 6,
                        label_dim: int = 0, stem_dim: int = 0,
                        kernel_initializer: str = "glorot_uniform", cls_trunk: bool = False) -> Discriminator:
    """A built D; `label_dim` > 0 makes D_src a projection critic of (image, label) pairs."""
    discriminator = Discriminator(image_size, num_domains, conv_dim, repeat_num, label_dim, stem_dim,
                                  kernel_initializer, cls_trunk, name="discriminator")
    images = (None, image_size, image_size, 3)
    discriminator.build((images, (None, label_dim)) if label_dim else images)
    return discriminator


def generator_for(model: ModelConfig, label_dim: int) -> Generator:
    """A built G as a config's `model` section describes it."""
    return build_generator(label_dim, model.image_size, model.g_conv_dim, model.g_repeat_num,
                           model.g_output, model.g_conditioning, model.g_upsample, model.g_skips)


def build_networks(model: ModelConfig, label_dim: int, num_domains: int) -> tuple[Generator, Discriminator]:
    """G and D as a config's `model` section describes them."""
    generator = generator_for(model, label_dim)
    discriminator = build_discriminator(model.image_size, num_domains, model.d_conv_dim, model.d_repeat_num,
                                        label_dim if model.d_projection else 0, model.d_stem_dim, model.d_init,
                                        model.d_cls_trunk)
    return generator, discriminator
