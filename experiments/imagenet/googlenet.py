"""GoogLeNet (Szegedy et al. 2014: the paper's layout, 5x5 branches, no BN, two auxiliary classifiers whose losses
weigh 0.3) on ImageNet 2012. Published (the paper, Table 3): top-5 validation error 10.07 for 1 model and 1 crop (what
this config's centre-crop evaluation measures), 6.67 for 7 models and 144 crops each.

    cnnjax train --config experiments/imagenet/googlenet.py --data-dir DIR --workdir runs/googlenet_imagenet
    # one 8-GPU host: the same line (batch 256 sharded over the GPUs, 32 each)
    # TPU pod slice, on every host (gcloud compute tpus tpu-vm ssh TPU --worker=all --command "..."):
    cnnjax train --config experiments/imagenet/googlenet.py --data-dir DIR --workdir SHARED/googlenet_imagenet \
        --coordinator-address auto
    cnnjax train --config experiments/imagenet/googlenet.py:runlocal --data-dir DIR   # 8 steps, a smoke test

DIR: imagenet2012 prepared by tfds (imagenet_common.py). Recipe (section 6): SGD with momentum 0.9; the paper's lr
"decreased by 4% every 8 epochs" belongs to its long asynchronous run (0.96 ** (60 / 8) leaves 75% of the rate after
60 epochs), so this 60-epoch run takes the schedule of BVLC's 60-epoch solver: polynomial decay to 0 with power 0.5
(11.1% top-5 there); Polyak averaging of the weights, which the paper used for the final model: config.ema_decay =
0.9999 per step (an average over the last ~10,000 steps, two epochs), evaluated. Inception crops: patches of 8% to
100% of the image area with aspect ratio in [3/4, 4/3], resized to 224 (config.augment.inception_crop), horizontal
flips, and Howard's photometric distortions (config.augment.color_jitter=0.4: brightness, contrast and saturation
each scaled by U[0.6, 1.4], a strength the paper does not give). The paper gives neither batch, initial lr, weight
decay nor length (it trained asynchronously on a CPU cluster): taken from BVLC's Caffe reproduction of it
(bvlc_googlenet: base lr 0.01, weight decay 2e-4, 60 epochs = 2.4M iterations of batch 32) with batch 256 and the lr
scaled linearly to 0.08 (Goyal et al. 2017). The paper's dropout (0.4 before the classifier, 0.7 in the auxiliary
heads) is the model's.
"""

from imagenet_common import args, base, finish, parse

ARGS = args()


def get_config(arg: str | None = None):
    _, local = parse(arg, "googlenet")
    config = base("googlenet")
    config.model_options.aux_logits = True
    config.num_epochs = 60
    config.batch_size = 256
    config.optimizer.lr = 0.08
    config.regularization.l2 = 2e-4
    config.schedule.name = "polynomial"
    config.schedule.power = 0.5
    config.ema_decay = 0.9999
    config.augment.crop_size = 224
    config.augment.inception_crop = True
    config.augment.flip = True
    config.augment.color_jitter = 0.4
    return finish(config, local)
