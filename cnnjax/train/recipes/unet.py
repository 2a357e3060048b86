"""The U-Net on a segmentation task built from Fashion-MNIST: each pixel is background (0) or its object's class
(1 + label) where the image is brighter than `tasks.FOREGROUND_THRESHOLD`: 11 classes per pixel.

    cnnjax train --model unet --dataset fashion_mnist

Segmentation rather than denoising because it is what the U-Net was made for (per-pixel classes, the paper's
task) and because the targets follow from the data exactly (no noise model to choose). The 28x28 images are
zero-padded to 32x32 (`pad_to`): the U-Net's four 2x2 poolings need sides divisible by 16, zero is Fashion-MNIST's
background, so the padding adds background pixels only and the model stays the paper's, unchanged (cropping or
resizing would cut objects or change their pixels). The loss is the per-pixel cross-entropy; the test metrics are
the mean IoU over the 11 classes (the last line) and the pixel accuracy. Adam lr 1e-3, warm-up over the first
tenth of the run, cosine decay, batch 32, 1 epoch. The widths are a quarter of the paper's (16..256, 1.9M
parameters instead of 31M): the full U-Net trains at ~1 image/s on a 2-core CPU; --config.model_options.features
='(64, 128, 256, 512, 1024)' restores them.
Tiny run: --config cnnjax/train/recipes/unet.py:runlocal
"""

from cnnjax.train.config import default_config, runlocal

ARGS = ("runlocal",)


def get_config(arg: str | None = None):
    config = default_config()
    config.model = "unet"
    config.model_options.features = (16, 32, 64, 128, 256)
    config.pad_to = 32
    config.num_epochs = 1
    config.batch_size = 32
    config.eval_batch_size = 500
    config.optimizer.name = "adam"
    config.optimizer.lr = 1e-3
    config.schedule.name = "cosine"
    config.schedule.warmup_fraction = 0.1
    return runlocal(config) if arg == "runlocal" else config
