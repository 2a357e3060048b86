"""VGG (Simonyan & Zisserman 2014) on ImageNet 2012 with scale jittering, the paper's recipe; configuration D
(VGG-16) by default, the others as the argument: vgg.py:vgg11 | vgg13 | vgg16 | vgg19 (A, B, D, E). Published
(the paper, Tables 3 and 7): D single-scale 27.0 / 8.8 top-1 / top-5 validation error, 25.6 / 8.1 when trained
with scale jitter; the ILSVRC-2014 submission 7.3 test top-5.

    cnnjax train --config experiments/imagenet/vgg.py --data-dir DIR --workdir runs/vgg16_imagenet
    cnnjax train --config experiments/imagenet/vgg.py:vgg19 --data-dir DIR --workdir runs/vgg19_imagenet
    # one 8-GPU host: the same lines (batch 256 sharded over the GPUs, 32 each)
    # TPU pod slice, on every host (gcloud compute tpus tpu-vm ssh TPU --worker=all --command "..."):
    cnnjax train --config experiments/imagenet/vgg.py --data-dir DIR --workdir SHARED/vgg16_imagenet \
        --coordinator-address auto
    cnnjax train --config experiments/imagenet/vgg.py:vgg16,runlocal --data-dir DIR   # 8 steps, a smoke test

DIR: imagenet2012 prepared by tfds (imagenet_common.py). Recipe (section 3.1): SGD, batch 256, momentum 0.9, weight
decay 5e-4 (L2), dropout 0.5 in the first two fc layers, lr 0.01 divided by 10 when the validation accuracy stopped
improving (three times; here: the error on 25,000 held-out training images, patience 2 epochs, at most three times;
the ILSVRC validation images are evaluated at the end), 370K iterations (74 epochs). Input: the mean RGB value
subtracted from each pixel, nothing else (section 2.1; config.input_scaling='raw_mean'). Initialisation: the paper
trained configuration A from N(0, 0.01) and started the deeper nets from it, then noted that Glorot & Bengio's
initialisation needs no pre-training: the model's weight_init='glorot'. Training scale S ~ U[256, 512] (multi-scale
training), a random 224 x 224 crop, a horizontal flip, AlexNet's RGB colour shift (PCA noise, std 0.1). The images are
read at shorter side 512, the centre 512 x 512 square kept (config.image_size), so every S is a downsampled window of
the full-resolution square (the paper rescaled the whole image: the margins outside the square are not seen).
Evaluation (section 3.2, multi-scale): Q in {256, 384, 512}, the centre crop and its reflection at each, softmax
averaged over the 6 views (a subset of the paper's dense and 150-crop evaluations, which average more views). The
paper initialised the deeper nets from configuration A; this recipe starts every one from the model's init.
"""

from imagenet_common import args, base, finish, parse, plateau_on_validation_error

VARIANTS = ("vgg11", "vgg13", "vgg16", "vgg19")
ARGS = args(VARIANTS)


def get_config(arg: str | None = None):
    model, local = parse(arg, "vgg16")
    config = base(model)
    config.num_epochs = 74
    config.batch_size = 256
    config.optimizer.lr = 0.01
    config.regularization.l2 = 5e-4
    plateau_on_validation_error(config, patience=2, reductions=3)
    config.input_scaling = "raw_mean"
    config.model_options.weight_init = "glorot"
    config.augment.crop_size = 224
    config.augment.scale_min = 256
    config.augment.scale_max = 512
    config.image_size = 512  # read at the largest training scale: S < 512 downsamples, nothing is upsampled
    config.augment.pca_jitter = 0.1
    config.eval_crops = "center_flip"
    config.eval_views_per_pass = 1  # 256 images at a time: 21 GiB, all 6 views 28 GiB (eval_memory.py)
    config.eval_scales = [256, 384, 512]
    return finish(config, local)
