"""The PyTorch twins of cnnjax's benchmark models (run under .venv-torch; `benchmarks/run.py` asserts equal
parameter counts): LeNet-5 (modern), CIFAR ResNet-20 (option A shortcuts, akamaster's layout) and torchvision's
ResNet-50 (v1.5, the layout cnnjax mirrors). Inputs NCHW."""

from __future__ import annotations

import sys
import types

import torch
from torch import nn
from torch.nn import functional as F


class LeNet5(nn.Module):
    """conv 6@5x5 (pad 2) - max pool - conv 16@5x5 - max pool - 120 - 84 - classes, ReLU (cnnjax `lenet5`)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class BasicBlock(nn.Module):
    """3x3 conv - BN - ReLU - 3x3 conv - BN, plus the option A shortcut (subsample, zero-pad channels), ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride, self.extra = stride, planes - in_planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.stride != 1 or self.extra:
            x = x[:, :, :: self.stride, :: self.stride]
            x = F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return F.relu(y + x)


class ResNet20(nn.Module):
    """CIFAR ResNet-20 (He et al. section 4.2, n = 3): 3x3 stem, stages of 16-32-64, global average pool, fc."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, n: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, planes = [], 16
        for i, width in enumerate((16, 32, 64)):
            for j in range(n):
                blocks.append(BasicBlock(planes, width, 2 if i > 0 and j == 0 else 1))
                planes = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet50(in_channels: int = 3, num_classes: int = 1000) -> nn.Module:
    """torchvision's resnet50 (v1.5). The CPU torch build lacks torchvision's compiled ops (`torchvision::nms`)
    whose registrations run at import: a stand-in `torchvision._meta_registrations` skips them (as in
    experiments/torchvision_parity.py)."""
    if in_channels != 3:
        raise ValueError(f"in_channels: expected 3 for resnet50, got {in_channels!r}")
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    from torchvision import models

    return models.resnet50(num_classes=num_classes)


MODELS = {"lenet5": LeNet5, "resnet20": ResNet20, "resnet50": resnet50}
