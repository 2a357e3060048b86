"""ResNet-20 on CIFAR-10, the paper's recipe (He et al. 2015, section 4.2): 8.75% test error reported.

    cnnjax train --config experiments/configs/resnet20_cifar10.py --workdir runs/resnet20_cifar10

SGD, momentum 0.9, batch 128, lr 0.1 divided by 10 at 32k and 48k iterations, stop at 64k iterations, weight
decay 1e-4 (an L2 penalty 1/2 * 1e-4 * ||W||^2 on the kernels; the paper's 45k/5k train/val split is not
made: all 50k training images are used), 4-pixel padding + random 32x32 crops + horizontal flips, per-channel
normalisation. Needs CIFAR-10 prepared with tfds (see `cnnjax.data.load_dataset`); --data-dir DIR.
Tiny run: --config experiments/configs/resnet20_cifar10.py:runlocal
"""

from cnnjax.train.config import default_config, runlocal

ARGS = ("runlocal",)


def get_config(arg: str | None = None):
    config = default_config()
    config.model = "resnet20"
    config.dataset = "cifar10"
    config.num_steps = 64_000
    config.optimizer.name = "momentum"
    config.optimizer.lr = 0.1
    config.optimizer.momentum = 0.9
    config.regularization.l2 = 1e-4
    config.schedule.name = "step"
    config.schedule.decay_steps = [32_000, 48_000]
    config.schedule.decay_factor = 0.1
    config.augment.crop_padding = 4
    config.augment.flip = True
    config.eval_every_epochs = 10
    config.checkpoint_every_steps = 2_000
    return runlocal(config) if arg == "runlocal" else config
