"""ResNet v1.5 on ImageNet 2012 with torchvision's reference recipe (the one its IMAGENET1K_V1 weights were
trained with): ResNet-50 by default, the others as the argument: resnet_torchvision.py:resnet18 | resnet34 |
resnet50 | resnet101 | resnet152. v1.5 puts the stride of a downsampling bottleneck on its 3x3 conv. Published
figures of the paper's v1 (He et al. 2016, Table 3): ResNet-50 10-crop 22.85 / 6.71 top-1 / top-5 validation error;
torchvision's model card for these weights (single centre crop) gives ResNet-50 acc@1 76.130, acc@5 92.862,
i.e. 23.87 / 7.14 error.

    cnnjax train --config experiments/imagenet/resnet_torchvision.py --data-dir DIR --workdir runs/resnet50_tv
    # one 8-GPU host: the same line (torchvision's 8 x 32: batch 256 sharded over the GPUs, 32 each)
    # TPU pod slice, on every host (gcloud compute tpus tpu-vm ssh TPU --worker=all --command "..."):
    cnnjax train --config experiments/imagenet/resnet_torchvision.py --data-dir DIR --workdir SHARED/resnet50_tv \
        --coordinator-address auto
    cnnjax train --config experiments/imagenet/resnet_torchvision.py:runlocal --data-dir DIR   # a smoke test

DIR: imagenet2012 prepared by tfds (imagenet_common.py). Recipe (references/classification/train.py defaults):
SGD, momentum 0.9, batch 256, lr 0.1 divided by 10 every 30 epochs, 90 epochs, weight decay 1e-4 (torchvision
decays every parameter; here an L2 penalty on the kernels only), RandomResizedCrop(224) (area 8-100%, aspect
3/4-4/3) and a horizontal flip; evaluation: resize to 256, centre 224 crop (the stored 256 x 256 images,
centre-cropped).
"""

from imagenet_common import args, base, finish, parse

VARIANTS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
ARGS = args(VARIANTS)


def get_config(arg: str | None = None):
    model, local = parse(arg, "resnet50")
    config = base(model)
    config.model_options.version = "v1.5"
    config.num_epochs = 90
    config.batch_size = 256
    config.optimizer.lr = 0.1
    config.regularization.l2 = 1e-4
    config.schedule.name = "step"
    config.schedule.decay_epochs = [30, 60]
    config.schedule.decay_factor = 0.1
    config.augment.crop_size = 224
    config.augment.inception_crop = True
    config.augment.flip = True
    return finish(config, local)
