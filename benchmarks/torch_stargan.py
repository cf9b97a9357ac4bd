"""A PyTorch StarGAN built from the paper's appendix (Tables 4 and 5), for side-by-side timing.

Same shapes, parameter counts and loss terms as `stargan_tf`: G = 8,430,528
parameters and D = 44,762,048 at 128x128 with 5 labels. NCHW, PyTorch's default layout.
Requires the optional `torch` dependency (`pip install -e .[bench]`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


def _conv_in_relu(cin: int, cout: int, kernel: int, stride: int, padding: int, transpose: bool = False) -> list:
    conv = nn.ConvTranspose2d if transpose else nn.Conv2d
    return [conv(cin, cout, kernel, stride, padding, bias=False),
            nn.InstanceNorm2d(cout, affine=True, track_running_stats=False), nn.ReLU(inplace=True)]


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv_in_relu(channels, channels, 3, 1, 1),
                                  nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
                                  nn.InstanceNorm2d(channels, affine=True, track_running_stats=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    """Table 4: 7x7 stem, two stride-2 down-samplings, residual blocks, two transposed up-samplings."""

    def __init__(self, label_dim: int, conv_dim: int = 64, repeat_num: int = 6) -> None:
        super().__init__()
        layers = _conv_in_relu(3 + label_dim, conv_dim, 7, 1, 3)
        layers += _conv_in_relu(conv_dim, conv_dim * 2, 4, 2, 1) + _conv_in_relu(conv_dim * 2, conv_dim * 4, 4, 2, 1)
        layers += [ResidualBlock(conv_dim * 4) for _ in range(repeat_num)]
        layers += _conv_in_relu(conv_dim * 4, conv_dim * 2, 4, 2, 1, transpose=True)
        layers += _conv_in_relu(conv_dim * 2, conv_dim, 4, 2, 1, transpose=True)
        layers += [nn.Conv2d(conv_dim, 3, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        planes = c[:, :, None, None].expand(-1, -1, x.size(2), x.size(3))
        return self.main(torch.cat([x, planes], dim=1))


class Discriminator(nn.Module):
    """Table 5: stride-2 4x4 convolutions with LeakyReLU(0.01), a 3x3 PatchGAN head and a classifier head."""

    def __init__(self, image_size: int, num_domains: int, conv_dim: int = 64, repeat_num: int = 6) -> None:
        super().__init__()
        layers, cin = [], 3
        for i in range(repeat_num):
            layers += [nn.Conv2d(cin, conv_dim * 2**i, 4, 2, 1), nn.LeakyReLU(0.01)]
            cin = conv_dim * 2**i
        self.main = nn.Sequential(*layers)
        self.src = nn.Conv2d(cin, 1, 3, 1, 1, bias=False)
        self.cls = nn.Conv2d(cin, num_domains, image_size // 2**repeat_num, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.main(x)
        return self.src(h), self.cls(h).flatten(1)


class TorchStarGAN:
    """The reference training iteration: a D update with gradient penalty; a G update every n_critic."""

    def __init__(self, image_size: int = 128, label_dim: int = 5, lr: float = 1e-4, device: str = "cpu") -> None:
        self.G = Generator(label_dim).to(device)
        self.D = Discriminator(image_size, label_dim).to(device)
        self.g_opt = torch.optim.Adam(self.G.parameters(), lr, betas=(0.5, 0.999))
        self.d_opt = torch.optim.Adam(self.D.parameters(), lr, betas=(0.5, 0.999))

    @staticmethod
    def _cls_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / logits.size(0)

    def d_step(self, x: torch.Tensor, c_org: torch.Tensor, c_trg: torch.Tensor) -> float:
        src_real, cls_real = self.D(x)
        with torch.no_grad():
            x_fake = self.G(x, c_trg)
        src_fake, _ = self.D(x_fake)
        alpha = torch.rand(x.size(0), 1, 1, 1, device=x.device)
        x_hat = (alpha * x + (1 - alpha) * x_fake).requires_grad_(True)
        src_hat, _ = self.D(x_hat)
        grad = torch.autograd.grad(src_hat.sum(), x_hat, create_graph=True)[0].flatten(1)
        gp = ((grad.norm(2, dim=1) - 1) ** 2).mean()
        loss = src_fake.mean() - src_real.mean() + self._cls_loss(cls_real, c_org) + 10.0 * gp
        self.d_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.d_opt.step()
        return float(loss)

    def g_step(self, x: torch.Tensor, c_org: torch.Tensor, c_trg: torch.Tensor) -> float:
        x_fake = self.G(x, c_trg)
        src_fake, cls_fake = self.D(x_fake)
        x_rec = self.G(x_fake, c_org)
        loss = -src_fake.mean() + self._cls_loss(cls_fake, c_trg) + 10.0 * (x - x_rec).abs().mean()
        self.g_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.g_opt.step()
        return float(loss)
