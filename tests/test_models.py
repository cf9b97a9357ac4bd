import keras
import numpy as np
import pytest

from stargan_tf.models import Discriminator, Generator, build_discriminator, build_generator


@pytest.mark.parametrize(
    "label_dim, num_domains, image_size, g_params, d_params",
    [
        (5, 5, 128, 8_430_528, 44_762_048),  # CelebA (the paper's 53.2M total)
        (8, 8, 128, 8_439_936, 44_786_624),  # RaFD
        (15, 13, 256, 8_461_888, 45_147_072),  # joint CelebA + RaFD with the mask vector, 256 px
    ],
)
def test_parameter_counts_match_the_paper_architecture(label_dim, num_domains, image_size, g_params, d_params):
    assert build_generator(label_dim, image_size).count_params() == g_params
    assert build_discriminator(image_size, num_domains).count_params() == d_params


def test_shapes():
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    c = np.eye(3, dtype="float32")[[0, 2]]
    g = build_generator(3, 32, conv_dim=8, repeat_num=1)
    y = np.asarray(g((x, c)))
    assert y.shape == (2, 32, 32, 3)
    assert np.all(np.abs(y) <= 1.0)
    d = build_discriminator(32, 3, conv_dim=8, repeat_num=4)
    src, cls = d(x)
    assert src.shape == (2, 2, 2, 1)
    assert cls.shape == (2, 3)


def test_generator_depends_on_the_label():
    x = np.random.default_rng(1).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    g = build_generator(2, 32, conv_dim=8, repeat_num=1)
    a = np.asarray(g((x, np.array([[1, 0]], "float32"))))
    b = np.asarray(g((x, np.array([[0, 1]], "float32"))))
    assert np.abs(a - b).max() > 1e-4


@pytest.mark.parametrize("output, conditioning, upsample, skips", [
    ("image", "input", "transpose", False), ("residual", "input", "transpose", False),
    ("residual", "modulated", "transpose", True), ("logit_residual", "modulated", "resize", False),
    ("logit_residual", "modulated", "resize", True), ("attention", "modulated", "resize", False)])
def test_generator_saves_and_loads_in_safe_mode(tmp_path, output, conditioning, upsample, skips):
    x = np.random.default_rng(2).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    c = np.eye(4, dtype="float32")[[1, 3]]
    g = build_generator(4, 32, conv_dim=8, repeat_num=2, output=output, conditioning=conditioning,
                        upsample=upsample, skips=skips)
    if output == "logit_residual":  # make the output depend on the weights for the comparison below
        g.to_rgb.kernel.assign(np.random.default_rng(4).normal(0, 0.05, g.to_rgb.kernel.shape))
    if output == "attention":  # a mask that varies over the image
        g.to_attention.kernel.assign(np.random.default_rng(4).normal(0, 0.05, g.to_attention.kernel.shape))
    g.save(tmp_path / "g.keras")
    loaded = keras.models.load_model(tmp_path / "g.keras", safe_mode=True)
    assert isinstance(loaded, Generator)
    assert loaded.get_config()["output"] == output
    assert loaded.get_config()["conditioning"] == conditioning
    assert loaded.get_config()["upsample"] == upsample
    assert loaded.get_config()["skips"] == skips
    np.testing.assert_allclose(np.asarray(loaded((x, c))), np.asarray(g((x, c))), atol=1e-6)


def test_discriminator_saves_and_loads_in_safe_mode(tmp_path):
    x = np.random.default_rng(3).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    d = build_discriminator(32, 5, conv_dim=8, repeat_num=3)
    d.save(tmp_path / "d.keras")
    loaded = keras.models.load_model(tmp_path / "d.keras", safe_mode=True)
    assert isinstance(loaded, Discriminator)
    for ours, theirs in zip(d(x), loaded(x), strict=True):
        np.testing.assert_allclose(np.asarray(theirs), np.asarray(ours), atol=1e-6)


def test_full_resolution_stem_is_a_stride_one_layer_before_the_strided_stack(tmp_path):
    d = build_discriminator(32, 5, conv_dim=8, repeat_num=3, stem_dim=4)
    plain = build_discriminator(32, 5, conv_dim=8, repeat_num=3)
    # The stem adds a 3x3x3x4 kernel and bias, and the first strided layer reads 4 channels instead of 3.
    assert d.count_params() - plain.count_params() == (27 * 4 + 4) + (4 - 3) * 16 * 8
    assert d.get_layer("stem").strides == (1, 1)
    src, cls = d(np.zeros((2, 32, 32, 3), "float32"))
    assert src.shape == (2, 4, 4, 1) and cls.shape == (2, 5)
    d.save(tmp_path / "d.keras")
    loaded = keras.models.load_model(tmp_path / "d.keras", safe_mode=True)
    assert loaded.stem_dim == 4
    x = np.random.default_rng(5).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded(x)[1]), np.asarray(d(x)[1]), atol=1e-6)


