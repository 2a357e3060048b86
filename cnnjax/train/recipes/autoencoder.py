"""The convolutional autoencoder on Fashion-MNIST: reconstruction with the l2 loss, 10 epochs.

    cnnjax train --model autoencoder --dataset fashion_mnist --loss l2

The target is the input image scaled to [0, 1] (the model ends in a sigmoid); the loss is the squared error
summed over each image's pixels (`functional.l2_loss`), the test metrics are the mean squared error per pixel
(`test_mse`, the last line) and the PSNR. Adam lr 1e-3, warm-up over the first tenth of the run, cosine decay.
Tiny run: --config cnnjax/train/recipes/autoencoder.py:runlocal
"""

from cnnjax.train.config import default_config, runlocal

ARGS = ("runlocal",)


def get_config(arg: str | None = None):
    config = default_config()
    config.model = "autoencoder"
    config.loss = "l2"
    config.num_epochs = 10
    config.optimizer.name = "adam"
    config.optimizer.lr = 1e-3
    config.schedule.name = "cosine"
    config.schedule.warmup_fraction = 0.1
    return runlocal(config) if arg == "runlocal" else config
