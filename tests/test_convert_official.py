"""Importing reference PyTorch generator checkpoints: key layout, shape checks and output parity."""

import pickle
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from stargan_tf.convert_official import ConvertError, convert, main, read_state_dict  # noqa: E402


def instance_norm(dim):
    return nn.InstanceNorm2d(dim, affine=True, track_running_stats=True)


class TorchResidualBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False), instance_norm(dim), nn.ReLU(),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False), instance_norm(dim),
        )

    def forward(self, x):
        return x + self.main(x)


class TorchGenerator(nn.Module):
    """The paper's Table 4 generator with the reference implementation's `main.<i>` key layout."""

    def __init__(self, conv_dim, c_dim, repeat_num):
        super().__init__()
        layers = [nn.Conv2d(3 + c_dim, conv_dim, 7, 1, 3, bias=False), instance_norm(conv_dim), nn.ReLU()]
        dim = conv_dim
        for _ in range(2):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False), instance_norm(dim * 2), nn.ReLU()]
            dim *= 2
        layers += [TorchResidualBlock(dim) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False), instance_norm(dim // 2), nn.ReLU()]
            dim //= 2
        layers += [nn.Conv2d(dim, 3, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x, c):
        c = c[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return self.main(torch.cat([x, c], dim=1))


def random_generator(conv_dim, c_dim, repeat_num, seed=0):
    torch.manual_seed(seed)
    model = TorchGenerator(conv_dim, c_dim, repeat_num)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.InstanceNorm2d):
                # Nonzero affine parameters and running stats far from the instance statistics,
                # so using the buffers by mistake would show.
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.3)
                module.running_mean.normal_(0.0, 2.0)
                module.running_var.uniform_(3.0, 5.0)
                module.num_batches_tracked.fill_(200_000)
    return model.train()  # the reference never calls G.eval(): per-sample statistics


def write_checkpoint(tmp_path, conv_dim, c_dim, repeat_num, name="200000-G.ckpt"):
    model = random_generator(conv_dim, c_dim, repeat_num)
    path = tmp_path / name
    torch.save(model.state_dict(), path)
    return model, path


@pytest.mark.parametrize("dataset,c_dim", [("celeba", 5), ("rafd", 8), ("joint", 15)])
def test_outputs_match_pytorch(tmp_path, dataset, c_dim):
    from stargan_tf.translate import Translator

    model, path = write_checkpoint(tmp_path, conv_dim=4, c_dim=c_dim, repeat_num=2)
    run_dir = convert(path, tmp_path / "run", dataset=dataset, image_size=32)
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
    c = rng.uniform(0, 1, (2, c_dim)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x), torch.from_numpy(c)).numpy().transpose(0, 2, 3, 1)
        in_eval = model.eval()(torch.from_numpy(x), torch.from_numpy(c)).numpy().transpose(0, 2, 3, 1)
    translator = Translator.from_run_dir(run_dir)
    assert translator.image_size == 32
    assert translator.layout.label_dim == c_dim
    got = np.asarray(translator.generator((x.transpose(0, 2, 3, 1), c), training=False))
    assert np.abs(got - expected).max() < 1e-4
    assert np.abs(got - in_eval).max() > 1e-2  # the running buffers really were ignored


def test_converted_run_dir_translates_by_name(tmp_path):
    from stargan_tf.translate import Translator

    _, path = write_checkpoint(tmp_path, conv_dim=4, c_dim=15, repeat_num=1)
    run_dir = convert(path, tmp_path / "run", dataset="joint", image_size=32)
    translator = Translator.from_run_dir(run_dir)
    assert translator.layout.domain_names[:5] == ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
    assert translator.layout.domain_names[5:] == ("angry", "contemptuous", "disgusted", "fearful", "happy",
                                                  "neutral", "sad", "surprised")
    photo = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    out = translator.translate(photo, "happy")
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8


def test_cli_converts_and_rejects_a_mismatched_dataset(tmp_path, capsys):
    _, path = write_checkpoint(tmp_path, conv_dim=4, c_dim=5, repeat_num=1)
    assert main(["--generator", str(path), "--dataset", "rafd", "--image-size", "32", "--out",
                 str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the checkpoint takes 5 labels") and err.count("\n") == 1
    assert main(["--generator", str(path), "--attrs", "Blond_Hair,Male", "--image-size", "32",
                 "--out", str(tmp_path / "bad")]) == 2
    assert "takes 5 labels" in capsys.readouterr().err
    assert main(["--generator", str(path), "--attrs", "Black_Hair,Blond_Hair,Brown_Hair,Male,Young",
                 "--image-size", "32", "--out", str(tmp_path / "ok")]) == 0
    assert {p.name for p in (tmp_path / "ok").iterdir()} == {"config.yaml", "labels.json", "generator.keras"}
    # An existing, non-empty output is never overwritten.
    assert main(["--generator", str(path), "--image-size", "32", "--out", str(tmp_path / "ok")]) == 2


def test_rejects_files_that_are_not_generator_checkpoints(tmp_path, capsys):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"\x00\x01 definitely not a checkpoint")
    assert main(["--generator", str(garbage), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a PyTorch checkpoint" in err and err.count("\n") == 1

    # A pickled object (arbitrary code on load) is refused by weights_only loading.
    evil = tmp_path / "object.ckpt"
    with open(evil, "wb") as handle:
        pickle.dump(ConvertError("not a tensor"), handle, protocol=2)
    with pytest.raises(ConvertError, match="holds Python objects besides tensors"):
        read_state_dict(evil)
    torch.save({"weights": [1, 2, 3]}, tmp_path / "list.ckpt")
    with pytest.raises(ConvertError, match="not a PyTorch state_dict"):
        read_state_dict(tmp_path / "list.ckpt")

    # A discriminator checkpoint (D convs have biases, no main.0 7x7) is told apart.
    d_state = {"main.0.weight": torch.zeros(64, 3, 4, 4), "main.0.bias": torch.zeros(64)}
    torch.save(d_state, tmp_path / "200000-D.ckpt")
    with pytest.raises(ConvertError, match="not a StarGAN generator"):
        convert(tmp_path / "200000-D.ckpt", tmp_path / "b")

    _, path = write_checkpoint(tmp_path, conv_dim=4, c_dim=5, repeat_num=1)
    state = torch.load(path, weights_only=True)
    del state["main.9.main.3.weight"]
    torch.save(state, tmp_path / "partial.ckpt")
    with pytest.raises(ConvertError, match=r"main\.9\.main\.3\.weight is missing"):
        convert(tmp_path / "partial.ckpt", tmp_path / "c")
    assert main(["--generator", str(tmp_path / "missing.ckpt"), "--out", str(tmp_path / "d")]) == 2


def test_missing_torch_gives_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConvertError, match=r"pip install \.\[convert\]"):
        read_state_dict(tmp_path / "x.ckpt")