def test_he_initializer_draws_every_convolution_before_the_heads_at_he_scale(tmp_path):
    d = build_discriminator(32, 5, conv_dim=8, repeat_num=3, stem_dim=4, kernel_initializer="he_uniform")
    plain = build_discriminator(32, 5, conv_dim=8, repeat_num=3, stem_dim=4)
    for name in ("stem", "conv1", "conv2", "conv3"):
        kernel = np.asarray(d.get_layer(name).kernel)
        fan_in = np.prod(kernel.shape[:3])
        # A uniform draw on [-L, L] has std L / sqrt(3): sqrt(2 / fan_in) for He, well below it for Glorot.
        assert np.std(kernel) == pytest.approx(np.sqrt(2.0 / fan_in), rel=0.2)
        assert np.std(np.asarray(plain.get_layer(name).kernel)) < 0.8 * np.sqrt(2.0 / fan_in)
    assert d.count_params() == plain.count_params()
    d.save(tmp_path / "d.keras")
    assert keras.models.load_model(tmp_path / "d.keras", safe_mode=True).kernel_initializer == "he_uniform"


def test_classifier_trunk_gives_d_cls_weights_of_its_own(tmp_path):
    x = np.random.default_rng(6).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    d = build_discriminator(32, 5, conv_dim=8, repeat_num=3, stem_dim=4, cls_trunk=True)
    shared = build_discriminator(32, 5, conv_dim=8, repeat_num=3, stem_dim=4)
    trunk = sum(np.prod(w.shape) for layer in shared.body for w in layer.weights)
    assert d.count_params() - shared.count_params() == trunk
    assert [layer.name for layer in d.cls_body][:3] == ["cls_stem", "cls_stem_lrelu", "cls_conv1"]
    # Given the other D's weights in its critic trunk and both heads, D_src is that D's critic;
    # given them in its classifier trunk as well, D_cls is that D's classifier.
    for layer in d.body + [d.src_head, d.cls_head]:
        layer.set_weights(shared.get_layer(layer.name).get_weights())
    src, cls = d(x)
    np.testing.assert_allclose(np.asarray(src), np.asarray(shared(x)[0]), atol=1e-6)
    assert not np.allclose(np.asarray(cls), np.asarray(shared(x)[1]))
    for layer in d.cls_body:
        layer.set_weights(shared.get_layer(layer.name.removeprefix("cls_")).get_weights())
    np.testing.assert_allclose(np.asarray(d(x)[1]), np.asarray(shared(x)[1]), atol=1e-6)
    d.save(tmp_path / "d.keras")
    loaded = keras.models.load_model(tmp_path / "d.keras", safe_mode=True)
    assert loaded.cls_trunk
    for ours, theirs in zip(d(x), loaded(x), strict=True):
        np.testing.assert_allclose(np.asarray(theirs), np.asarray(ours), atol=1e-6)


