"""ZFNet (Zeiler & Fergus 2013: AlexNet with a 7x7/2 conv1 and a 5x5/2 conv2, dense conv3-5, 224 input) on
ImageNet 2012, the paper's recipe. Published (the paper, Table 2): 1 convnet 38.4 / 16.5 top-1 / top-5 validation
error; a 6-net ensemble 14.8 test top-5 (the 2013 winner, Clarifai, 11.7: Russakovsky et al. 2015).

    cnnjax train --config experiments/imagenet/zfnet.py --data-dir DIR --workdir runs/zfnet_imagenet
    # one 8-GPU host: the same line (batch 128 sharded over the GPUs, 16 each)
    # TPU pod slice, on every host (gcloud compute tpus tpu-vm ssh TPU --worker=all --command "..."):
    cnnjax train --config experiments/imagenet/zfnet.py --data-dir DIR --workdir SHARED/zfnet_imagenet \
        --coordinator-address auto
    cnnjax train --config experiments/imagenet/zfnet.py:runlocal --data-dir DIR   # 8 steps, a smoke test

DIR: imagenet2012 prepared by tfds (imagenet_common.py). Recipe (section 3): 256 x 256 centre squares, random 224 x
224 crops with horizontal flips, SGD with batch 128, lr 0.01, momentum 0.9, annealed by hand when the validation error
plateaus (here: /10 when the error on 25,000 held-out training images plateaus, patience 2 epochs, at most three
times, as alexnet.py), raw pixels minus the per-channel mean (config.input_scaling='raw_mean', as alexnet.py), dropout
0.5 in fc6/fc7, 70 epochs. Not stated by the paper, taken from AlexNet's (which it follows): weight decay 5e-4 and the
N(0, 0.01) init. Each conv filter whose RMS exceeds 0.1 is renormalised to it after every update (section 3,
config.regularization.filter_rms). Evaluation: ten crops, as AlexNet's.
"""

from imagenet_common import args, base, finish, parse, plateau_on_validation_error

ARGS = args()


def get_config(arg: str | None = None):
    _, local = parse(arg, "zfnet")
    config = base("zfnet")
    config.num_epochs = 70
    config.batch_size = 128
    config.optimizer.lr = 0.01
    config.regularization.l2 = 5e-4
    plateau_on_validation_error(config, patience=2, reductions=3)
    config.input_scaling = "raw_mean"
    config.regularization.filter_rms = 0.1
    config.augment.crop_size = 224
    config.eval_crops = "ten"
    return finish(config, local)
