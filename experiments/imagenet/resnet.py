"""ResNet (He, Zhang, Ren, Sun 2015) on ImageNet 2012, the paper's recipe: ResNet-50 by default, the others as the
argument: resnet.py:resnet18 | resnet34 | resnet50 | resnet101 | resnet152, all the paper's v1 (the stride of a
downsampling bottleneck on its first 1x1 conv), with projection shortcuts where the shape changes (the paper's
option B, the model's default). Published (the paper, Tables 3 and 5), 10-crop validation top-1 / top-5, option B:
ResNet-34 24.52 / 7.46 (24.19 / 7.40 is its option C, projections everywhere), ResNet-50 22.85 / 6.71, ResNet-101
21.75 / 6.05, ResNet-152 21.43 / 5.71; the ensemble's test top-5 3.57.

    cnnjax train --config experiments/imagenet/resnet.py --data-dir DIR --workdir runs/resnet50_imagenet
    cnnjax train --config experiments/imagenet/resnet.py:resnet101 --data-dir DIR --workdir runs/resnet101_imagenet
    # one 8-GPU host: the same lines (batch 256 sharded over the GPUs, 32 each)
    # TPU pod slice, on every host (gcloud compute tpus tpu-vm ssh TPU --worker=all --command "..."):
    cnnjax train --config experiments/imagenet/resnet.py --data-dir DIR --workdir SHARED/resnet50_imagenet \
        --coordinator-address auto
    cnnjax train --config experiments/imagenet/resnet.py:resnet50,runlocal --data-dir DIR   # 8 steps, a smoke test

DIR: imagenet2012 prepared by tfds (imagenet_common.py). Recipe (section 3.4): shorter side S ~ U[256, 480] (scale
augmentation), a random 224 x 224 crop or its horizontal flip, AlexNet's colour augmentation (PCA noise, std 0.1), BN
after every conv (the model's), He init, SGD with batch 256, momentum 0.9, weight decay 1e-4, no dropout, lr 0.1
divided by 10 when the error plateaus (the paper does not say which error; here: the error on 25,000 held-out training
images, patience 3 epochs, no cap), up to 60 x 10^4 iterations (120 epochs). The images are read at shorter side 480
(centre square, config.image_size; see vgg.py). The weight decay is an L2 penalty on the kernels only (no BN scales,
no biases). Evaluation: the paper's 10-crop testing (config.eval_crops='ten', of the image at shorter side 256); its
best single-model figures use fully-convolutional multi-scale testing, which the library does not have. For the step
schedule everyone uses now, see resnet_torchvision.py.
"""

from imagenet_common import args, base, finish, parse, plateau_on_validation_error

VARIANTS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
ARGS = args(VARIANTS)


def get_config(arg: str | None = None):
    model, local = parse(arg, "resnet50")
    config = base(model)
    config.model_options.version = "v1"
    config.num_steps = 600_000
    config.batch_size = 256
    config.optimizer.lr = 0.1
    config.regularization.l2 = 1e-4
    plateau_on_validation_error(config, patience=3, reductions=0)
    config.augment.crop_size = 224
    config.augment.scale_min = 256
    config.augment.scale_max = 480
    config.image_size = 480  # read at the largest training scale: S < 480 downsamples, nothing is upsampled
    config.augment.pca_jitter = 0.1
    config.eval_crops = "ten"
    config.eval_scales = [256]  # AlexNet's ten crops: of the image at shorter side 256
    config.eval_views_per_pass = 2  # 2 x 256 images at a time: 12 GiB for ResNet-50, 19 for ResNet-152 (eval_memory.py)
    return finish(config, local)