def test_projection_discriminator_scores_image_label_pairs(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    c = np.array([[1, 0, 0, 1, 0], [0, 1, 0, 0, 1]], "float32")
    d = build_discriminator(32, 5, conv_dim=8, repeat_num=3, label_dim=5)
    src, cls = d((x, c))
    assert src.shape == (2, 4, 4, 1) and cls.shape == (2, 5)
    other_src, other_cls = d((x, c[::-1]))
    # The labels move D_src (the projection term) and never D_cls.
    assert not np.allclose(np.asarray(src), np.asarray(other_src))
    np.testing.assert_array_equal(np.asarray(cls), np.asarray(other_cls))
    # Without the projection term the critic is the plain one on the same weights.
    plain = build_discriminator(32, 5, conv_dim=8, repeat_num=3)
    plain.set_weights(d.get_weights()[:-1])
    assert d.get_weights()[-1].shape == (32, 5)[::-1]  # [label_dim, features]
    h_src, _ = plain(x)
    d.label_embedding.kernel.assign(np.zeros((5, 32), "float32"))
    np.testing.assert_allclose(np.asarray(d((x, c))[0]), np.asarray(h_src), atol=1e-6)
    d.save(tmp_path / "d.keras")
    loaded = keras.models.load_model(tmp_path / "d.keras", safe_mode=True)
    assert loaded.label_dim == 5
    np.testing.assert_allclose(np.asarray(loaded((x, c))[0]), np.asarray(d((x, c))[0]), atol=1e-6)


def test_discriminator_rejects_sizes_its_classifier_cannot_cover():
    with pytest.raises(ValueError, match="divisible"):
        build_discriminator(48, 5, repeat_num=6)


def test_unknown_generator_options_are_rejected():
    with pytest.raises(ValueError, match="unknown generator output"):
        Generator(5, output="flow")
    with pytest.raises(ValueError, match="unknown generator conditioning"):
        Generator(5, conditioning="adain")
    with pytest.raises(ValueError, match="unknown generator up-sampling"):
        Generator(5, upsample="bilinear")


def test_a_fresh_logit_residual_generator_is_the_identity():
    x = np.random.default_rng(5).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    x[0, 0, 0] = [-1.0, 1.0, 0.0]  # the clipped extremes still come back as 0 and 255 in uint8
    g = build_generator(3, 32, conv_dim=8, repeat_num=1, output="logit_residual", upsample="resize")
    y = np.asarray(g((x, np.eye(3, dtype="float32")[[0, 2]])))
    np.testing.assert_allclose(y, x, atol=1e-3)
    np.testing.assert_array_equal(np.round((y + 1) * 127.5), np.round((x + 1) * 127.5))


def test_attention_generator_blends_input_and_color_image_as_its_mask_says():
    x = np.random.default_rng(6).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    c = np.eye(3, dtype="float32")[[0, 2]]
    g = build_generator(3, 32, conv_dim=8, repeat_num=1, output="attention", upsample="resize")
    y, attention = (np.asarray(t) for t in g((x, c), return_attention=True))
    assert attention.shape == (2, 32, 32, 1)
    np.testing.assert_allclose(attention, 1 / (1 + np.exp(-4.0)), rtol=1e-5)  # starts near the input
    assert np.abs(y - x).max() < 0.04
    # The same weights without the mask head are the paper's tanh(G(x, c)): the color image C.
    plain = build_generator(3, 32, conv_dim=8, repeat_num=1, output="image", upsample="resize")
    plain.set_weights(g.get_weights()[:-2])
    color = np.asarray(plain((x, c)))
    np.testing.assert_allclose(y, attention * x + (1 - attention) * color, atol=1e-5)
    g.to_attention.bias.assign([-30.0])
    np.testing.assert_allclose(np.asarray(g((x, c))), color, atol=1e-5)
    g.to_attention.bias.assign([30.0])
    np.testing.assert_allclose(np.asarray(g((x, c))), x, atol=1e-6)
    assert build_generator(3, 32, conv_dim=8, repeat_num=1)((x, c), return_attention=True)[1] is None


def test_resize_up_sampling_replaces_the_transposed_convolutions():
    g = build_generator(5, 32, conv_dim=8, repeat_num=1, upsample="resize")
    names = [layer.name for layer in g.body]
    assert "up1_resize" in names and "up2_resize" in names
    assert g.get_layer("up1_conv").kernel.shape == (3, 3, 32, 16)
    assert np.asarray(g((np.zeros((1, 32, 32, 3), "float32"), np.ones((1, 5), "float32")))).shape == (1, 32, 32, 3)


@pytest.mark.parametrize("output", ["image", "attention"])
def test_generator_equals_its_layers_run_one_by_one(output):
    # G runs the resize and the convolution after it as one transposed convolution, and the attention
    # head's two convolutions as one; here every layer runs on its own.
    rng = np.random.default_rng(5)
    g = build_generator(4, 32, conv_dim=8, repeat_num=1, output=output, conditioning="modulated", upsample="resize")
    x = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    c = rng.uniform(0, 1, (2, 4)).astype("float32")
    heads = [g.to_rgb] + ([g.to_attention] if output == "attention" else [])
    for layer in g.body + heads:  # random weights everywhere, so every layer shows in the output
        layer.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in layer.get_weights()])
    h = g.tile(x, c)
    for layer in g.body:
        takes_labels = layer.name.endswith("_mod") or layer.name.startswith("res")
        h = layer(h, c) if takes_labels else layer(h)
    expected = np.tanh(np.asarray(g.to_rgb(h)))
    if output == "attention":
        attention = 1 / (1 + np.exp(-np.asarray(g.to_attention(h))))
        assert 0.05 < attention.std()
        expected = attention * x + (1 - attention) * expected
    np.testing.assert_allclose(np.asarray(g((x, c))), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("output,upsample,skips", [
    ("image", "transpose", False), ("attention", "resize", False), ("logit_residual", "resize", True)])
def test_training_and_inference_give_the_same_translation(output, upsample, skips):
    # Training convolves the label planes apart from the image (they are constant); inference tiles them.
    rng = np.random.default_rng(6)
    g = build_generator(6, 32, conv_dim=8, repeat_num=1, output=output, conditioning="modulated",
                        upsample=upsample, skips=skips)
    for conv in (g.body[0], g.to_rgb):  # the label planes' share of the stem shows in every output head
        conv.kernel.assign(rng.normal(0, 0.2, conv.kernel.shape).astype("float32"))
    x = rng.uniform(-1, 1, (3, 32, 32, 3)).astype("float32")
    c = rng.uniform(0, 1, (3, 6)).astype("float32")
    inference = np.asarray(g((x, c), training=False))
    np.testing.assert_allclose(np.asarray(g((x, c), training=True)), inference, rtol=1e-4, atol=2e-5)
    assert np.abs(inference - np.asarray(g((x, c[::-1]), training=True))).max() > 1e-3


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_skips_concatenate_the_encoder_features_after_the_decoder_features(upsample):
    x = np.random.default_rng(7).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    c = np.eye(3, dtype="float32")[[0, 2]]
    plain = build_generator(3, 32, conv_dim=8, repeat_num=1, upsample=upsample)
    skips = build_generator(3, 32, conv_dim=8, repeat_num=1, upsample=upsample, skips=True)
    # up2 reads up1's 16 channels, then down1's 16; to_rgb reads up2's 8, then the stem's 8.
    # (A transposed convolution's kernel is [h, w, out, in].)
    in_axis = {"up2_conv": 3 if upsample == "transpose" else 2, "to_rgb": 2}
    assert skips.get_layer("up2_conv").kernel.shape[in_axis["up2_conv"]] == 32
    assert skips.get_layer("to_rgb").kernel.shape == (7, 7, 16, 3)
    weights = []
    for ours in skips.weights:  # in the same order as plain.weights
        value = np.asarray(ours)
        layer = ours.path.split("/")[-2]
        if layer in in_axis:
            decoder_half = np.split(value, 2, axis=in_axis[layer])[0]
            ours.assign(np.concatenate([decoder_half, np.zeros_like(decoder_half)], axis=in_axis[layer]))
            value = decoder_half
        weights.append(value)
    plain.set_weights(weights)
    # With the encoder halves of the two kernels zeroed, G is the paper's G with the decoder halves...
    np.testing.assert_allclose(np.asarray(skips((x, c))), np.asarray(plain((x, c))), atol=1e-5)
    # ... and the encoder halves do reach the output.
    kernel = np.array(skips.get_layer("to_rgb").kernel)
    kernel[:, :, 8:] = 0.01
    skips.get_layer("to_rgb").kernel.assign(kernel)
    assert np.abs(np.asarray(skips((x, c))) - np.asarray(plain((x, c)))).max() > 1e-3


def test_modulated_conditioning_adds_only_the_label_projections():
    # Per normalization: two Dense(label_dim -> C) with bias; 5 conv norms + 2 per residual block.
    plain = build_generator(5, 32, conv_dim=8, repeat_num=2).count_params()
    modulated = build_generator(5, 32, conv_dim=8, repeat_num=2, conditioning="modulated").count_params()
    channels = [8, 16, 32, 16, 8] + [32] * 4
    assert modulated - plain == sum(2 * (5 * c + c) for c in channels)


@pytest.mark.parametrize("output", ["image", "attention"])
def test_a_bf16_generator_translates_in_and_outside_training(output):
    from stargan_tf.distribute import precision_policy

    with precision_policy("bf16"):
        g = build_generator(4, 32, conv_dim=8, repeat_num=1, output=output, conditioning="modulated",
                            upsample="resize")
    x = np.random.default_rng(7).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    c = np.eye(4, dtype="float32")[[0, 3]]
    inference = g((x, c), training=False)  # eagerly, as the sample grids call the weight average
    training = keras.ops.convert_to_numpy(g((x, c), training=True))
    assert inference.dtype == "float32"
    np.testing.assert_allclose(np.asarray(inference), training, atol=0.05)  # bf16 rounds differently per path
