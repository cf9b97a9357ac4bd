import pytest

from stargan_tf.config import Config, ConfigError, load_config, save_config
from tests.conftest import ROOT


@pytest.mark.parametrize("name", ["celeba", "rafd", "synthetic", "tiny"])
def test_shipped_configs_load(name):
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    assert isinstance(config, Config)


def test_celeba_config_has_the_paper_hyper_parameters():
    c = load_config(ROOT / "configs" / "celeba.yaml")
    assert (c.model.image_size, c.model.g_conv_dim, c.model.g_repeat_num, c.model.d_repeat_num) == (128, 64, 6, 6)
    assert (c.loss.lambda_cls, c.loss.lambda_rec, c.loss.lambda_gp) == (1.0, 10.0, 10.0)
    assert (c.train.batch_size, c.train.n_critic, c.train.g_lr, c.train.d_lr) == (16, 5, 1e-4, 1e-4)
    assert (c.train.beta1, c.train.beta2) == (0.5, 0.999)
    # 200,000 D iterations with decay over the last 100,000, at n_critic 5.
    assert c.train.num_steps * c.train.n_critic == 200_000
    assert c.train.decay_steps * c.train.n_critic == 100_000


def test_overrides_are_typed():
    c = load_config(None, ["model.g_conv_dim=32", "train.g_lr=2e-4", "data.attributes=Male,Young"])
    assert c.model.g_conv_dim == 32 and c.train.g_lr == 2e-4 and c.data.attributes == ["Male", "Young"]
    assert load_config(None, ["data.dataset_steps=1,3"]).data.dataset_steps == [1, 3]


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.g_conv_dims=32", "unknown config key model.g_conv_dims"),
        ("modle.image_size=64", "unknown config key modle"),
        ("model.g_conv_dim=wide", "model.g_conv_dim must be an integer"),
        ("train.jit_compile=3", "must be true or false"),
        ("model.image_size=100", "divisible"),
        ("train.decay_steps=999999", "train.decay_steps"),
        ("model.g_output=flow", "g_output"),
        ("loss.lambda_mask=1", "attention mask of model.g_output=attention"),
        ("loss.lambda_mask_tv=-1", "lambda_mask_tv"),
        ("model.g_upsample=bilinear", "g_upsample"),
        ("loss.lambda_id=-1", "lambda_id"),
        ("loss.lambda_cls_real=-2", "lambda_cls_real"),
        ("model.d_stem_dim=-1", "d_stem_dim"),
        ("model.d_init=zeros", "d_init"),
        ("model.d_cls_trunk=maybe", "model.d_cls_trunk must be true or false"),
        ("loss.lambda_cls_gp=-1", "lambda_cls_gp"),
        ("loss.lambda_cls_fake=-1", "lambda_cls_fake"),
        ("data.dataset_steps=1,0", "two step counts >= 1"),
        ("data.dataset_steps=2", "data.dataset_steps must be a list"),
        ("data.dataset_steps=1,x", r"data.dataset_steps\[1\] must be an integer"),
        ("train.g_ema_decay=1.0", "g_ema_decay"),
        ("train.d_translation=0.5", "d_translation"),
        ("train.n_critic=0", "n_critic"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_translation_and_replica_invariant_steps_exclude_each_other():
    with pytest.raises(ConfigError, match="cannot be combined with train.replica_invariant"):
        load_config(None, ["train.d_translation=0.1", "train.replica_invariant=true"])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_saved_config_loads_back(tmp_path):
    c = load_config(None, ["model.image_size=64", "model.d_repeat_num=5"])
    save_config(c, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == c
