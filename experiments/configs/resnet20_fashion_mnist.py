"""ResNet-20 (CIFAR layout, 3x3 stem, option A shortcuts) on Fashion-MNIST 28x28x1.

    cnnjax train --config experiments/configs/resnet20_fashion_mnist.py --workdir runs/resnet20_fashion_mnist

SGD with Nesterov momentum 0.9, lr 0.1 with a 1-epoch warm-up and cosine decay over 30 epochs, L2 1e-4
(kernels only), random 2-pixel shifts and horizontal flips, batch 128.
Tiny run: --config experiments/configs/resnet20_fashion_mnist.py:runlocal
"""

from cnnjax.train.config import default_config, runlocal

ARGS = ("runlocal",)


def get_config(arg: str | None = None):
    config = default_config()
    config.model = "resnet20"
    config.num_epochs = 30
    config.optimizer.name = "nesterov"
    config.optimizer.lr = 0.1
    config.optimizer.momentum = 0.9
    config.regularization.l2 = 1e-4
    config.schedule.name = "cosine"
    config.schedule.warmup_epochs = 1.0  # 1 of 30 epochs
    config.augment.crop_padding = 2
    config.augment.flip = True
    return runlocal(config) if arg == "runlocal" else config
