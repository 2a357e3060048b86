"""AlexNet (two towers, LRN, overlapping pooling, dropout 0.5) on ImageNet 2012, the paper's recipe
(Krizhevsky, Sutskever, Hinton 2012, section 5): 40.7% / 18.2% top-1 / top-5 validation error reported (1 CNN).

    cnnjax train --config experiments/configs/alexnet_imagenet.py --workdir runs/alexnet_imagenet --data-dir DIR

SGD, momentum 0.9, batch 128, weight decay 5e-4 (an L2 penalty on the kernels), lr 0.01 divided by 10 when
learning plateaus, ~90 epochs. The paper watched the validation error; here optax's reduce_on_plateau watches
the epoch's mean training loss (patience 2 epochs). Augmentation: random 227x227 crops of the 256x256 images
with horizontal flips, PCA colour noise (std 0.1); evaluation on the centre crop (the paper averaged 10 crops).
Needs ImageNet prepared with tfds (see `cnnjax.data.load_dataset`).
Tiny run: --config experiments/configs/alexnet_imagenet.py:runlocal
"""

from cnnjax.train.config import default_config, runlocal

ARGS = ("runlocal",)


def get_config(arg: str | None = None):
    config = default_config()
    config.model = "alexnet"
    config.dataset = "imagenet2012"
    config.num_epochs = 90
    config.eval_batch_size = 500
    config.optimizer.name = "momentum"
    config.optimizer.lr = 0.01
    config.optimizer.momentum = 0.9
    config.regularization.l2 = 5e-4
    config.schedule.name = "plateau"
    config.schedule.decay_factor = 0.1
    config.schedule.plateau_patience = 2
    config.augment.crop_size = 227
    config.augment.pca_jitter = 0.1
    config.checkpoint_every_steps = 5_000
    config.log_every_steps = 200
    return runlocal(config) if arg == "runlocal" else config
