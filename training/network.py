"""The copy descriptor's network (PyTorch, for training only; the engine runs its ONNX export)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DIMENSIONS = 128  # ``indexes.copy_embedding.DIMENSIONS``


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CopyNet(nn.Module):
    """Seven 3 x 3 convolutions (four of stride 2: 96 px in, 6 x 6 out), generalised-mean pooling
    with a learned exponent, a linear layer; ``forward`` L2-normalises, ``Exported`` does not."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _block(3, 24, 2), _block(24, 48, 2), _block(48, 48, 1), _block(48, 96, 2),
            _block(96, 96, 1), _block(96, 192, 2), _block(192, 192, 1),
        )  # fmt: skip
        self.p = nn.Parameter(torch.tensor(3.0))
        self.fc = nn.Linear(192, DIMENSIONS)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        return self.fc(f.clamp(min=1e-6).pow(self.p).mean(dim=(2, 3)).pow(1 / self.p))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.raw(x), dim=1)


class Exported(nn.Module):
    """What the ONNX file holds: the unnormalised descriptor (the engine normalises in numpy, which
    keeps the graph to operators every OpenCV DNN release reads)."""

    def __init__(self, net: CopyNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.raw(x)


def to_tensor(views: list[np.ndarray]) -> torch.Tensor:
    """RGB uint8 views as a normalised batch, as ``indexes.copy_embedding`` feeds the export."""
    x = torch.from_numpy(np.stack(views)).permute(0, 3, 1, 2).float() / 255
    return (x - 0.5) / 0.25
