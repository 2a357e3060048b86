"""LeNet-5 (modern: conv 6@5x5 pad 2, max-pool, conv 16@5x5, max-pool, 120, 84, 10, ReLU) on Fashion-MNIST.

    cnnjax train --config experiments/configs/lenet5_fashion_mnist.py --workdir runs/lenet5_fashion_mnist

The default recipe, spelled out: AdamW, warm-up then cosine decay, label smoothing, no augmentation (random
2-pixel shifts cost ~0.6 points here: LeNet-5 underfits in 10 epochs).
Tiny run (seconds): --config experiments/configs/lenet5_fashion_mnist.py:runlocal
"""

from cnnjax.train.config import default_config, runlocal


def get_config(arg: str | None = None):
    config = default_config()
    config.model = "lenet5"
    config.dataset = "fashion_mnist"
    config.num_epochs = 10
    config.batch_size = 128
    config.optimizer.name = "adamw"
    config.optimizer.lr = 3e-3
    config.optimizer.weight_decay = 5e-4
    config.schedule.name = "cosine"
    config.schedule.warmup_epochs = 1.0
    config.label_smoothing = 0.1
    config.augment.crop_padding = 0
    return runlocal(config) if arg == "runlocal" else config
